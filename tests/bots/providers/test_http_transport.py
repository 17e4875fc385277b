"""The providers' HTTP transport (the SDK's aiohttp transport): TLS, streaming, keep-alive, closes, errors."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bots.interface import ProviderTimeout
from bots.providers.base import _new_client, http_client, transport_error

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    return await reader.readuntil(b"\r\n\r\n")


@asynccontextmanager
async def serve(
    handler: Handler, ssl_context: ssl.SSLContext | None = None, host: str = "127.0.0.1"
) -> AsyncIterator[int]:
    server = await asyncio.start_server(handler, host, 0, ssl=ssl_context)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


def _certificate(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_path, key_path)
    client = ssl.create_default_context(cafile=str(cert_path))
    return server, client


def _client(ssl_context: ssl.SSLContext | None = None) -> httpx2.AsyncClient:
    return _new_client(ssl_context)


async def _stream_chunks(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        try:
            await _read_request(reader)
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
        for i in range(5):
            data = f"data: {i}\n\n".encode()
            writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            await writer.drain()
            await asyncio.sleep(0.01)
        writer.write(b"0\r\n\r\n")
        await writer.drain()


async def test_streams_a_chunked_body_over_tls_and_reuses_the_connection(tmp_path: Path) -> None:
    server_ctx, client_ctx = _certificate(tmp_path)
    peers: set[tuple] = set()

    async def counted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peers.add(writer.get_extra_info("peername"))
        await _stream_chunks(reader, writer)

    async with serve(counted, server_ctx) as port, _client(client_ctx) as client:
        for _ in range(2):
            async with client.stream("POST", f"https://localhost:{port}/v1/x", content=b"{}") as response:
                body = b"".join([chunk async for chunk in response.aiter_bytes()])
            assert response.status_code == 200 and body == b"".join(f"data: {i}\n\n".encode() for i in range(5))
    assert len(peers) == 1  # the second request reused the kept-alive connection


async def test_an_untrusted_certificate_is_refused(tmp_path: Path) -> None:
    server_ctx, _client_ctx = _certificate(tmp_path)
    async with serve(_stream_chunks, server_ctx) as port, _client() as client:
        with pytest.raises(httpx2.HTTPError) as caught:
            await client.post(f"https://localhost:{port}/v1/x", content=b"{}")
    assert "certificate" in str(caught.value).lower()


async def test_a_large_body_arrives_whole_to_a_slow_reader() -> None:
    size = 6 * 256 * 1024

    async def big(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n".encode() + b"x" * size)
        await writer.drain()

    async with serve(big) as port, _client() as client:
        async with client.stream("GET", f"http://127.0.0.1:{port}/") as response:
            received = 0
            async for chunk in response.aiter_bytes():
                received += len(chunk)
                await asyncio.sleep(0)  # a slow consumer lets the buffer fill
    assert received == size


async def test_an_idle_connection_closed_by_the_server_is_not_reused() -> None:
    connections = 0

    async def once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()  # keep-alive promised, then closed

    async with serve(once) as port, _client() as client:
        for _ in range(3):
            response = await client.post(f"http://127.0.0.1:{port}/", content=b"{}")
            assert response.content == b"ok"
            await asyncio.sleep(0.05)
    assert connections == 3


async def test_a_truncated_chunked_body_is_an_error_not_an_ending() -> None:
    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
        await writer.drain()
        writer.close()

    async with serve(cut) as port, _client() as client:
        with pytest.raises(httpx2.HTTPError) as caught:
            async with client.stream("POST", f"http://127.0.0.1:{port}/", content=b"{}") as response:
                async for _chunk in response.aiter_bytes():
                    pass
    error = transport_error(caught.value)
    assert error.transient and not isinstance(error, ProviderTimeout)


async def test_refused_and_silent_servers_map_to_provider_errors() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)

    async with _client() as client:
        with pytest.raises(httpx2.HTTPError) as caught:
            await client.post("http://127.0.0.1:9/", content=b"{}")
    refused = transport_error(caught.value)
    assert refused.transient and not isinstance(refused, ProviderTimeout)
    assert "refused" in str(refused).lower() or "connect call failed" in str(refused).lower()
    async with serve(silent) as port, _client() as client:
        with pytest.raises(httpx2.HTTPError) as caught:
            await client.post(f"http://127.0.0.1:{port}/", content=b"{}", timeout=httpx2.Timeout(5.0, read=0.1))
    assert isinstance(transport_error(caught.value), ProviderTimeout)


async def test_a_name_with_several_addresses_falls_back_between_them() -> None:
    async def hello(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
        await writer.drain()

    # localhost may resolve to ::1 first; the server only listens on IPv4.
    async with serve(hello) as port, _client() as client:
        response = await client.get(f"http://localhost:{port}/")
    assert response.content == b"hello"


async def test_the_provider_pools_use_the_configured_transport() -> None:
    """Both backends sit behind the SSRF guard: aiohttp with the guarded resolver, httpcore
    with the guarded network backend (these are the internals kefu.outbound adapts)."""
    from django.conf import settings
    from openai._vendor.httpx_aiohttp import AiohttpTransport

    from bots.providers.base import set_http_backend
    from kefu import outbound

    # BotsConfig.ready() hands the setting to the provider layer, which reads no settings.
    assert settings.KEFU_BOT_HTTP_BACKEND == "aiohttp"
    transport = http_client()._transport
    assert isinstance(transport, outbound._GuardTransport) and isinstance(transport.inner, AiohttpTransport)
    set_http_backend("httpx")
    try:
        client = _new_client()
        transport = client._transport
        assert isinstance(transport, outbound._GuardTransport)
        assert isinstance(transport.inner, httpx2.AsyncHTTPTransport)
        assert isinstance(transport.inner._pool._network_backend, outbound._GuardedAsyncBackend)
        await client.aclose()
    finally:
        set_http_backend("aiohttp")
    with pytest.raises(ValueError):
        set_http_backend("requests")
