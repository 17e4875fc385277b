"""Group names and the one place that pushes real-time events through the channel layer.

The channel layer is a doorbell, not storage: a failed or dropped broadcast loses
nothing, because clients resume from the database by sequence number. So a broadcast
failure is logged and swallowed, never turned into a failed request.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
from collections.abc import Iterable
from typing import Any

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


def tenant_visitors_group(tenant_id: int) -> str:
    """Every visitor socket of a tenant: only for rare tenant-wide news (online flips, shutdown)."""
    return f"kefu.tvis.{tenant_id}"


def supervisors_group(tenant_id: int) -> str:
    """Owner and admin sockets of a tenant: they see every message live."""
    return f"kefu.sup.{tenant_id}"


def message_groups(*, tenant_id: int, conversation_id: int, assignee_id: int | None, status: str) -> list[str]:
    """Who hears of a new message, kept small: `group_send` costs one delivery per member.

    The conversation (visitor and watchers), its assignee's sockets and the supervisors.
    Only queue and bot conversations go to the whole inbox, where any agent may pick them up.
    """
    groups = [conversation_group(conversation_id), supervisors_group(tenant_id)]
    if assignee_id is not None and status == "assigned":
        groups.append(agent_group(assignee_id))
    else:
        groups.append(inbox_group(tenant_id))
    return groups


def stamp_event(event: dict[str, Any]) -> None:
    # One id per event, shared by all its groups: a socket in two of them (an agent's
    # inbox and a watched conversation) delivers it once.
    event.setdefault("trace_id", tracing.get_trace_id())
    event.setdefault("eid", secrets.token_hex(8))


async def abroadcast(groups: Iterable[str], event: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    stamp_event(event)
    for group in groups:
        try:
            await layer.group_send(group, event)
        except Exception:  # Redis down: clients resync from the database.
            logger.warning("broadcast to %s failed", group, exc_info=True)


async def apublish(groups: Iterable[str], event: dict[str, Any]) -> None:
    """Broadcast from any event loop: a worker's own loop, or the server's in embedded mode."""
    groups = list(groups)
    loop = _server_loop
    if loop is not None and loop.is_running() and asyncio.get_running_loop() is not loop:
        event.setdefault("trace_id", tracing.get_trace_id())
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(abroadcast(groups, event), loop))
        return
    await abroadcast(groups, event)


_background: asyncio.AbstractEventLoop | None = None


def _background_loop() -> asyncio.AbstractEventLoop:
    """A process-wide loop for broadcasts from threads when no server loop is bound
    (Celery workers, management commands): one loop and one set of Redis connections,
    not a new loop per call as async_to_sync would create."""
    global _background
    with _lock:
        if _background is None or _background.is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="kefu-events", daemon=True).start()
            _background = loop
        return _background


def _log_failure(future: Any) -> None:
    if not future.cancelled() and future.exception() is not None:
        logger.warning("broadcast failed", exc_info=future.exception())


def broadcast(groups: Iterable[str], event: dict[str, Any]) -> None:
    """Hand the event to an event loop and return at once.

    The caller (a database thread, a task) never waits for delivery: the database is the
    truth, clients order by sequence number, and waiting here made every writer queue
    behind the socket writes of the server loop.
    """
    groups = list(groups)
    stamp_event(event)
    server = _server_loop if _server_loop is not None and _server_loop.is_running() else None
    target = server or _background_loop()
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is target:
        running.create_task(abroadcast(groups, event)).add_done_callback(_log_failure)
        return
    asyncio.run_coroutine_threadsafe(abroadcast(groups, event), target).add_done_callback(_log_failure)


def broadcast_on_commit(groups: Iterable[str], event: dict[str, Any]) -> None:
    groups = list(groups)
    stamp_event(event)
    transaction.on_commit(lambda: broadcast(groups, event))
