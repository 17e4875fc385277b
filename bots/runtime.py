"""One asyncio loop per worker process, shared by every bot turn the process runs.

Celery tasks run in threads (or the in-process pool); each hands its coroutine to this
loop and waits. So hundreds of concurrent streams share one loop and one set of Redis
connections instead of creating a loop (and a connection) per task or per delta.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections import deque
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_loop: asyncio.AbstractEventLoop | None = None
_lock = threading.Lock()


def new_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed: its sockets, timers and callbacks cost about half of
    asyncio's on the bot path (every delta is a socket read, a timer and a Redis send)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is pinned in requirements.txt
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _start() -> asyncio.AbstractEventLoop:
    loop = new_loop()
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        loop.run_forever()

    threading.Thread(target=run, name="kefu-bot-loop", daemon=True).start()
    ready.wait()
    return loop


def bot_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            _loop = _start()
        return _loop


def run_on_bot_loop(coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
    """Run a coroutine on the shared loop from synchronous code and return its result."""
    return asyncio.run_coroutine_threadsafe(coro, bot_loop()).result(timeout)


class StartGate:
    """Admits at most `per_turn` new provider calls per event-loop turn, first come first served.

    Starting a call (building the request, connecting, sending) is the costly part of a
    stream. When hundreds start in one instant, every loop turn runs all their steps, so
    the first tokens of the streams already under way wait behind them (p50 0.7-0.9 s for
    a burst of 500). Admitting a few per turn keeps each turn short: admitted streams get
    their tokens through at once, and the rest start as fast as the CPU allows. The gate
    counts turns, not completions, so a slow provider holds nothing up, and an idle loop
    admits at once.
    """

    def __init__(self, per_turn: int = 8) -> None:
        self.per_turn = per_turn
        self._budget = per_turn
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._ticking = False

    async def admit(self) -> None:
        loop = asyncio.get_running_loop()
        if not self._waiters and self._budget > 0:
            self._budget -= 1
            self._schedule(loop)
            return
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiters.append(waiter)
        self._schedule(loop)
        await waiter

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        if not self._ticking:
            self._ticking = True
            loop.call_soon(self._tick, loop)

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        """Runs once per loop turn while the gate is busy: a fresh budget, spent on the queue first."""
        self._budget = self.per_turn
        while self._waiters and self._budget > 0:
            waiter = self._waiters.popleft()
            if not waiter.done():  # a cancelled waiter costs nothing
                waiter.set_result(None)
                self._budget -= 1
        if self._waiters or self._budget < self.per_turn:
            loop.call_soon(self._tick, loop)
        else:
            self._ticking = False


_gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, StartGate] = weakref.WeakKeyDictionary()


def start_gate() -> StartGate:
    """The running loop's gate for starting provider calls."""
    loop = asyncio.get_running_loop()
    gate = _gates.get(loop)
    if gate is None:
        gate = _gates[loop] = StartGate()
    return gate
