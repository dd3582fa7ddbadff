"""Pure: conversation states, workspace models, rules, the routing plan and the state
transitions. Nothing here does I/O or imports AWS, PynamoDB or the runtime."""
