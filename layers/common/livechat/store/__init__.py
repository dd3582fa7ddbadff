"""The only package that imports PynamoDB: the table and its items, every key and index,
every query, and the transaction primitive that commits a domain Change."""
