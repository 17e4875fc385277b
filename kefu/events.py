"""Group names and the one place that pushes real-time events through the channel layer.

The channel layer is a doorbell, not storage: a failed or dropped broadcast loses
nothing, because clients resume from the database by sequence number. So a broadcast
failure is logged and swallowed, never turned into a failed request.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import secrets
import threading
import weakref
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import hiredis
from channels.layers import get_channel_layer
from django.db import transaction

from kefu import tracing
from kefu.batching import GroupCommit

if TYPE_CHECKING:
    from kefu.redis_pool import PublishConnection

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


def _new_event_ids() -> None:
    global _eid_prefix, _eid_counter
    _eid_prefix, _eid_counter = secrets.token_hex(6), itertools.count()


_eid_prefix, _eid_counter = "", itertools.count()
_new_event_ids()
os.register_at_fork(after_in_child=_new_event_ids)  # forked workers must not repeat their parent's ids


def stamp_event(event: dict[str, Any]) -> None:
    # One id per event, shared by all its groups: a socket in two of them (an agent's
    # inbox and a watched conversation) delivers it once. A random prefix per process and
    # a counter: unique without a system call per event (token_hex cost more than the
    # rest of the broadcast).
    event.setdefault("trace_id", tracing.get_trace_id())
    if "eid" not in event:
        event["eid"] = f"{_eid_prefix}{next(_eid_counter):x}"


class _PubSubPublisher:
    """Publishes the events of one event loop through the Redis pub/sub layer.

    `group_send` serializes the event again for every group and pays one locked round
    trip per group through redis-py, each with a task and a timer: three per chat
    message. Here an event is serialized once, and the groups of every event queued
    while a batch is in flight go out together in one write on a bare connection, with
    one deadline. The layer's own channel naming, serializer and sharding are used, so
    subscribers receive exactly what `group_send` would have published.
    """

    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self.loop_layer = layer._get_layer()
        self._connections: dict[int, PublishConnection] = {}
        self._batches: GroupCommit[tuple[list[str], dict[str, Any]], None] = GroupCommit(self._send)

    def enqueue(self, groups: list[str], event: dict[str, Any]) -> None:
        self._batches.submit_nowait((groups, event))

    async def publish(self, groups: list[str], event: dict[str, Any]) -> None:
        await self._batches.submit((groups, event))

    async def _send(self, batch: list[tuple[list[str], dict[str, Any]]]) -> list[None]:
        try:
            by_shard: dict[int, tuple[Any, list[tuple[str | bytes, ...]]]] = {}
            for groups, event in batch:
                payload = self.layer.serialize(event)
                for group in groups:
                    channel = self.loop_layer._get_group_channel_name(group)
                    shard = self.loop_layer._get_shard(channel)
                    by_shard.setdefault(id(shard), (shard, []))[1].append((b"PUBLISH", channel, payload))
            async with asyncio.timeout(PUBLISH_TIMEOUT):
                for shard, commands in by_shard.values():
                    await self._publish(shard, commands)
        except Exception:  # Redis down: clients resync from the database.
            logger.warning("broadcast of %d events failed", len(batch), exc_info=True)
        return [None] * len(batch)

    async def _publish(self, shard: Any, commands: list[tuple[str | bytes, ...]]) -> None:
        for attempt in (1, 2):
            conn = self._connections.get(id(shard))
            try:
                if conn is None or conn.lost:
                    from kefu.redis_pool import PublishConnection

                    conn = self._connections[id(shard)] = await PublishConnection.open(shard.host["address"])
                replies = await conn.call(commands)
            except asyncio.CancelledError:
                if conn is not None:
                    conn.close()  # replies may still come: a new batch must not read them
                raise
            except OSError:
                # A connection that Redis closed (a restart) may be noticed only when
                # used: the second attempt connects anew. Subscribers drop repeats by eid.
                if attempt == 2:
                    raise
                continue
            errors = [r for r in replies if isinstance(r, hiredis.ReplyError)]
            if errors:
                logger.warning("Redis refused %d of %d publishes: %s", len(errors), len(replies), str(errors[0])[:200])
            return


PUBLISH_TIMEOUT = 5.0  # redis-py's default socket timeout, for a whole batch
_publishers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[Any, _PubSubPublisher | None]] = (
    weakref.WeakKeyDictionary()
)


def _publisher(layer: Any) -> _PubSubPublisher | None:
    """The running loop's batched publisher for `layer`, or None where `group_send` is
    used: other layers (in memory, the list-based Redis layer), Redis addresses with TLS,
    sockets or extra options, a pub/sub layer whose internals changed."""
    loop = asyncio.get_running_loop()
    known = _publishers.get(loop)
    if known is not None and known[0] is layer:
        return known[1]
    publisher = None
    if type(layer).__name__ == "RedisPubSubChannelLayer":
        try:
            from kefu.redis_pool import PublishConnection

            publisher = _PubSubPublisher(layer)
            publisher.loop_layer._get_group_channel_name("probe")
            if not all(PublishConnection.is_supported(shard.host) for shard in publisher.loop_layer._shards):
                publisher = None
        except Exception:
            logger.warning("channel layer without the expected pub/sub internals; using group_send")
            publisher = None
    _publishers[loop] = (layer, publisher)
    return publisher


def _publish_soon(groups: list[str], event: dict[str, Any]) -> None:
    """On the target loop: queue the event without a task of its own when the layer allows."""
    layer = get_channel_layer()
    if layer is None:
        return
    publisher = _publisher(layer)
    if publisher is not None:
        publisher.enqueue(groups, event)
    else:
        asyncio.get_running_loop().create_task(abroadcast(groups, event)).add_done_callback(_log_failure)


async def abroadcast(groups: Iterable[str], event: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    stamp_event(event)
    publisher = _publisher(layer)
    if publisher is not None:
        await publisher.publish(list(groups), event)
        return
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
        _publish_soon(groups, event)
        return
    _hand_over(target, groups, event)


# Events from other threads, per target loop: the first one queued wakes the loop (a
# system call), the rest of a batch's events ride along with it.
_handoff_lock = threading.Lock()
_handoff: dict[asyncio.AbstractEventLoop, list[tuple[list[str], dict[str, Any]]]] = {}


def _hand_over(loop: asyncio.AbstractEventLoop, groups: list[str], event: dict[str, Any]) -> None:
    with _handoff_lock:
        queued = _handoff.get(loop)
        if queued is not None:
            queued.append((groups, event))
            return
        _handoff[loop] = [(groups, event)]
    try:
        loop.call_soon_threadsafe(_take_over, loop)
    except RuntimeError:  # the loop closed meanwhile: the database still has everything
        with _handoff_lock:
            _handoff.pop(loop, None)


def _take_over(loop: asyncio.AbstractEventLoop) -> None:
    with _handoff_lock:
        queued = _handoff.pop(loop, [])
    for groups, event in queued:
        _publish_soon(groups, event)


def broadcast_on_commit(groups: Iterable[str], event: dict[str, Any]) -> None:
    groups = list(groups)
    stamp_event(event)
    transaction.on_commit(lambda: broadcast(groups, event))
