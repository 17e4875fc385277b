"""Delta frames: batched into one Redis write per loop (kefu.events), in order, stamped; other layers too."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import pytest
from channels.layers import InMemoryChannelLayer, get_channel_layer

from bots.streaming import DeltaPublisher
from kefu import events

pytestmark = pytest.mark.redis

BASE = 970_000_000


async def _receive(layer, channel: str, count: int) -> list[dict]:  # noqa: ANN001
    return [await asyncio.wait_for(layer.receive(channel), 3) for _ in range(count)]


async def test_frames_of_concurrent_streams_arrive_in_order_batched(monkeypatch: pytest.MonkeyPatch) -> None:
    layer = get_channel_layer()
    assert type(layer).__name__ == "RedisPubSubChannelLayer"
    channel = await layer.new_channel()
    streams = 30
    for i in range(streams):
        await layer.group_add(events.conversation_group(BASE + i), channel)
    sends: list[int] = []
    original = events._PubSubPublisher._send

    async def counting(self, batch):  # noqa: ANN001, ANN202
        sends.append(len(batch))
        return await original(self, batch)

    monkeypatch.setattr(events._PubSubPublisher, "_send", counting)
    publishers = [DeltaPublisher(conversation_id=BASE + i, window=0.0) for i in range(streams)]

    async def speak(publisher: DeltaPublisher) -> None:
        for k in range(10):
            await publisher.push(f"{k},")
        await publisher.failed()

    await asyncio.gather(*(speak(p) for p in publishers))
    received = await _receive(layer, channel, streams * 11)
    texts: dict[int, str] = defaultdict(str)
    for event in received:
        assert event["eid"] and "trace_id" in event
        if event["type"] == "kefu.bot.delta":
            assert not texts[event["conversation_id"]].endswith("|")
            texts[event["conversation_id"]] += event["text"]
        else:
            texts[event["conversation_id"]] += "|"
    assert texts == {BASE + i: "0,1,2,3,4,5,6,7,8,9,|" for i in range(streams)}
    assert sum(sends) == streams * 11 and len(sends) < streams * 11, "frames sent one round trip each"


async def test_a_cancelled_stream_still_has_its_frame_delivered() -> None:
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(events.conversation_group(BASE + 99), channel)
    publisher = DeltaPublisher(conversation_id=BASE + 99)
    task = asyncio.create_task(publisher.push("你好"))
    await asyncio.sleep(0)
    task.cancel()
    (event,) = await _receive(layer, channel, 1)
    assert event["text"] == "你好"


async def test_other_layers_go_through_kefu_events(monkeypatch: pytest.MonkeyPatch) -> None:
    memory = InMemoryChannelLayer()
    monkeypatch.setattr(events, "get_channel_layer", lambda: memory)
    channel = await memory.new_channel()
    await memory.group_add(events.conversation_group(BASE + 7), channel)
    publisher = DeltaPublisher(conversation_id=BASE + 7)
    await publisher.push("hello")
    await publisher.flush()
    event = await asyncio.wait_for(memory.receive(channel), 1)
    assert event["type"] == "kefu.bot.delta" and event["text"] == "hello"
