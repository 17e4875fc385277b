"""A tiny HTTP/1.1 server on raw asyncio streams, run in a background thread.

Raw streams (rather than a framework) give full control over the failure modes the
adapters must survive: a chunked body cut off without its terminator, keep-alive
comments, slow first bytes.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson

REASONS = {
    200: "OK",
    307: "Temporary Redirect",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


@dataclass
class Behaviour:
    """Failure modes shared by every fake; each fake maps them onto its own protocol."""

    fail_status: int | None = None
    retry_after: float | None = None
    error_json_200: bool = False
    error_mid_stream: bool = False
    keepalive: bool = False
    first_token_delay: float = 0.0
    chunk_delay: float = 0.0
    truncate: bool = False
    chunks: list[str] = field(default_factory=lambda: ["Your order", " shipped", " yesterday."])
    api_key: str | None = None


@dataclass
class Request:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(urlsplit(self.target).query))

    def json(self) -> Any:
        return orjson.loads(self.body) if self.body else None

    def form(self) -> dict[str, Any]:
        """A multipart/form-data body: name -> str, or (filename, content type, bytes) for files."""
        from email.parser import BytesParser
        from email.policy import HTTP

        content_type = self.headers.get("content-type", "")
        if not content_type.startswith("multipart/form-data"):
            return {}
        message = BytesParser(policy=HTTP).parsebytes(
            f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode() + self.body
        )
        fields: dict[str, Any] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            data = part.get_payload(decode=True) or b""
            filename = part.get_filename()
            if filename is not None:
                fields[name] = (filename, part.get_content_type(), data)
            else:
                fields[name] = data.decode()
        return fields


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class StreamResponse:
    chunks: AsyncIterator[bytes]
    status: int = 200
    content_type: str = "text/event-stream"
    headers: dict[str, str] = field(default_factory=dict)
    # Close the socket without the final zero-length chunk: a truncated stream.
    truncate: bool = False


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(status=status, body=orjson.dumps(obj), headers=headers or {})


def sse(data: Any, event: str | None = None, *, space: bool = True) -> bytes:
    sep = ": " if space else ":"
    payload = data if isinstance(data, str) else orjson.dumps(data).decode()
    head = f"event{sep}{event}\n" if event else ""
    return f"{head}data{sep}{payload}\n\n".encode()


Handler = Callable[[Request], Awaitable[Response | StreamResponse]]


class FakeServer:
    """Subclasses implement `handle`. Use as a context manager; `url` is the origin."""

    def __init__(self, behaviour: Behaviour | None = None, port: int = 0) -> None:
        self.behaviour = behaviour or Behaviour()
        self.requests: list[Request] = []
        self._port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def handle(self, request: Request) -> Response | StreamResponse:
        raise NotImplementedError

    def check_auth(self, request: Request) -> bool:
        expected = self.behaviour.api_key
        return expected is None or request.headers.get("authorization") == f"Bearer {expected}"

    # --- lifecycle ---
    def __enter__(self) -> FakeServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            self._server = loop.run_until_complete(
                asyncio.start_server(self._client, "127.0.0.1", self._port, backlog=2048)
            )
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()
            self._server.close()
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.close()

        self._thread = threading.Thread(target=run, daemon=True, name=f"{type(self).__name__}")
        self._thread.start()
        ready.wait(5)

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(5)

    async def serve_forever(self) -> None:
        """Serve on the current loop (used by `python -m` entry points in a separate process)."""
        self._server = await asyncio.start_server(self._client, "127.0.0.1", self._port, backlog=4096)
        self.port = self._server.sockets[0].getsockname()[1]
        async with self._server:
            await self._server.serve_forever()

    # --- protocol ---
    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                if headers.get("transfer-encoding", "").lower() == "chunked":
                    body = await self._read_chunked(reader)
                else:
                    length = int(headers.get("content-length", "0") or 0)
                    body = await reader.readexactly(length) if length else b""
                request = Request(method, target, headers, body)
                self.requests.append(request)
                response = await self.handle(request)
                keep = await self._write(writer, response)
                if not keep or headers.get("connection", "").lower() == "close":
                    return
        except (ConnectionError, asyncio.CancelledError):
            return
        finally:
            writer.close()

    @staticmethod
    async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)

    async def _write(self, writer: asyncio.StreamWriter, response: Response | StreamResponse) -> bool:
        reason = REASONS.get(response.status, "Status")
        head = [f"HTTP/1.1 {response.status} {reason}", f"Content-Type: {response.content_type}"]
        head += [f"{k}: {v}" for k, v in response.headers.items()]
        if isinstance(response, Response):
            head.append(f"Content-Length: {len(response.body)}")
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + response.body)
            await writer.drain()
            return True
        head.append("Transfer-Encoding: chunked")
        head.append("Cache-Control: no-cache")
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
        await writer.drain()
        async for chunk in response.chunks:
            if chunk:
                writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                await writer.drain()
        if response.truncate:
            transport = writer.transport
            transport.abort()
            return False
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True
