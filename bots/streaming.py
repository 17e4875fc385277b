"""Streams bot text to the conversation as delta frames, batched (about every 50 ms).

Frames go out through kefu.events, whose per-loop publisher writes all frames queued
meanwhile, from every stream on the loop, in one Redis write: channels-redis'
`group_send` costs one locked round trip per frame, and at 500 streams that lock was
the bottleneck. An idle loop still sends a lone frame at once.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from kefu import events

logger = logging.getLogger(__name__)


async def publish(group: str, event: dict[str, Any]) -> None:
    # kefu.events batches every event queued on this loop meanwhile into one Redis write.
    await events.apublish([group], event)


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
        await publish(
            self.group,
            {
                "type": "kefu.bot.delta",
                "conversation_id": self.conversation_id,
                "stream_id": self.stream_id,
                "text": text,
            },
        )

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
