"""Baseline: the bare channel-layer relay with no Django, ORM or authorization in the path.

A socket at /echo/<pair>/ joins group `bench.<pair>`; every frame it receives goes to the
group, and each other member writes it out. The chat path minus the product.
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kefu.settings")

import django  # noqa: E402

django.setup()

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402


class EchoConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        self.group = f"bench.{self.scope['url_route']['kwargs']['pair']}"
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        await self.channel_layer.group_send(
            self.group, {"type": "bench.frame", "text": text_data, "sender": self.channel_name}
        )

    async def bench_frame(self, event: dict) -> None:
        if event["sender"] != self.channel_name:
            await self.send(text_data=event["text"])


application = ProtocolTypeRouter({"websocket": URLRouter([path("echo/<str:pair>/", EchoConsumer.as_asgi())])})
