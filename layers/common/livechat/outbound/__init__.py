"""AWS side effects other than the table: frames to WebSocket connections, the offer
workflow's executions, failure e-mails (SES) and their asynchronous hand-off."""
