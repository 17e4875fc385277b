"""One asyncio loop per worker process, shared by every bot turn the process runs.

Celery tasks run in threads (or the in-process pool); each hands its coroutine to this
loop and waits. So hundreds of concurrent streams share one loop and one set of Redis
connections instead of creating a loop (and a connection) per task or per delta.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

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


class GroupCommit(Generic[T, R]):
    """Calls made while a batch is in flight go out together in the next one.

    For per-call Redis round trips on the bot loop (circuit-breaker checks): an
    idle loop sends a lone call at once; a busy one pays one round trip per batch
    instead of one per call. `flush` gets the queued items and returns one result each.
    """

    def __init__(self, flush: Callable[[list[T]], Awaitable[Sequence[R]]]) -> None:
        self._flush = flush
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._draining = False

    async def submit(self, item: T) -> R:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # first use, or a new loop (tests): nothing carries over
            self._loop, self._queue, self._draining = loop, [], False
        done: asyncio.Future[R] = loop.create_future()
        self._queue.append((item, done))
        if not self._draining:
            self._draining = True
            loop.create_task(self._drain())
        # A cancelled caller cancels only its wait: the item stays in the batch.
        return await done

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                try:
                    results = await self._flush([item for item, _done in batch])
                except Exception as exc:
                    for _item, done in batch:
                        if not done.done():
                            done.set_exception(exc)
                    continue
                for (_item, done), result in zip(batch, results, strict=True):
                    if not done.done():
                        done.set_result(result)
        finally:
            self._draining = False
            for _item, done in self._queue:  # only when the drain itself was cancelled
                done.cancel()
            self._queue = []
