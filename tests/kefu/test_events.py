"""kefu.events: event ids, and the hand-over of events from threads to an event loop."""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
import time

import pytest

from kefu import events


def _child_ids(queue: multiprocessing.Queue) -> None:
    stamped: list[dict] = [{} for _ in range(3)]
    for event in stamped:
        events.stamp_event(event)
    queue.put([e["eid"] for e in stamped])


def test_event_ids_are_unique_here_and_in_forked_children() -> None:
    stamped: list[dict] = [{} for _ in range(10_000)]
    for event in stamped:
        events.stamp_event(event)
    ids = [e["eid"] for e in stamped]
    assert len(set(ids)) == len(ids)
    kept = {"eid": "given"}
    events.stamp_event(kept)
    assert kept["eid"] == "given"
    # A forked worker (Celery prefork) starts from its parent's counter: its ids must differ anyway.
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    children = [ctx.Process(target=_child_ids, args=(queue,)) for _ in range(2)]
    for child in children:
        child.start()
    from_children = [eid for _ in children for eid in queue.get(timeout=10)]
    for child in children:
        child.join(10)
    assert len(set(from_children)) == len(from_children) and not set(from_children) & set(ids)


@pytest.fixture
def loop_thread():
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


def test_events_from_threads_arrive_in_order_with_one_wakeup_per_batch(loop_thread, monkeypatch) -> None:
    seen: list[int] = []
    monkeypatch.setattr(events, "_publish_soon", lambda groups, event: seen.append(event["n"]))
    gate = threading.Event()
    loop_thread.call_soon_threadsafe(gate.wait, 5)  # the loop is busy while a batch's events queue
    wakeups = 0
    real = loop_thread.call_soon_threadsafe

    def counting(*args):  # type: ignore[no-untyped-def]
        nonlocal wakeups
        wakeups += 1
        return real(*args)

    monkeypatch.setattr(loop_thread, "call_soon_threadsafe", counting)
    for n in range(100):
        events._hand_over(loop_thread, ["g"], {"n": n})
    gate.set()
    deadline = time.monotonic() + 5
    while len(seen) < 100 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert seen == list(range(100)) and wakeups == 1
    events._hand_over(loop_thread, ["g"], {"n": 100})  # the next batch wakes the loop again
    deadline = time.monotonic() + 5
    while len(seen) < 101 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert seen[-1] == 100 and wakeups == 2


def test_a_closed_loop_is_let_go() -> None:
    loop = asyncio.new_event_loop()
    loop.close()
    events._hand_over(loop, ["g"], {"n": 1})  # no error: the database still has everything
    assert loop not in events._handoff
