"""Redis connections of a process: one pool for Django's cache, bare publish connections.

Django keeps a cache backend per async context (asgiref Local), and every backend
builds its own connection pool: each socket and each request opened, health-checked
and dropped a Redis connection of its own (a reconnect storm spent a sixth of its CPU
connecting). Handing every backend the same pool keeps connections few and reused.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from typing import Any
from urllib.parse import unquote, urlsplit

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


class PublishConnection(asyncio.Protocol):
    """A bare RESP2 connection for PUBLISH batches on one event loop.

    redis-py's asyncio client costs several times the write itself per batch (pipeline
    object, pool lock, a probing read on checkout, a timeout context per reply); PUBLISH
    needs none of it: the commands of a batch go out in one write and their one-line
    replies are counted back.
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.lost = False
        self._buffer = bytearray()
        self._waiting: deque[tuple[int, asyncio.Future[list[bytes]]]] = deque()

    @classmethod
    async def open(cls, address: str) -> PublishConnection:
        """Connect to a plain `redis://[user:password@]host[:port]` address (and log in)."""
        url = urlsplit(address)
        if url.scheme != "redis":
            raise ValueError(f"unsupported Redis address scheme {url.scheme!r}")
        loop = asyncio.get_running_loop()
        _transport, conn = await loop.create_connection(cls, url.hostname or "localhost", url.port or 6379)
        if url.password is not None:
            user = [unquote(url.username).encode()] if url.username else []
            login = [b"AUTH", *user, unquote(url.password).encode()]
            (reply,) = await conn.call([login])
            if not reply.startswith(b"+"):
                conn.close()
                raise ConnectionError(f"Redis refused the login: {reply[:100]!r}")
        return conn

    @staticmethod
    def is_supported(host: dict[str, Any]) -> bool:
        """Only a plain address with no other connection options; the rest keeps redis-py."""
        return set(host) <= {"address", "max_connections"} and str(host.get("address", "")).startswith("redis://")

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while self._waiting:
            count, future = self._waiting[0]
            lines, end = [], 0
            for _ in range(count):
                nl = self._buffer.find(b"\r\n", end)
                if nl < 0:
                    return
                lines.append(bytes(self._buffer[end:nl]))
                end = nl + 2
            del self._buffer[:end]
            self._waiting.popleft()
            if not future.done():
                future.set_result(lines)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        for _count, future in self._waiting:
            if not future.done():
                future.set_exception(ConnectionError("Redis connection lost"))
        self._waiting.clear()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    async def call(self, commands: list[list[bytes]]) -> list[bytes]:
        """Send commands whose replies are one line each (integers, +OK, -errors)."""
        if self.lost or self.transport is None:
            raise ConnectionError("Redis connection lost")
        future: asyncio.Future[list[bytes]] = asyncio.get_running_loop().create_future()
        self._waiting.append((len(commands), future))
        self.transport.write(b"".join(
            b"*%d\r\n%s" % (len(args), b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)) for args in commands))
        return await future
