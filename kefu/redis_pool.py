"""One Redis connection pool per process for Django's cache.

Django keeps a cache backend per async context (asgiref Local), and every backend
builds its own connection pool: each socket and each request opened, health-checked
and dropped a Redis connection of its own (a reconnect storm spent a sixth of its CPU
connecting). Handing every backend the same pool keeps connections few and reused.
"""

from __future__ import annotations

import threading
from typing import Any

import redis

_pools: dict[tuple[str, str], redis.ConnectionPool] = {}
_lock = threading.Lock()


class SharedConnectionPool(redis.ConnectionPool):
    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> Any:
        key = (url, repr(sorted(kwargs.items(), key=lambda item: item[0])))
        with _lock:
            pool = _pools.get(key)
            if pool is None:
                pool = _pools[key] = redis.ConnectionPool.from_url(url, **kwargs)
        return pool
