"""WebSocket routes of the core.

The visitor socket skips the session middleware: widget visitors have no session with
us, and loading one would cost a thread hop per connect. Everything else is wrapped.
"""

from channels.auth import AuthMiddlewareStack
from django.urls import path

from kefu.consumers.agent import AgentConsumer
from kefu.consumers.visitor import VisitorConsumer

websocket_urlpatterns: list = [
    path("ws/visitor/", VisitorConsumer.as_asgi()),
    path("ws/agent/", AuthMiddlewareStack(AgentConsumer.as_asgi())),
]
