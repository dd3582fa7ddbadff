"""Lambda events <-> use cases: the WebSocket frame dispatcher and the protocol's models,
identity (tokens), visitor sessions, the workflow task payload and the hosted pages."""
