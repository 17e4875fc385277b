"""Group commits on an event loop."""

from __future__ import annotations

import asyncio

import pytest

from kefu.batching import GroupCommit


async def test_group_commit_sends_calls_made_during_a_flight_together() -> None:
    batches: list[list[int]] = []

    async def flush(items: list[int]) -> list[int]:
        batches.append(items)
        await asyncio.sleep(0.01)
        return [item * 10 for item in items]

    commit: GroupCommit[int, int] = GroupCommit(flush)
    first = asyncio.create_task(commit.submit(1))
    await asyncio.sleep(0.001)  # the first batch is in flight
    rest = await asyncio.gather(*(commit.submit(i) for i in range(2, 6)))
    assert await first == 10 and rest == [20, 30, 40, 50]
    assert batches == [[1], [2, 3, 4, 5]]


async def test_group_commit_hands_a_failure_to_every_caller_and_recovers() -> None:
    calls = 0

    async def flush(items: list[str]) -> list[str]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("redis down")
        return items

    commit: GroupCommit[str, str] = GroupCommit(flush)
    results = await asyncio.gather(commit.submit("a"), commit.submit("b"), return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)
    assert await commit.submit("c") == "c"


async def test_a_cancelled_drain_cancels_the_waits_of_its_batch_and_queue() -> None:
    started = asyncio.Event()

    async def flush(items: list[int]) -> list[int]:
        started.set()
        await asyncio.Event().wait()  # never answers: only cancellation ends it
        return items

    commit: GroupCommit[int, int] = GroupCommit(flush)
    in_flight = asyncio.create_task(commit.submit(1))
    await started.wait()
    queued = asyncio.create_task(commit.submit(2))
    await asyncio.sleep(0)
    (drain,) = [t for t in asyncio.all_tasks() if t.get_coro().__qualname__ == "GroupCommit._drain"]
    drain.cancel()
    for waiter in (in_flight, queued):
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(waiter, 1)
