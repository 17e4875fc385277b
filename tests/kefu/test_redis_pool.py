"""Django's cache shares one Redis pool per process across async contexts."""

from __future__ import annotations

import contextvars

import pytest
import redis
from django.conf import settings
from django.core.cache import cache, caches

pytestmark = [pytest.mark.redis]


def _connections_made() -> int:
    return int(redis.Redis.from_url(settings.REDIS_URL).info("stats")["total_connections_received"])


def test_new_contexts_reuse_the_process_pool():
    # Socket frames and requests reach the database thread pool in copied contexts, where
    # Django builds a fresh cache backend; without a shared pool each one connected anew.
    cache.set("pool-probe", 1)
    before = _connections_made()
    backends = []  # held, like the backends of concurrent sockets and requests
    for _ in range(40):
        backend = contextvars.Context().run(lambda: caches["default"])
        assert backend.get("pool-probe") == 1
        backends.append(backend)
    assert len({id(b) for b in backends}) == 40
    assert _connections_made() - before <= 3
