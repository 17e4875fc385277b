"""Streams bot text to the conversation as delta frames, batched (about every 50 ms)."""

from __future__ import annotations

import asyncio
import time
import uuid

from kefu import events


class DeltaPublisher:
    """Coalesces provider deltas so a fast provider costs one channel-layer send per window."""

    def __init__(self, *, conversation_id: int, window: float = 0.05) -> None:
        self.conversation_id = conversation_id
        self.stream_id = uuid.uuid4().hex[:16]
        self.window = window
        self._buffer: list[str] = []
        self._last_flush = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self.first_sent_at: float | None = None
        self.sent_chars = 0

    @property
    def groups(self) -> list[str]:
        return [events.conversation_group(self.conversation_id)]

    async def push(self, text: str) -> None:
        if not text:
            return
        self._buffer.append(text)
        now = time.monotonic()
        # The first token goes out at once (time-to-first-token matters most); the rest
        # are batched per window.
        if self.first_sent_at is None or now - self._last_flush >= self.window:
            await self.flush()

    async def flush(self) -> None:
        if not self._buffer:
            return
        text = "".join(self._buffer)
        self._buffer.clear()
        self._last_flush = time.monotonic()
        if self.first_sent_at is None:
            self.first_sent_at = self._last_flush
        self.sent_chars += len(text)
        await events.apublish(
            self.groups,
            {"type": "kefu.bot.delta", "conversation_id": self.conversation_id, "stream_id": self.stream_id, "text": text},
        )

    async def failed(self) -> None:
        self._buffer.clear()
        await events.apublish(
            self.groups, {"type": "kefu.bot.failed", "conversation_id": self.conversation_id, "stream_id": self.stream_id}
        )

    def restart(self) -> None:
        """A new bubble for the next provider after the previous one failed mid-stream."""
        self.stream_id = uuid.uuid4().hex[:16]
        self._buffer.clear()
        self.sent_chars = 0

    def done_event(self, message_payload: dict) -> dict:
        return {
            "type": "kefu.bot.done", "conversation_id": self.conversation_id, "stream_id": self.stream_id,
            "message": message_payload,
        }
