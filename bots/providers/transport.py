"""A lean asyncio network backend for httpcore2, used by the providers' pooled clients.

httpcore2's default backend (anyio) pays, on every socket read: a cancel scope with its
own timer, two exception-mapping context managers, an Event, and a pause/resume of the
transport's reading (two epoll_ctl calls). On a token stream that is one read per token,
and it was a quarter of the bot loop's CPU with 500 streams (py-spy). This backend keeps
one protocol per connection that buffers what arrives, wakes a single waiter, and times
a wait with one timer handle only when it has to wait; reading is paused only past a
high-water mark; a request's headers and body leave in one send().

It also answers the pool's "is this idle connection readable?" probe (asked for every
idle connection on every request) from the protocol's state instead of a poll() call.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from asyncio import staggered
from collections.abc import Iterable
from typing import Any

import httpcore2
from httpcore2 import AsyncNetworkBackend, AsyncNetworkStream

HIGH_WATER = 256 * 1024  # bytes buffered before reading pauses
WRITE_BATCH = 64 * 1024  # bytes held back to be sent together at most
HAPPY_EYEBALLS_DELAY = 0.25  # RFC 8305, as anyio's connect_tcp


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.eof = False
        self.error: BaseException | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.write_waiter: asyncio.Future[None] | None = None
        self.paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > HIGH_WATER and self.transport is not None and not self.paused:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.error = exc
        self._wake()
        self.resume_writing()

    def pause_writing(self) -> None:
        if self.write_waiter is None:
            self.write_waiter = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        waiter, self.write_waiter = self.write_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _wake(self) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


async def _wait(future: asyncio.Future[None], timeout: float | None) -> None:
    """Wait for `future` with one timer handle (asyncio.timeout costs a context and a task cancel)."""
    if timeout is None:
        await future
        return
    handle = asyncio.get_running_loop().call_later(timeout, _expire, future)
    try:
        await future
    finally:
        handle.cancel()


class LeanStream(AsyncNetworkStream):
    def __init__(self, transport: asyncio.Transport, protocol: _Protocol) -> None:
        self._transport = transport
        self._protocol = protocol
        self._pending: list[bytes] = []
        self._pending_size = 0

    def _flush(self) -> None:
        if not self._pending:
            return
        data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        self._pending.clear()
        self._pending_size = 0
        if not self._transport.is_closing():
            self._transport.write(data)

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self._flush()  # the request goes out before its answer is awaited
        protocol = self._protocol
        if not protocol.buffer and not protocol.eof:
            waiter = protocol.waiter = asyncio.get_running_loop().create_future()
            try:
                await _wait(waiter, timeout)
            except TimeoutError:
                raise httpcore2.ReadTimeout("read timed out") from None
            finally:
                protocol.waiter = None
        if protocol.buffer:
            data = bytes(protocol.buffer[:max_bytes])
            del protocol.buffer[:max_bytes]
            if protocol.paused and len(protocol.buffer) < HIGH_WATER // 4:
                protocol.paused = False
                self._transport.resume_reading()
            return data
        if protocol.error is not None:
            raise httpcore2.ReadError(str(protocol.error)) from protocol.error
        return b""  # the peer closed: httpcore reads that as the end of the connection

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        protocol = self._protocol
        if protocol.error is not None or self._transport.is_closing():
            raise httpcore2.WriteError("connection closed")
        # A request's headers and body are written separately: held until the next read
        # (or this loop turn's end), they leave in one send() instead of two.
        self._pending.append(buffer)
        self._pending_size += len(buffer)
        if len(self._pending) == 1:
            asyncio.get_running_loop().call_soon(self._flush)
        if self._pending_size >= WRITE_BATCH:
            self._flush()
        waiter = protocol.write_waiter
        if waiter is not None:  # above the transport's high-water mark: let it drain
            try:
                await _wait(asyncio.shield(waiter), timeout)
            except TimeoutError:
                raise httpcore2.WriteTimeout("write timed out") from None
            if protocol.error is not None:
                raise httpcore2.WriteError(str(protocol.error)) from protocol.error

    async def aclose(self) -> None:
        self._flush()
        self._transport.close()

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                        timeout: float | None = None) -> AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        self._flush()
        try:
            async with asyncio.timeout(timeout):
                transport = await loop.start_tls(self._transport, self._protocol, ssl_context,
                                                 server_hostname=server_hostname, ssl_handshake_timeout=timeout)
        except TimeoutError:
            self._transport.close()
            raise httpcore2.ConnectTimeout("TLS handshake timed out") from None
        except (OSError, ssl.SSLError, ConnectionError) as exc:
            self._transport.close()
            raise httpcore2.ConnectError(str(exc)) from exc
        if transport is None:  # pragma: no cover - the peer closed during the handshake
            raise httpcore2.ConnectError("connection closed during the TLS handshake")
        self._protocol.transport = transport  # type: ignore[assignment]
        return LeanStream(transport, self._protocol)  # type: ignore[arg-type]

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            # An idle HTTP/1.1 connection that has data or EOF waiting was closed by the server.
            return bool(self._protocol.buffer) or self._protocol.eof
        if info == "ssl_object":
            return self._transport.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._transport.get_extra_info("sockname")
        if info == "server_addr":
            return self._transport.get_extra_info("peername")
        if info == "socket":
            return self._transport.get_extra_info("socket")
        return None


async def _connect_socket(loop: asyncio.AbstractEventLoop, info: tuple[Any, ...],
                          local_address: str | None) -> socket.socket:
    family, type_, proto, _name, address = info
    sock = socket.socket(family, type_, proto)
    try:
        sock.setblocking(False)
        if local_address is not None:
            sock.bind((local_address, 0))
        await loop.sock_connect(sock, address)
    except BaseException:
        sock.close()
        raise
    return sock


def _interleave(infos: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Alternate address families, first family first (RFC 8305)."""
    by_family: dict[int, list[tuple[Any, ...]]] = {}
    for info in infos:
        by_family.setdefault(info[0], []).append(info)
    queues = list(by_family.values())
    out = []
    while any(queues):
        for queue in queues:
            if queue:
                out.append(queue.pop(0))
    return out


class LeanBackend(AsyncNetworkBackend):
    async def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None) -> AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
                if not infos:
                    raise OSError(f"no address for {host}")
                candidates = _interleave(infos)
                sock, _index, errors = await staggered.staggered_race(
                    [lambda info=info: _connect_socket(loop, info, local_address) for info in candidates],
                    HAPPY_EYEBALLS_DELAY)
                if sock is None:
                    raise (errors[0] if errors and errors[0] else OSError(f"could not connect to {host}:{port}"))
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                for option in socket_options or ():
                    sock.setsockopt(*option)
                transport, protocol = await loop.create_connection(_Protocol, sock=sock)
        except TimeoutError:
            raise httpcore2.ConnectTimeout(f"connecting to {host}:{port} timed out") from None
        except OSError as exc:
            raise httpcore2.ConnectError(str(exc)) from exc
        return LeanStream(transport, protocol)  # type: ignore[arg-type]

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[Any] | None = None) -> AsyncNetworkStream:
        from httpcore2._backends.anyio import AnyIOBackend

        return await AnyIOBackend().connect_unix_socket(path, timeout=timeout, socket_options=socket_options)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
