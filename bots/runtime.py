"""One asyncio loop per worker process, shared by every bot turn the process runs.

Celery tasks run in threads (or the in-process pool); each hands its coroutine to this
loop and waits. So hundreds of concurrent streams share one loop and one set of Redis
connections instead of creating a loop (and a connection) per task or per delta.
"""

from __future__ import annotations

import asyncio
import threading
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
