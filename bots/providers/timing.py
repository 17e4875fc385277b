"""Hard time limits on a provider's event stream: first event, idle gap and total.

Part of the provider layer, which imports nothing of the core or of Django settings.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import TypeVar

from bots.interface import ProviderTimeout, Timeouts

T = TypeVar("T")


class _Watchdog:
    """One lazily re-armed timer for a whole stream instead of a timeout context per chunk.

    Each wait only records when it must end (`due`); the timer moves itself when it fires
    early, so a chunk costs a clock read, not a timer handle (py-spy: `asyncio.timeout`
    per chunk was about a tenth of the streaming path's own CPU). On expiry it cancels the
    waiting task, as `asyncio.timeout` does, and the cancel is turned into a timeout.
    """

    __slots__ = ("_cancelling", "_handle", "_loop", "_task", "due", "expired", "waiting")

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        self._cancelling = self._task.cancelling() if self._task is not None else 0
        self._handle: asyncio.TimerHandle | None = None
        self.due = 0.0
        self.waiting = False
        self.expired = False

    def arm(self, due: float) -> None:
        """Start a wait that must end by `due` (time.monotonic())."""
        self.due = due
        self.waiting = True
        handle = self._handle
        if handle is None or handle.when() > self._loop.time() + (due - time.monotonic()) + 0.001:
            self._rearm()

    def _rearm(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle = self._loop.call_later(max(0.0, self.due - time.monotonic()), self._fire)

    def _fire(self) -> None:
        self._handle = None
        if not self.waiting or self.expired:
            return  # between waits: the next wait arms again
        if time.monotonic() < self.due:
            self._rearm()
            return
        self.expired = True
        if self._task is not None:
            self._task.cancel()

    def timed_out(self) -> bool:
        """After a CancelledError in a wait: was it ours (rather than the caller's)?"""
        return self.expired and self._task is not None and self._task.uncancel() <= self._cancelling

    def close(self) -> None:
        self.waiting = False
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


async def timed_stream(
    source: AsyncIterator[T], timeouts: Timeouts, deadline: float | None = None
) -> AsyncGenerator[T, None]:
    """Re-yield `source`, enforcing time-to-first-event, idle-between-events and total limits.

    Keep-alive comments never reach this layer as events, so a server that only pings
    still times out. Only the waits for `source` are timed, not the consumer's work
    between them.
    """
    started = time.monotonic()
    hard_end = started + timeouts.total
    if deadline is not None:
        hard_end = min(hard_end, deadline)
    first = True
    watchdog = _Watchdog()
    try:
        while True:
            now = time.monotonic()
            budget = timeouts.first_token if first else timeouts.idle
            wait = min(budget, hard_end - now)
            if wait <= 0:
                raise ProviderTimeout("deadline reached")
            watchdog.arm(now + wait)
            try:
                item = await anext(source)
            except StopAsyncIteration:
                return
            except asyncio.CancelledError:
                if watchdog.timed_out():
                    what = "first token" if first else "next chunk"
                    raise ProviderTimeout(f"no {what} within {wait:.2f}s") from None
                raise
            finally:
                watchdog.waiting = False
            first = False
            yield item
    finally:
        watchdog.close()
        aclose = getattr(source, "aclose", None)
        if aclose is not None:
            await aclose()
