"""The shared bot loop."""

from __future__ import annotations

import asyncio

from bots import runtime


def test_the_bot_loop_runs_coroutines_from_threads() -> None:
    async def where() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    loop = runtime.run_on_bot_loop(where(), timeout=5)
    assert loop is runtime.bot_loop() and loop.is_running()
