"""Wires the circuit breaker of the bot loop to each tenant's alert channels."""

from __future__ import annotations

import asyncio
import re
from typing import cast

from asgiref.sync import sync_to_async
from django.conf import settings

from bots.alerts import AlertDispatcher, AlertKind, AlertTarget
from bots.resilience import RedisCircuitBreaker

_TENANT = re.compile(r"^t(\d+):")
_breakers: dict[int, RedisCircuitBreaker] = {}


def _targets_for(tenant_id: int) -> list[AlertTarget]:
    from django.db import connection

    from bots.models import AlertChannel

    try:
        return [
            # The column's choices are AlertKind's values (bots.models.AlertKind).
            AlertTarget(kind=cast(AlertKind, channel.kind), url=channel.url, secret=channel.secret)
            for channel in AlertChannel.objects.filter(tenant_id=tenant_id, enabled=True)
        ]
    finally:
        connection.close()  # an executor thread: do not keep a pooled connection checked out


async def _on_transition(provider: str, transition: str) -> None:
    match = _TENANT.match(provider)
    if match is None:
        return
    targets = await sync_to_async(_targets_for, thread_sensitive=False)(int(match.group(1)))
    breaker = breaker_for_workers()
    await AlertDispatcher(targets, redis=breaker.redis).on_breaker_transition(provider, transition)


def breaker_for_workers() -> RedisCircuitBreaker:
    """One breaker (and one Redis client) per event loop; state is shared through Redis."""
    import redis.asyncio as aioredis

    try:
        key = id(asyncio.get_running_loop())
    except RuntimeError:
        from bots.runtime import bot_loop

        key = id(bot_loop())
    breaker = _breakers.get(key)
    if breaker is None:
        client = aioredis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
        breaker = RedisCircuitBreaker(
            client,
            threshold=settings.KEFU_BREAKER_THRESHOLD,
            pause=settings.KEFU_BREAKER_PAUSE,
            on_transition=_on_transition,
        )
        _breakers[key] = breaker
    return breaker
