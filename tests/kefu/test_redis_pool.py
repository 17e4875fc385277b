"""Django's cache shares one Redis pool per process; bare connections publish batches."""

from __future__ import annotations

import asyncio
import contextvars
import shutil
import subprocess

import hiredis
import pytest
import redis
import redis.asyncio
from django.conf import settings
from django.core.cache import cache, caches

from kefu.redis_pool import PublishConnection
from tests.liveserver import free_port_in

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


async def test_publish_connection_sends_a_batch_in_order_and_counts_the_replies():
    listener = redis.asyncio.Redis.from_url(settings.REDIS_URL)
    pubsub = listener.pubsub()
    await pubsub.subscribe("kefu-test-publish")
    conn = await PublishConnection.open(settings.REDIS_URL)
    try:
        payloads = [b"one", "二".encode(), b"\r\n$3\r\nodd", b"x" * 100_000]
        replies = await conn.call([(b"PUBLISH", b"kefu-test-publish", p) for p in payloads])
        assert replies == [1] * 4
        got = []
        while len(got) < 4:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=2)
            if message:
                got.append(message["data"])
        assert got == payloads
        assert (await conn.call([(b"PUBLISH", b"kefu-test-nobody", b"z")])) == [0]
        # An error reply keeps its place: the replies after it still line up.
        refused, after = await conn.call([(b"PUBLISH", b"c"), (b"PUBLISH", b"kefu-test-nobody", b"z")])
        assert isinstance(refused, hiredis.ReplyError) and "wrong number" in str(refused) and after == 0
    finally:
        conn.close()
        await pubsub.aclose()
        await listener.aclose()


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="NOT RUN: redis-server binary missing")
async def test_publish_connection_logs_in_and_notices_a_closed_server():
    port = free_port_in(range(8191, 8199))
    subprocess.run(
        [
            "redis-server",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "yes",
            "--requirepass",
            "s3cret",
        ],
        check=True,
    )
    try:
        for _ in range(50):
            try:
                conn = await PublishConnection.open(f"redis://:s3cret@127.0.0.1:{port}/0")
                break
            except OSError:
                await asyncio.sleep(0.1)
        assert await conn.call([(b"PUBLISH", b"c", b"p")]) == [0]
        with pytest.raises(ConnectionError):
            await PublishConnection.open(f"redis://:wrong@127.0.0.1:{port}/0")
        subprocess.run(
            ["redis-cli", "-p", str(port), "-a", "s3cret", "--no-auth-warning", "shutdown", "nosave"],
            check=False,
            capture_output=True,
        )
        for _ in range(50):
            if conn.lost:
                break
            await asyncio.sleep(0.1)
        with pytest.raises(ConnectionError):
            await conn.call([(b"PUBLISH", b"c", b"p")])
    finally:
        subprocess.run(
            ["redis-cli", "-p", str(port), "-a", "s3cret", "--no-auth-warning", "shutdown", "nosave"],
            check=False,
            capture_output=True,
        )


def test_only_plain_addresses_use_the_bare_connection():
    assert PublishConnection.is_supported({"address": "redis://h:1/0", "max_connections": 10})
    assert not PublishConnection.is_supported({"address": "rediss://h:1/0"})
    assert not PublishConnection.is_supported({"address": "redis://h:1/0", "ssl_cert_reqs": None})
    assert not PublishConnection.is_supported({"host": "h", "port": 1})
