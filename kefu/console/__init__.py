"""The agent console: Django templates and static ES modules."""
