"""WebSocket consumers of the live chat: visitors (widget) and agents (console)."""
