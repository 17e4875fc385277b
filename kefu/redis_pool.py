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

import hiredis
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
    """A bare Redis connection for PUBLISH batches on one event loop.

    redis-py's asyncio client costs several times the write itself per batch (pipeline
    object, pool lock, a probing read on checkout, a timeout context per reply); PUBLISH
    needs none of it: the commands of a batch go out in one write and their replies are
    read back in order. hiredis (redis-py's own parser) encodes and parses the protocol.
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.lost = False
        self._reader = hiredis.Reader()
        self._waiting: deque[tuple[int, list[Any], asyncio.Future[list[Any]]]] = deque()

    @classmethod
    async def open(cls, address: str) -> PublishConnection:
        """Connect to a plain `redis://[user:password@]host[:port]` address (and log in)."""
        url = urlsplit(address)
        if url.scheme != "redis":
            raise ValueError(f"unsupported Redis address scheme {url.scheme!r}")
        loop = asyncio.get_running_loop()
        _transport, conn = await loop.create_connection(cls, url.hostname or "localhost", url.port or 6379)
        if url.password is not None:
            user = [unquote(url.username)] if url.username else []
            (reply,) = await conn.call([("AUTH", *user, unquote(url.password))])
            if reply != b"OK":
                conn.close()
                raise ConnectionError(f"Redis refused the login: {str(reply)[:100]}")
        return conn

    @staticmethod
    def is_supported(host: dict[str, Any]) -> bool:
        """Only a plain address with no other connection options; the rest keeps redis-py."""
        return set(host) <= {"address", "max_connections"} and str(host.get("address", "")).startswith("redis://")

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        while self._waiting:
            count, replies, future = self._waiting[0]
            while len(replies) < count:
                reply = self._reader.gets()
                if reply is False:  # incomplete: wait for more data
                    return
                replies.append(reply)
            self._waiting.popleft()
            if not future.done():
                future.set_result(replies)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        for _count, _replies, future in self._waiting:
            if not future.done():
                future.set_exception(ConnectionError("Redis connection lost"))
        self._waiting.clear()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    async def call(self, commands: list[tuple[str | bytes, ...]]) -> list[Any]:
        """Send commands in one write; their replies in order (hiredis.ReplyError for errors)."""
        if self.lost or self.transport is None:
            raise ConnectionError("Redis connection lost")
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._waiting.append((len(commands), [], future))
        # hiredis' stub declares a one-element tuple; pack_command takes any number of parts.
        packed = [hiredis.pack_command(command) for command in commands]  # type: ignore[arg-type]
        self.transport.write(b"".join(packed))
        return await future
