"""WebSocket routes of the core.

The visitor socket skips the session middleware: widget visitors have no session with
us, and loading one would cost a thread hop per connect. Everything else is wrapped.
"""

from typing import Any

from channels.auth import AuthMiddlewareStack
from django.urls import path

from kefu.consumers.agent import AgentConsumer
from kefu.consumers.visitor import VisitorConsumer

# django-stubs types path() for views only; Channels' URLRouter takes ASGI applications
# in the same patterns (its documented usage), hence the two narrow ignores.
websocket_urlpatterns: list[Any] = [
    path("ws/visitor/", VisitorConsumer.as_asgi()),  # type: ignore[arg-type]
    path("ws/agent/", AuthMiddlewareStack(AgentConsumer.as_asgi())),  # type: ignore[arg-type]
]
