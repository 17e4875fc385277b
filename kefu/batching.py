"""Group commit on an event loop: calls made while a batch is in flight go out together.

For per-call Redis round trips (channel-layer publishes, circuit-breaker checks): an idle
loop sends a lone call at once; a busy one pays one round trip per batch instead of one
per call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class GroupCommit(Generic[T, R]):
    """`flush` gets the queued items and returns one result each."""

    def __init__(self, flush: Callable[[list[T]], Awaitable[Sequence[R]]]) -> None:
        self._flush = flush
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: list[tuple[T, asyncio.Future[R] | None]] = []
        self._draining = False

    async def submit(self, item: T) -> R:
        done: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._enqueue(item, done)
        # A cancelled caller cancels only its wait: the item stays in the batch.
        return await done

    def submit_nowait(self, item: T) -> None:
        """Queue an item whose result nobody waits for (no future, no task of its own)."""
        self._enqueue(item, None)

    def _enqueue(self, item: T, done: asyncio.Future[R] | None) -> None:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # first use, or a new loop (tests): nothing carries over
            self._loop, self._queue, self._draining = loop, [], False
        self._queue.append((item, done))
        if not self._draining:
            self._draining = True
            loop.create_task(self._drain())

    async def _drain(self) -> None:
        batch: list[tuple[T, asyncio.Future[R] | None]] = []
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                try:
                    results = await self._flush([item for item, _done in batch])
                except Exception as exc:
                    for _item, done in batch:
                        if done is not None and not done.done():
                            done.set_exception(exc)
                    continue
                for (_item, done), result in zip(batch, results, strict=True):
                    if done is not None and not done.done():
                        done.set_result(result)
        finally:
            # Left undone only when the drain itself was cancelled: its batch and the queue.
            self._draining = False
            left, self._queue = batch + self._queue, []
            for _item, done in left:
                if done is not None and not done.done():
                    done.cancel()
