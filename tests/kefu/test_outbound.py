"""The guarded outbound client (kefu.outbound): private targets refused unless allow-listed,
the checked address connected to with one lookup, redirects not followed."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Any

import httpx2
import pytest

from kefu import outbound
from kefu.outbound import OutboundURLRefused, check_url
from tests.fakes.http import FakeServer, Request, Response
from tests.fakes.redirect_server import FakeRedirect


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/v1",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/v1",
        "http://192.168.0.1/",
        "http://172.16.5.5/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://[2002:7f00:1::1]/",
        "http://[fe80::1]/",
        "http://[fc00::1]/",
        "http://[ff02::1]/",
        "http://0.0.0.0/",
        "http://[::]/",
        "http://224.0.0.1/",
        "http://localhost:11434/v1",
        "http://100.64.0.1/",
        "http://2130706433/",
    ],
)
def test_private_targets_are_refused(url: str) -> None:
    with pytest.raises(OutboundURLRefused):
        check_url(url)


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "gopher://127.0.0.1/", "ftp://example.com/", "http:///x", "http://user:pw@8.8.8.8/"]
)
def test_bad_schemes_and_shapes_are_refused(url: str) -> None:
    with pytest.raises(OutboundURLRefused):
        check_url(url)


def test_public_ip_passes() -> None:
    assert [str(a) for a in check_url("https://8.8.8.8/v1")] == ["8.8.8.8"]
    assert outbound.is_public(ipaddress.ip_address("2606:4700:4700::1111"))


def test_allowlist_by_host_and_by_network() -> None:
    check_url("http://127.0.0.1:8300/v1", allowlist=["127.0.0.1"])
    check_url("http://localhost:11434/v1", allowlist=["localhost"])
    check_url("http://10.1.2.3/v1", allowlist=["10.0.0.0/8"])
    check_url("http://10.1.2.3/v1", allowlist=lambda: ["10.0.0.0/8"])
    with pytest.raises(OutboundURLRefused):
        check_url("http://10.1.2.3/v1", allowlist=["192.168.0.0/16"])
    with pytest.raises(OutboundURLRefused):
        check_url("http://169.254.169.254/", allowlist=["127.0.0.1"])


def test_a_name_with_one_public_and_one_private_address_is_refused() -> None:
    policy = outbound.OutboundPolicy(getaddrinfo=_dns({"mixed.test": ["8.8.8.8", "10.0.0.7"]}))
    with pytest.raises(OutboundURLRefused, match="10.0.0.7"):
        policy.check_url("https://mixed.test/")


def test_without_resolving_only_literals_are_checked() -> None:
    assert check_url("http://no-such-host.invalid/", resolve=False) == []
    with pytest.raises(OutboundURLRefused):
        check_url("http://127.0.0.1/", resolve=False)


# --- the clients, against fakes on 127.0.0.1 ----------------------------------------------


class Hello(FakeServer):
    async def handle(self, request: Request) -> Response:
        return Response(200, b"hello", "text/plain")


def _dns(table: dict[str, list[str]], calls: list[str] | None = None) -> Any:
    """A fake getaddrinfo answering from `table`."""

    def getaddrinfo(host: str, port: int, family: int = 0, type: int = 0, *_: Any) -> list[Any]:
        if calls is not None:
            calls.append(host)
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in table[host]
        ]

    return getaddrinfo


BACKENDS = ["aiohttp", "httpx", "sync"]


async def _get(backend: str, url: str, **options: Any) -> httpx2.Response:
    if backend == "sync":

        def run() -> httpx2.Response:
            with outbound.sync_client(**options) as client:
                return client.get(url)

        return await asyncio.to_thread(run)
    async with outbound.async_client(backend=backend, **options) as client:
        return await client.get(url)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_loopback_is_refused_unless_allowed(backend: str) -> None:
    with Hello() as server:
        with pytest.raises(OutboundURLRefused):
            await _get(backend, server.url, allowlist=[])
        assert server.requests == []
        response = await _get(backend, server.url, allowlist=["127.0.0.1"])
    assert response.text == "hello"


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_name_that_resolves_to_a_private_address_is_refused(backend: str) -> None:
    with Hello() as server:
        # Real resolution (/etc/hosts): localhost is 127.0.0.1 and ::1.
        with pytest.raises(OutboundURLRefused, match="non-public"):
            await _get(backend, f"http://localhost:{server.port}/", allowlist=[])
        # A public-looking name whose DNS answer is the metadata service.
        with pytest.raises(OutboundURLRefused, match="169.254.169.254"):
            await _get(
                backend,
                f"http://cdn.example.com:{server.port}/",
                allowlist=[],
                getaddrinfo=_dns({"cdn.example.com": ["169.254.169.254"]}),
            )
    assert server.requests == []


@pytest.mark.parametrize("backend", BACKENDS)
async def test_the_checked_address_is_connected_to_without_a_second_lookup(backend: str) -> None:
    calls: list[str] = []
    with Hello() as server:
        # The name exists only in the fake DNS: a second lookup through the system would fail.
        response = await _get(
            backend,
            f"http://rebind.invalid:{server.port}/",
            allowlist=["127.0.0.0/8"],
            getaddrinfo=_dns({"rebind.invalid": ["127.0.0.1"]}, calls),
        )
    assert response.text == "hello"
    assert calls == ["rebind.invalid"]


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_rebinding_answer_cannot_reach_a_refused_address(backend: str) -> None:
    """The first answer is allowed (127.0.0.2, nothing listens), every later one is the
    refused 127.0.0.1: connecting by name after checking would reach the server."""
    answers = iter([["127.0.0.2"]])

    def rebinding(host: str, port: int, *_: Any) -> list[Any]:
        address = next(answers, ["127.0.0.1"])[0]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    with Hello() as server:
        # aiohttp's transport reports a refused connection as ConnectTimeout.
        with pytest.raises((httpx2.ConnectError, httpx2.ConnectTimeout)):
            await _get(backend, f"http://rebind.invalid:{server.port}/", allowlist=["127.0.0.2"], getaddrinfo=rebinding)
    assert server.requests == []


@pytest.mark.parametrize("backend", BACKENDS)
async def test_redirects_are_not_followed_and_each_followed_hop_is_checked(backend: str) -> None:
    with Hello() as internal, FakeRedirect(f"{internal.url}/admin") as hop:
        url = f"http://localhost:{hop.port}/"  # the operator allows this name, not 127.0.0.1
        response = await _get(backend, url, allowlist=["localhost"])
        assert response.status_code == 307
        with pytest.raises(OutboundURLRefused):
            await _get(backend, url, allowlist=["localhost"], follow_redirects=True)
        assert len(hop.requests) == 2
    assert internal.requests == []


async def test_unix_sockets_and_environment_proxies_are_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    with Hello() as server:
        # A proxy would see the target instead of the guard: the environment's is ignored.
        monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
        monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
        response = await _get("httpx", server.url, allowlist=["127.0.0.1"])
    assert response.text == "hello"


def test_the_refusal_is_found_behind_wrapping_errors() -> None:
    refused = OutboundURLRefused("nope")
    try:
        try:
            raise refused
        except OutboundURLRefused as exc:
            raise RuntimeError("Connection error.") from exc
    except RuntimeError as wrapped:
        assert outbound.refusal_in(wrapped) is refused
    assert outbound.refusal_in(RuntimeError("x")) is None
    assert isinstance(refused, httpx2.ConnectError) and isinstance(refused, ValueError)
    assert refused.code == "outbound_url_refused"


async def test_the_shared_client_reads_the_allow_list_from_settings(settings) -> None:  # noqa: ANN001
    with Hello() as server:
        settings.KEFU_OUTBOUND_ALLOWLIST = []
        with pytest.raises(OutboundURLRefused):
            await outbound.shared_async_client().get(server.url)
        settings.KEFU_OUTBOUND_ALLOWLIST = ["127.0.0.1"]
        response = await outbound.shared_async_client().get(server.url)
    assert response.text == "hello"
    await outbound.close_shared_async_client()
