"""Writes of the core domain. Each service runs in one transaction and announces its
effects (socket events, domain signals, tasks) only after commit."""
