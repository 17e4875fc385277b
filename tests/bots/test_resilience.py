"""Timeouts, the Redis-shared circuit breaker and the fallback chain, against real fakes and Redis."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from bots.interface import Delta, Done, ProviderConfig, ProviderTimeout, Timeouts
from bots.providers.base import build_provider
from bots.providers.local import LocalProvider
from bots.providers.timing import timed_stream
from bots.resilience import FallbackChain, Handoff, Partial, RedisCircuitBreaker, Switch
from tests.bots.providers.conftest import FAST, make_request
from tests.fakes.http import Behaviour
from tests.fakes.openai_server import FakeOpenAI

pytestmark = pytest.mark.redis


@pytest.fixture(autouse=True)
def _fakes_are_allowed(settings) -> None:  # noqa: ANN001
    settings.KEFU_OUTBOUND_ALLOWLIST = ["127.0.0.1"]  # where the fakes listen; the guard refuses it otherwise


@pytest.fixture
async def redis(settings) -> AsyncIterator[Redis]:  # noqa: ANN001
    client = Redis.from_url(settings.REDIS_URL)
    yield client
    await client.aclose()


def breaker(redis: Redis, **kwargs: object) -> tuple[RedisCircuitBreaker, list[tuple[str, str]]]:
    seen: list[tuple[str, str]] = []

    async def hook(name: str, transition: str) -> None:
        seen.append((name, transition))

    options = {"threshold": 3, "pause": 0.2, "failure_window": 5.0, "trial_timeout": 2.0}
    options.update(kwargs)
    return RedisCircuitBreaker(redis, on_transition=hook, prefix=f"test:{uuid.uuid4()}:", **options), seen


def openai(server: FakeOpenAI, name: str) -> object:
    return build_provider(
        ProviderConfig(kind="openai", base_url=server.url + "/v1", api_key="k", model="m", timeouts=FAST, name=name)
    )


def local(text: str = "本地答案：订单 24 小时内发货。", matched: bool = True) -> LocalProvider:
    return LocalProvider(ProviderConfig(kind="local", name="local"), lambda q: (text, [], 0.8, matched))


async def run(chain: FallbackChain) -> list[object]:
    return [event async for event in chain.run(make_request())]


# --- timeouts ---


async def _slow(first: float, gap: float, n: int = 3) -> AsyncIterator[int]:
    await asyncio.sleep(first)
    for i in range(n):
        if i:
            await asyncio.sleep(gap)
        yield i


async def test_timed_stream_enforces_first_idle_and_total() -> None:
    with pytest.raises(ProviderTimeout, match="first token"):
        [x async for x in timed_stream(_slow(0.5, 0), Timeouts(first_token=0.05, idle=1, total=1))]
    got: list[int] = []
    with pytest.raises(ProviderTimeout, match="next chunk"):
        async for x in timed_stream(_slow(0, 0.5), Timeouts(first_token=1, idle=0.05, total=1)):
            got.append(x)
    assert got == [0]
    with pytest.raises(ProviderTimeout):
        [x async for x in timed_stream(_slow(0, 0.04, n=50), Timeouts(first_token=1, idle=1, total=0.2))]
    assert [x async for x in timed_stream(_slow(0, 0), Timeouts(first_token=1, idle=1, total=1))] == [0, 1, 2]


async def test_deadline_caps_the_timeouts() -> None:
    deadline = time.monotonic() + 0.05
    with pytest.raises(ProviderTimeout):
        [x async for x in timed_stream(_slow(0.5, 0), Timeouts(first_token=5, idle=5, total=5), deadline)]


async def test_pings_alone_do_not_keep_a_stream_alive() -> None:
    # Keep-alive comments arrive, but no token: the first-token timeout still fires.
    with FakeOpenAI(Behaviour(keepalive=True, first_token_delay=2.0)) as server:
        chain = FallbackChain([openai(server, "p")])
        events = await run(chain)
    assert isinstance(events[-1], Handoff) and "provider_timeout" in events[-1].reason


# --- breaker ---


async def test_breaker_opens_after_threshold_half_opens_one_trial_and_closes(redis: Redis) -> None:
    cb, seen = breaker(redis)
    name = "t1:primary"
    for _ in range(2):
        await cb.record_failure(name)
    assert await cb.state(name) == "closed" and await cb.acquire(name)
    await cb.record_failure(name)
    assert await cb.state(name) == "open"
    assert seen == [(name, "opened")]
    assert not await cb.acquire(name)
    await asyncio.sleep(0.25)
    assert await cb.state(name) == "half_open"
    results = await asyncio.gather(*(cb.acquire(name) for _ in range(10)))
    assert sum(results) == 1, "exactly one trial call in half-open"
    await cb.record_success(name)
    assert await cb.state(name) == "closed" and await cb.acquire(name)
    assert seen == [(name, "opened"), (name, "recovered")]


async def test_failed_trial_reopens_without_a_second_alert(redis: Redis) -> None:
    cb, seen = breaker(redis, threshold=1)
    await cb.record_failure("p")
    await asyncio.sleep(0.25)
    assert await cb.acquire("p")
    await cb.record_failure("p")
    assert await cb.state("p") == "open" and seen == [("p", "opened")]


async def test_a_healthy_provider_costs_one_round_trip_and_a_success_still_resets_failures(redis: Redis) -> None:
    cb, _ = breaker(redis, threshold=3)
    assert await cb.admit("p") == (True, True)
    await cb.record_success("p", spotless=True)  # nothing to reset: no Redis call at all
    await cb.record_failure("p")
    await cb.record_failure("p")
    allowed, spotless = await cb.admit("p")
    assert allowed and not spotless
    await cb.record_success("p", spotless=spotless)
    assert await cb.admit("p") == (True, True), "the success reset the count"
    await cb.record_failure("p")
    await cb.record_failure("p")
    assert await cb.state("p") == "closed"


async def test_breaker_state_is_shared_between_processes(redis: Redis, settings) -> None:  # noqa: ANN001
    cb, _ = breaker(redis, threshold=2)
    other_process = RedisCircuitBreaker(Redis.from_url(settings.REDIS_URL), threshold=2, pause=0.2, prefix=cb.prefix)
    await cb.record_failure("shared")
    await other_process.record_failure("shared")
    assert not await cb.acquire("shared") and not await other_process.acquire("shared")
    await other_process.redis.aclose()


async def test_breaker_fails_open_when_redis_is_down() -> None:
    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    cb = RedisCircuitBreaker(dead)
    assert await cb.acquire("p")
    await cb.record_failure("p")
    await cb.record_success("p")
    await dead.aclose()


# --- fallback chain ---


async def test_primary_answers() -> None:
    with FakeOpenAI() as primary:
        events = await run(FallbackChain([openai(primary, "primary"), local()]))
    assert [type(e) for e in events] == [Delta, Delta, Delta, Done]
    assert events[-1].text == "Your order shipped yesterday." and events[-1].provider == "primary"


async def test_primary_500_falls_to_backup_then_local_then_handoff() -> None:
    with FakeOpenAI(Behaviour(fail_status=500)) as bad, FakeOpenAI(Behaviour(chunks=["backup"])) as good:
        events = await run(FallbackChain([openai(bad, "primary"), openai(good, "backup"), local()]))
        assert isinstance(events[0], Switch) and events[0].provider == "backup"
        assert events[-1].text == "backup" and events[-1].provider == "backup"
        events = await run(FallbackChain([openai(bad, "primary"), local()]))
        assert events[-1].provider == "local" and events[-1].text.startswith("本地答案")
        events = await run(FallbackChain([openai(bad, "primary"), local(matched=False)]))
        assert isinstance(events[-1], Handoff) and len(events[-1].errors) == 2


async def test_partial_stream_is_reported_as_partial_then_fallback() -> None:
    with FakeOpenAI(Behaviour(truncate=True)) as cut:
        events = await run(FallbackChain([openai(cut, "primary"), local()]))
    kinds = [type(e).__name__ for e in events]
    assert kinds[:3] == ["Delta", "Delta", "Delta"] and kinds[3] == "Partial" and kinds[4] == "Switch"
    partial = events[3]
    assert isinstance(partial, Partial) and partial.text == "Your order shipped yesterday."
    done = [e for e in events if isinstance(e, Done)]
    assert len(done) == 1 and done[0].provider == "local", "the cut answer is never reported complete"


async def test_stalled_primary_is_abandoned_for_the_fallback() -> None:
    # The primary never sends a token; only the first-token limit can end the wait.
    timeouts = Timeouts(connect=0.5, first_token=0.3, idle=0.3, total=5.0)
    with FakeOpenAI(Behaviour(first_token_delay=3600)) as stalled:
        primary = build_provider(
            ProviderConfig(
                kind="openai", base_url=stalled.url + "/v1", api_key="k", model="m", timeouts=timeouts, name="stalled"
            )
        )
        events = await run(FallbackChain([primary, local()]))
    switch = next(e for e in events if isinstance(e, Switch))
    assert "provider_timeout" in switch.reason and "first token" in switch.reason
    assert events[-1].provider == "local"


async def test_open_breaker_skips_the_provider_without_calling_it(redis: Redis) -> None:
    cb, seen = breaker(redis, threshold=2, pause=30)
    with FakeOpenAI(Behaviour(fail_status=503)) as bad:
        chain = FallbackChain([openai(bad, "primary"), local()], breaker=cb)
        for _ in range(2):
            assert (await run(chain))[-1].provider == "local"
        assert len(bad.requests) == 2 and seen == [("primary", "opened")]
        events = await run(chain)
        assert events[-1].provider == "local" and len(bad.requests) == 2
        assert "circuit open" in events[0].reason


async def test_auth_errors_trip_but_bad_requests_do_not(redis: Redis) -> None:
    cb, _ = breaker(redis, threshold=1)
    with FakeOpenAI(Behaviour(fail_status=400)) as bad_request:
        await run(FallbackChain([openai(bad_request, "a")], breaker=cb))
    assert await cb.state("a") == "closed"
    with FakeOpenAI(Behaviour(api_key="other")) as unauthorized:
        await run(FallbackChain([openai(unauthorized, "b")], breaker=cb))
    assert await cb.state("b") == "open"


async def test_timed_stream_times_only_the_waits_not_the_consumer() -> None:
    got = []
    async for x in timed_stream(_slow(0, 0), Timeouts(first_token=0.05, idle=0.05, total=2)):
        await asyncio.sleep(0.12)  # slower than the idle limit, but this is our own work
        got.append(x)
    assert got == [0, 1, 2]


async def test_timed_stream_idle_limit_applies_after_a_longer_first_token_limit() -> None:
    started = time.monotonic()
    with pytest.raises(ProviderTimeout, match="next chunk"):
        [x async for x in timed_stream(_slow(0, 1.0), Timeouts(first_token=2, idle=0.05, total=3))]
    assert time.monotonic() - started < 0.5


async def test_timed_stream_passes_an_outside_cancel_through() -> None:
    async def consume() -> None:
        [x async for x in timed_stream(_slow(1.0, 0), Timeouts(first_token=0.3, idle=1, total=2))]

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    # and a cancel after a timeout is still a cancel, never a ProviderTimeout
    async def consume_twice() -> None:
        with pytest.raises(ProviderTimeout):
            [x async for x in timed_stream(_slow(1.0, 0), Timeouts(first_token=0.05, idle=1, total=2))]
        await asyncio.sleep(1)

    task = asyncio.create_task(consume_twice())
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_concurrent_breaker_checks_share_round_trips(redis: Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    sizes: list[int] = []
    original = RedisCircuitBreaker._check_many

    async def counting(self, names):  # noqa: ANN001, ANN202
        sizes.append(len(names))
        return await original(self, names)

    monkeypatch.setattr(RedisCircuitBreaker, "_check_many", counting)
    cb, _ = breaker(redis, threshold=1)
    await cb.record_failure("down")
    names = ["down", *(f"up{i}" for i in range(20))]
    results = await asyncio.gather(*(cb.admit(name) for name in names))
    assert results[0] == (False, False) and all(r == (True, True) for r in results[1:])
    assert sum(sizes) == len(names) and len(sizes) < len(names)
