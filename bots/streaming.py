"""Streams bot text to the conversation as delta frames, batched (about every 50 ms).

Every stream on a loop hands its frames to one sender per loop, which writes all frames
queued meanwhile in one Redis pipeline ("group commit"). channels-redis' `group_send`
costs one locked round trip per frame: at 500 streams that lock was the bottleneck
(145 us of CPU a frame when contended, 20 us in a pipeline of 100) and the first tokens
of a burst queued behind each other. An idle loop still sends a lone frame at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
import weakref
from collections.abc import Callable
from typing import Any

from channels.layers import get_channel_layer

from bots.runtime import GroupCommit
from kefu import events

logger = logging.getLogger(__name__)

BATCH_TIMEOUT = 5.0  # redis-py's default socket timeout, for a whole batch of frames


class _PipelinedSender:
    """Publishes group events of one event loop through the Redis pub/sub layer, batched.

    Uses the layer's own channel naming, serializer, sharding and host settings, so the
    frames are exactly what `group_send` would publish; only its per-frame lock and
    per-reply timers go.
    """

    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self.loop_layer = layer._get_layer()
        self._batches: GroupCommit[tuple[str, dict[str, Any]], None] = GroupCommit(self._send)
        self._clients: dict[int, Any] = {}

    def _client(self, shard: Any) -> Any:
        """A client of the shard's host without a per-reply timeout: redis-py arms a timer
        for every reply it reads (half of this sender's CPU in a pipeline of frames), so
        the whole batch gets one deadline instead."""
        client = self._clients.get(id(shard))
        if client is None:
            from channels_redis.utils import create_pool
            from redis.asyncio import Redis

            pool = create_pool({**shard.host, "socket_timeout": None})
            client = self._clients[id(shard)] = Redis(connection_pool=pool)
        return client

    async def publish(self, group: str, event: dict[str, Any]) -> None:
        events.stamp_event(event)  # sockets de-duplicate by eid; logs follow trace_id
        await self._batches.submit((group, event))

    async def _send(self, batch: list[tuple[str, dict[str, Any]]]) -> list[None]:
        try:
            by_shard: dict[Any, list[tuple[str, bytes]]] = {}
            for group, event in batch:
                channel = self.loop_layer._get_group_channel_name(group)
                by_shard.setdefault(self.loop_layer._get_shard(channel), []).append(
                    (channel, self.layer.serialize(event)))
            for shard, frames in by_shard.items():
                async with asyncio.timeout(BATCH_TIMEOUT), self._client(shard).pipeline(transaction=False) as pipe:
                    for channel, payload in frames:
                        pipe.publish(channel, payload)
                    await pipe.execute()
        except Exception:  # Redis down: clients resync from the database.
            logger.warning("delta broadcast of %d frames failed", len(batch), exc_info=True)
        return [None] * len(batch)


_senders: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _PipelinedSender | None] = weakref.WeakKeyDictionary()


def _sender() -> _PipelinedSender | None:
    """The loop's batched sender, or None where kefu.events must carry the frame (the
    in-memory layer, which lives on the embedded server's loop; the list-based Redis
    layer; a pub/sub layer whose internals changed)."""
    loop = asyncio.get_running_loop()
    try:
        return _senders[loop]
    except KeyError:
        pass
    sender = None
    layer = get_channel_layer()
    if type(layer).__name__ == "RedisPubSubChannelLayer":
        try:
            sender = _PipelinedSender(layer)
            sender.loop_layer._get_group_channel_name("probe")
            sender.loop_layer._get_shard("probe").host  # noqa: B018 (feature check)
        except Exception:
            logger.warning("channel layer without the expected pub/sub internals; deltas use group_send")
            sender = None
    _senders[loop] = sender
    return sender


async def publish(group: str, event: dict[str, Any]) -> None:
    sender = _sender()
    if sender is None:
        await events.apublish([group], event)
    else:
        await sender.publish(group, event)


class DeltaPublisher:
    """Coalesces provider deltas so a fast provider costs one channel-layer send per window."""

    def __init__(
        self, *, conversation_id: int, window: float = 0.05, output_filter: Callable[[], Any] | None = None
    ) -> None:
        self.conversation_id = conversation_id
        self.group = events.conversation_group(conversation_id)
        # Output middlewares (sensitive words) must also see streamed text, not only the
        # stored reply; the filter holds back a few characters to catch split words.
        self._filter_factory = output_filter
        self._filter = output_filter() if output_filter else None
        self.stream_id = uuid.uuid4().hex[:16]
        self.window = window
        self._buffer: list[str] = []
        self._last_flush = 0.0
        self.first_sent_at: float | None = None
        self.sent_chars = 0

    @property
    def groups(self) -> list[str]:
        return [self.group]

    async def push(self, text: str) -> None:
        if self._filter is not None:
            text = self._filter.push(text)
        if not text:
            return
        self._buffer.append(text)
        # The first token goes out at once (time-to-first-token matters most); the rest
        # are batched per window.
        if self.first_sent_at is None or time.monotonic() - self._last_flush >= self.window:
            await self.flush()

    async def flush(self) -> None:
        if self._filter is not None:
            tail = self._filter.flush()
            if tail:
                self._buffer.append(tail)
        if not self._buffer:
            return
        text = "".join(self._buffer)
        self._buffer.clear()
        self._last_flush = time.monotonic()
        if self.first_sent_at is None:
            self.first_sent_at = self._last_flush
        self.sent_chars += len(text)
        await publish(self.group, {
            "type": "kefu.bot.delta",
            "conversation_id": self.conversation_id,
            "stream_id": self.stream_id,
            "text": text,
        })

    async def failed(self) -> None:
        self._buffer.clear()
        await publish(
            self.group,
            {"type": "kefu.bot.failed", "conversation_id": self.conversation_id, "stream_id": self.stream_id},
        )

    def restart(self) -> None:
        """A new bubble for the next provider after the previous one failed mid-stream."""
        self.stream_id = uuid.uuid4().hex[:16]
        self._buffer.clear()
        self._filter = self._filter_factory() if self._filter_factory else None
        self.sent_chars = 0

    def done_event(self, message_payload: dict) -> dict:
        return {
            "type": "kefu.bot.done",
            "conversation_id": self.conversation_id,
            "stream_id": self.stream_id,
            "message": message_payload,
        }
