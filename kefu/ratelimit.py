"""Rate limits: a token bucket per socket, and shared fixed-window counters per identity.

The per-socket bucket lives in memory and costs nothing per frame. The shared counters
(per visitor, per IP) live in the cache, which is Redis when there are several
processes; they are only touched on paths that already leave the event loop (connect
authorization, message writes). A cache outage fails open: availability of the chat
matters more than a limit that Redis cannot count for a minute.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.cache.backends.redis import RedisCache

logger = logging.getLogger(__name__)


class TokenBucket:
    """`capacity` frames at once, refilled at `rate` per second."""

    __slots__ = ("capacity", "rate", "tokens", "stamp")

    def __init__(self, capacity: float, rate: float) -> None:
        self.capacity, self.rate = capacity, rate
        self.tokens = capacity
        self.stamp = time.monotonic()

    def take(self, cost: float = 1.0) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= cost:
            self.tokens -= cost
            return True
        return False


class LocalWindowCounter:
    """Per-process counters for the cheapest checks (connects before any thread hop)."""

    def __init__(self, limit_per_minute: int, max_keys: int = 50_000) -> None:
        self.limit = limit_per_minute
        self.max_keys = max_keys
        self._counts: OrderedDict[tuple[str, int], int] = OrderedDict()

    def hit(self, key: str) -> bool:
        if self.limit <= 0:
            return True
        window = int(time.time() // 60)
        slot = (key, window)
        count = self._counts.pop(slot, 0) + 1
        self._counts[slot] = count
        while len(self._counts) > self.max_keys:
            self._counts.popitem(last=False)
        return count <= self.limit


def hit(scope: str, key: object, limit_per_minute: int) -> bool:
    """Count one event in the shared fixed window; False when over the limit. Sync: call from a thread."""
    if limit_per_minute <= 0:
        return True
    window = int(time.time() // 60)
    cache_key = f"rl:{scope}:{key}:{window}"
    try:
        if cache.add(cache_key, 1, timeout=70):
            count = 1
        else:
            count = cache.incr(cache_key)
    except Exception:
        logger.warning("rate limit counter unavailable; allowing", exc_info=True)
        return True
    return count <= limit_per_minute


def hit_all(*checks: tuple[str, object, int]) -> bool:
    """Count one event on each (scope, key, limit) counter; False when any is over its limit.

    With Redis every counter is bumped in one pipelined round trip (INCR + EXPIRE NX),
    which matters on the connect path of a reconnect storm. Sync: call from a thread.
    """
    return hit_each([checks])[0]


def hit_each(events: list[tuple[tuple[str, object, int], ...]]) -> list[bool]:
    """hit_all for several events at once (a batch of messages): one round trip for all."""
    window = int(time.time() // 60)
    live = [[(f"rl:{scope}:{key}:{window}", limit) for scope, key, limit in checks if limit > 0] for checks in events]
    if not any(live):
        return [True] * len(events)
    if not isinstance(cache, RedisCache):
        return [all([hit(scope, key, limit) for scope, key, limit in checks]) for checks in events]
    try:
        client = cache._cache.get_client(write=True)
        pipe = client.pipeline(transaction=False)
        for counters in live:
            for key, _limit in counters:
                full_key = cache.make_and_validate_key(key)
                pipe.incr(full_key)
                pipe.expire(full_key, 70, nx=True)
        counts = iter(pipe.execute()[0::2])
    except Exception:
        logger.warning("rate limit counter unavailable; allowing", exc_info=True)
        return [True] * len(events)
    # Every counter is consumed, even after one over its limit, as for a lone event.
    return [all([int(next(counts)) <= limit for _key, limit in counters]) for counters in live]


def _trusted(peer: str) -> bool:
    proxies = settings.KEFU_TRUSTED_PROXIES
    if not proxies or not peer:
        return False
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    for entry in proxies:
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def client_ip(peer: str | None, forwarded_for: str | None) -> str:
    """The client address; X-Forwarded-For counts only when the peer is a trusted proxy.

    Walks the header from the right and stops at the first address that is not one of
    our proxies, so a client cannot prepend a forged address to get a fresh limit.
    """
    peer = peer or ""
    if not forwarded_for or not _trusted(peer):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer
    return peer


def scope_client_ip(scope: Mapping[str, Any]) -> str:
    client = scope.get("client") or (None, None)
    forwarded = None
    for name, value in scope.get("headers", []):
        if name == b"x-forwarded-for":
            forwarded = value.decode("latin-1")
            break
    return client_ip(client[0], forwarded)
