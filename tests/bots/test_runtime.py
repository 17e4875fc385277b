"""The shared bot loop and its start gate."""

from __future__ import annotations

import asyncio

from bots import runtime
from bots.runtime import StartGate


async def test_an_idle_gate_admits_at_once() -> None:
    gate = StartGate(per_turn=2)
    task = asyncio.create_task(gate.admit())
    await asyncio.sleep(0)
    assert task.done()


async def test_a_burst_is_admitted_in_order_a_few_per_loop_turn() -> None:
    gate = StartGate(per_turn=3)
    admitted: list[int] = []

    async def start(i: int) -> None:
        await gate.admit()
        admitted.append(i)

    tasks = [asyncio.create_task(start(i)) for i in range(20)]
    seen = [0]
    while len(admitted) < 20:
        await asyncio.sleep(0)
        seen.append(len(admitted))
    assert admitted == list(range(20))
    assert max(b - a for a, b in zip(seen, seen[1:], strict=False)) <= 3
    await asyncio.gather(*tasks)


async def test_a_cancelled_waiter_takes_no_slot() -> None:
    gate = StartGate(per_turn=1)
    order: list[str] = []

    async def start(name: str) -> None:
        await gate.admit()
        order.append(name)

    first = asyncio.create_task(start("first"))
    doomed = asyncio.create_task(start("doomed"))
    last = asyncio.create_task(start("last"))
    await asyncio.sleep(0)
    doomed.cancel()
    await asyncio.gather(first, last)
    assert order == ["first", "last"]


def test_the_bot_loop_runs_coroutines_from_threads() -> None:
    async def where() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    loop = runtime.run_on_bot_loop(where(), timeout=5)
    assert loop is runtime.bot_loop() and loop.is_running()
