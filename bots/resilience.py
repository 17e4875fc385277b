"""A Redis-shared circuit breaker and the fallback chain for bot answers (the hard time
limits on one provider's stream are in bots.providers.timing).

The breaker state lives in Redis so every worker process sees the same provider health:
one process tripping it spares the others their own run of timeouts.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from bots.interface import (
    BotRequest,
    Delta,
    Done,
    ProviderAuthError,
    ProviderError,
    ProviderUnavailable,
)
from kefu.batching import GroupCommit

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from bots.providers.base import Provider

logger = logging.getLogger(__name__)


# --- circuit breaker -----------------------------------------------------------------------

BreakerState = Literal["closed", "open", "half_open"]
Transition = Literal["opened", "recovered"]
TransitionHook = Callable[[str, Transition], Awaitable[None]]


class RedisCircuitBreaker:
    """Per-provider-config breaker shared through Redis keys that expire on their own.

    Keys (all under `kefu:cb:<name>:`): `fails` consecutive failures (TTL = failure
    window), `open` present while failing fast (TTL = pause), `tripped` present from
    opening until a success (so an expired `open` means half-open), `trial` the single
    half-open probe slot (SET NX).
    """

    def __init__(
        self,
        redis: Redis,
        *,
        threshold: int = 5,
        pause: float = 30.0,
        failure_window: float = 120.0,
        trial_timeout: float = 60.0,
        on_transition: TransitionHook | None = None,
        prefix: str = "kefu:cb:",
    ) -> None:
        self.redis = redis
        self.threshold = threshold
        self.pause_ms = max(1, int(pause * 1000))
        self.window_ms = max(1, int(failure_window * 1000))
        self.trial_ms = max(1, int(trial_timeout * 1000))
        self.on_transition = on_transition
        self.prefix = prefix
        # Concurrent checks share one pipelined round trip (see kefu.batching.GroupCommit).
        self._checks: GroupCommit[str, list[Any]] = GroupCommit(self._check_many)

    def _k(self, name: str, part: str) -> str:
        return f"{self.prefix}{name}:{part}"

    async def state(self, name: str) -> BreakerState:
        is_open, tripped = await self.redis.mget(self._k(name, "open"), self._k(name, "tripped"))
        if is_open:
            return "open"
        return "half_open" if tripped else "closed"

    async def acquire(self, name: str) -> bool:
        """True if a call may go out now. Fails open (allows) when Redis is unreachable."""
        return (await self.admit(name))[0]

    async def admit(self, name: str) -> tuple[bool, bool]:
        """(may the call go out, was the breaker spotless): spotless means no failure
        counted, not tripped, so a success has nothing to reset. One round trip."""
        try:
            is_open, tripped, fails = await self._checks.submit(name)
            if is_open:
                return False, False
            if not tripped:
                return True, not fails
            return bool(await self.redis.set(self._k(name, "trial"), "1", nx=True, px=self.trial_ms)), False
        except Exception:  # a broken Redis must not take the bots down with it
            logger.warning("circuit breaker: redis unavailable, allowing call", exc_info=True)
            return True, False

    async def _check_many(self, names: list[str]) -> list[list[Any]]:
        if len(names) == 1:
            return [await self.redis.mget(*self._check_keys(names[0]))]
        async with self.redis.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.mget(*self._check_keys(name))
            return await pipe.execute()

    def _check_keys(self, name: str) -> tuple[str, str, str]:
        return self._k(name, "open"), self._k(name, "tripped"), self._k(name, "fails")

    async def record_success(self, name: str, *, spotless: bool = False) -> None:
        """Reset the failure count and close a tripped breaker. `spotless` (from `admit`):
        nothing to reset, so no round trip; a failure counted by another process since
        then is reset by the next success instead of this one."""
        if spotless:
            return
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.delete(self._k(name, "tripped"))
                pipe.delete(self._k(name, "fails"), self._k(name, "open"), self._k(name, "trial"))
                was_tripped, _ = await pipe.execute()
        except Exception:
            logger.warning("circuit breaker: redis unavailable on success", exc_info=True)
            return
        if was_tripped:
            await self._notify(name, "recovered")

    async def record_failure(self, name: str) -> None:
        try:
            if await self.redis.exists(self._k(name, "tripped")):
                # The half-open trial failed: pause again, release the trial slot.
                async with self.redis.pipeline(transaction=True) as pipe:
                    pipe.set(self._k(name, "open"), "1", px=self.pause_ms)
                    pipe.delete(self._k(name, "trial"))
                    await pipe.execute()
                return
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.incr(self._k(name, "fails"))
                pipe.pexpire(self._k(name, "fails"), self.window_ms)
                fails, _ = await pipe.execute()
            if fails < self.threshold:
                return
            # Only the process that sets `tripped` first reports the opening.
            first = await self.redis.set(self._k(name, "tripped"), "1", nx=True, px=self.window_ms * 10 + self.pause_ms)
            await self.redis.set(self._k(name, "open"), "1", px=self.pause_ms)
        except Exception:
            logger.warning("circuit breaker: redis unavailable on failure", exc_info=True)
            return
        if first:
            await self._notify(name, "opened")

    async def _notify(self, name: str, transition: Transition) -> None:
        if self.on_transition is None:
            return
        try:
            await self.on_transition(name, transition)
        except Exception:
            logger.exception("circuit breaker transition hook failed for %s", name)


def counts_against_breaker(exc: ProviderError) -> bool:
    # A bad request is about this one input; auth errors and transient faults are about the provider.
    return exc.transient or isinstance(exc, ProviderAuthError)


# --- fallback chain ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Partial:
    """The step that was answering failed after streaming `text`: show it as cut off, never as complete."""

    text: str
    provider: str
    error: str
    type: str = "partial"


@dataclass(frozen=True, slots=True)
class Switch:
    """The chain moved on to `provider` because the previous step failed (for logs and UI)."""

    provider: str
    reason: str
    type: str = "switch"


@dataclass(frozen=True, slots=True)
class Handoff:
    """No step could answer: hand the conversation to a human."""

    reason: str
    errors: tuple[str, ...] = ()
    type: str = "handoff"


ChainEvent = Delta | Done | Partial | Switch | Handoff
StreamFn = Callable[["Provider", BotRequest], AsyncGenerator[Any, None]]


class FallbackChain:
    """primary -> backup -> local answer -> handoff.

    A step is skipped at once when its breaker is open, and there are no sleeps between
    steps, so the next step starts as soon as the failure is known (the hard timeouts
    bound how long that takes). A local answer that did not match counts as no answer.
    """

    def __init__(
        self,
        steps: Sequence[Provider],
        *,
        breaker: RedisCircuitBreaker | None = None,
        stream_fn: StreamFn | None = None,
    ) -> None:
        self.steps = list(steps)
        self.breaker = breaker
        if stream_fn is None:
            from bots.providers.base import stream

            stream_fn = stream
        self.stream_fn = stream_fn

    async def run(self, request: BotRequest) -> AsyncIterator[ChainEvent]:
        errors: list[str] = []
        for index, provider in enumerate(self.steps):
            name = provider.name
            if index > 0:
                yield Switch(provider=name, reason=errors[-1] if errors else "")
            spotless = False
            if self.breaker is not None:
                allowed, spotless = await self.breaker.admit(name)
                if not allowed:
                    errors.append(f"{name}: circuit open")
                    continue
            try:
                async with aclosing(self.stream_fn(provider, request)) as events:
                    async for event in events:
                        if isinstance(event, Done):
                            if not event.matched or not event.text.strip():
                                raise ProviderUnavailable("no confident answer", transient=True)
                            if self.breaker is not None:
                                await self.breaker.record_success(name, spotless=spotless)
                            yield event
                            return
                        yield event
            except Exception as raw:
                # A bug inside one adapter must still end in the next step, not in silence.
                exc = raw if isinstance(raw, ProviderError) else ProviderError(repr(raw))
                if not isinstance(raw, ProviderError):
                    logger.exception("provider %s crashed", name)
                errors.append(f"{name}: {exc.code}: {exc}")
                if (
                    self.breaker is not None
                    and counts_against_breaker(exc)
                    and not isinstance(exc, ProviderUnavailable)
                ):
                    await self.breaker.record_failure(name)
                if exc.partial_text:
                    yield Partial(text=exc.partial_text, provider=name, error=exc.code)
                continue
        yield Handoff(reason=errors[-1] if errors else "no providers configured", errors=tuple(errors))
