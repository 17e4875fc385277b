"""Group names and the one place that pushes real-time events through the channel layer.

The channel layer is a doorbell, not storage: a failed or dropped broadcast loses
nothing, because clients resume from the database by sequence number. So a broadcast
failure is logged and swallowed, never turned into a failed request.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from kefu import tracing

logger = logging.getLogger(__name__)

# The event loop of the ASGI server, when it runs in this process. Threads of the
# in-process task pool hop onto it, because the in-memory layer belongs to that loop.
_server_loop: asyncio.AbstractEventLoop | None = None
_lock = threading.Lock()


def bind_server_loop(loop: asyncio.AbstractEventLoop) -> None:
    global _server_loop
    with _lock:
        _server_loop = loop


def conversation_group(conversation_id: int) -> str:
    return f"kefu.conv.{conversation_id}"


def agent_group(agent_id: int) -> str:
    return f"kefu.agent.{agent_id}"


def inbox_group(tenant_id: int) -> str:
    return f"kefu.inbox.{tenant_id}"


def visitor_group(visitor_id: int) -> str:
    return f"kefu.visitor.{visitor_id}"


async def abroadcast(groups: Iterable[str], event: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    event.setdefault("trace_id", tracing.get_trace_id())
    for group in groups:
        try:
            await layer.group_send(group, event)
        except Exception:  # Redis down: clients resync from the database.
            logger.warning("broadcast to %s failed", group, exc_info=True)


def broadcast(groups: Iterable[str], event: dict[str, Any]) -> None:
    groups = list(groups)
    event.setdefault("trace_id", tracing.get_trace_id())
    loop = _server_loop
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if loop is not None and loop.is_running() and running is not loop:
        future = asyncio.run_coroutine_threadsafe(abroadcast(groups, event), loop)
        try:
            future.result(timeout=5)
        except Exception:
            logger.warning("broadcast via server loop failed", exc_info=True)
        return
    try:
        async_to_sync(abroadcast)(groups, event)
    except Exception:
        logger.warning("broadcast failed", exc_info=True)


def broadcast_on_commit(groups: Iterable[str], event: dict[str, Any]) -> None:
    groups = list(groups)
    event.setdefault("trace_id", tracing.get_trace_id())
    transaction.on_commit(lambda: broadcast(groups, event))
