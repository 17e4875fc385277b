"""Helpers for live-chat tests: sockets through the real ASGI app, frames by type."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from kefu.asgi import application
from kefu.visitor_tokens import token_issue

SHOP = "http://shop.test"


def visitor_token(visitor: Any) -> str:
    return token_issue(tenant_id=visitor.tenant_id, visitor_id=visitor.pk)


def session_cookie(user: Any) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


async def open_visitor(
    token: str | None, *, origin: str = SHOP, last_seq: int | None = None, hello: bool = True
) -> tuple[WebsocketCommunicator, dict | None]:
    comm = WebsocketCommunicator(application, "/ws/visitor/", headers=[(b"origin", origin.encode())])
    connected, _ = await comm.connect(timeout=5)
    assert connected
    if not hello:
        return comm, None
    frame: dict[str, Any] = {"type": "hello", "v": 1, "token": token}
    if last_seq is not None:
        frame["last_seq"] = last_seq
    await comm.send_to(text_data=json.dumps(frame))
    first = await comm.receive_json_from(timeout=5)
    return comm, first


async def open_agent(user: Any, *, origin: str = "http://testserver") -> tuple[WebsocketCommunicator, bool, Any]:
    cookie = await sync_to_async(session_cookie)(user)
    comm = WebsocketCommunicator(
        application,
        "/ws/agent/",
        headers=[(b"origin", origin.encode()), (b"host", b"testserver"), (b"cookie", f"sessionid={cookie}".encode())],
    )
    connected, code = await comm.connect(timeout=5)
    return comm, connected, code


async def send(comm: WebsocketCommunicator, frame: dict[str, Any]) -> None:
    await comm.send_to(text_data=json.dumps(frame))


async def until(comm: WebsocketCommunicator, kind: str, timeout: float = 5, **match: Any) -> dict[str, Any]:
    """The next frame of a type (and matching fields), skipping others."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise AssertionError(f"no {kind} frame matching {match}")
        frame = await comm.receive_json_from(timeout=remaining)
        if frame.get("type") == kind and all(frame.get(k) == v for k, v in match.items()):
            return frame


async def drain(comm: WebsocketCommunicator, wait: float = 0.3) -> list[dict[str, Any]]:
    """Frames that arrive within `wait`; unlike a timed-out receive, this keeps the socket alive."""
    frames = []
    while not await comm.receive_nothing(timeout=wait):
        frames.append(await comm.receive_json_from(timeout=1))
    return frames


async def closed_with(comm: WebsocketCommunicator, timeout: float = 5) -> int:
    """Read until the close message; return its code."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        message = await comm.receive_output(timeout=max(0.01, deadline - loop.time()))
        if message["type"] == "websocket.close":
            return message.get("code", 1000)


async def collect(comm: WebsocketCommunicator, kinds: set[str], timeout: float = 5) -> dict[str, dict[str, Any]]:
    """The first frame of each type, whatever order they arrive in (acks and events race)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    found: dict[str, dict[str, Any]] = {}
    while set(found) != kinds:
        frame = await comm.receive_json_from(timeout=max(0.01, deadline - loop.time()))
        if frame.get("type") in kinds and frame["type"] not in found:
            found[frame["type"]] = frame
    return found
