"""ASGI entry point: HTTP goes to Django, WebSockets to the consumers (kefu/routing.py).

Origin checks live in the consumers because they differ: the agent socket is same-origin
only, the visitor socket accepts the sites its tenant listed, which it knows after `hello`.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kefu.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from kefu.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter(websocket_urlpatterns),
    }
)
