"""Per-tenant bounds on what one worker process spends on bot turns.

A worker has a fixed pool of threads and one bot loop. Without bounds one tenant whose
business hooks hang can hold every thread (each waiting on its hooks) and every socket
of the loop, and other tenants' visitors wait behind it. So:

- at most `KEFU_BOT_TURNS_PER_TENANT` turns of one tenant run at once in a process; a
  turn over the bound is not run in a thread that would only wait: the task puts it
  back on the queue (`TurnSlots.try_enter` says no) and the thread serves someone else;
- at most `KEFU_HOOK_CALLS_PER_TENANT` hook calls of one tenant are in flight on the
  loop; a call waiting for a slot spends its own timeout waiting (`hook_slot`).

A turn that waited past its deadline ends with a handoff (bots.pipeline), so the bound
never turns into silence.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from django.conf import settings


class TurnSlots:
    """Counts the turns each tenant has running in this process (threads share it)."""

    def __init__(self) -> None:
        self._running: dict[int, int] = {}
        self._lock = threading.Lock()

    def try_enter(self, tenant_id: int, limit: int | None = None) -> bool:
        limit = settings.KEFU_BOT_TURNS_PER_TENANT if limit is None else limit
        with self._lock:
            running = self._running.get(tenant_id, 0)
            if limit > 0 and running >= limit:
                return False
            self._running[tenant_id] = running + 1
            return True

    def leave(self, tenant_id: int) -> None:
        with self._lock:
            running = self._running.get(tenant_id, 0) - 1
            if running > 0:
                self._running[tenant_id] = running
            else:
                self._running.pop(tenant_id, None)

    def running(self, tenant_id: int) -> int:
        return self._running.get(tenant_id, 0)


turn_slots = TurnSlots()

# One semaphore per (loop, tenant); a loop's semaphores go with the loop.
_hook_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, asyncio.Semaphore]] = (
    weakref.WeakKeyDictionary()
)


@asynccontextmanager
async def hook_slot(tenant_id: int, timeout: float) -> AsyncIterator[None]:
    """Hold one of the tenant's hook-call slots; TimeoutError when none frees up in `timeout`."""
    loop = asyncio.get_running_loop()
    per_loop = _hook_slots.get(loop)
    if per_loop is None:
        per_loop = _hook_slots[loop] = {}
    semaphore = per_loop.get(tenant_id)
    if semaphore is None:
        semaphore = per_loop[tenant_id] = asyncio.Semaphore(max(1, settings.KEFU_HOOK_CALLS_PER_TENANT))
    async with asyncio.timeout(timeout):
        await semaphore.acquire()
    try:
        yield
    finally:
        semaphore.release()
