"""The one guarded HTTP client for every URL a tenant can aim the server at (SSRF guard).

AI providers, embeddings, business hooks, alert channels, outbound webhooks and channel
APIs all send through a client built here. A tenant chooses those URLs, so without a
guard a tenant admin could make the server reach its own loopback, the private network
or a cloud metadata service (169.254.169.254).

How the guard works:

- The scheme must be http or https; URLs with credentials or without a host are refused.
- The host is resolved once, at connect time, inside the transport; every address it
  resolves to must be public (not loopback, private, link-local, CGNAT, multicast,
  reserved, unspecified, nor an IPv4-mapped / NAT64 / 6to4 / Teredo wrapping of one)
  unless the operator allows it (below). A name with one public and one private
  address is refused.
- The connection is opened to the address that was checked, never by name again, so a
  DNS answer that changes between the check and the connect (rebinding) cannot slip
  through. TLS still verifies the certificate against the host name (SNI).
- Clients do not follow redirects (the 3xx response is returned). A caller that turns
  `follow_redirects=True` on still gets every hop checked: each hop is a new request
  through the same transport.
- Environment proxies (HTTP_PROXY...) are ignored: through a proxy the guard could not
  see the address finally reached.

The operator's allow-list (KEFU_OUTBOUND_ALLOWLIST) lets tenants reach chosen internal
hosts, such as an on-premises model server. Entries are host names (`ollama.internal`),
domain suffixes (`.corp.example`), addresses or networks (`10.0.0.0/8`, `127.0.0.1`). A
name listed by name is allowed whatever it resolves to; otherwise each address must be
public or inside a listed network.

API (nothing here reads Django settings except `settings_allowlist` and
`shared_async_client`, so the provider layer can use the rest without Django):

    from kefu import outbound

    # async, pooled; backend "aiohttp" (the default, cheapest per request) or "httpx"
    client = outbound.async_client(allowlist=outbound.settings_allowlist)
    response = await client.post(url, json=payload, timeout=5.0)

    # the running loop's pooled client with KEFU_OUTBOUND_ALLOWLIST (hooks, alerts, webhooks)
    response = await outbound.shared_async_client().post(url, content=body, timeout=5.0)

    # sync (Celery tasks, the embeddings SDK client)
    with outbound.sync_client(allowlist=outbound.settings_allowlist, timeout=10.0) as client:
        client.post(url, content=body)

    # an early, friendly check for a form or a test button (resolves; the transport
    # checks again at connect time, which is what makes it safe)
    outbound.check_url(url, allowlist=settings.KEFU_OUTBOUND_ALLOWLIST)

`allowlist` is a list of entries or a callable returning one (read on each new
connection, so a settings change applies to the next connection). Refusals raise
`OutboundURLRefused`: an `httpx2.ConnectError` (so code that handles transport errors
handles it) and a `ValueError`, with `code = "outbound_url_refused"`. Clients that wrap
errors (the OpenAI SDK turns it into `APIConnectionError`) keep it as `__cause__`;
`refusal_in(exc)` finds it.

This module is the adapter to two libraries' internals, kept here alone: httpx2's
transports hold their connection pool in `_pool` (replaced by one with a guarded network
backend), and the aiohttp transport is the one vendored by the OpenAI SDK (pinned in
requirements.txt). tests/kefu/test_outbound.py fails loudly if either changes shape.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ipaddress
import socket
import ssl
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import aiohttp
import httpcore2
import httpx2
from aiohttp.abc import AbstractResolver, ResolveResult

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
AllowList = Iterable[str] | Callable[[], Iterable[str]]
GetAddrInfo = Callable[..., list[Any]]
Backend = Literal["aiohttp", "httpx"]

REFUSED_CODE = "outbound_url_refused"
DEFAULT_TIMEOUT = httpx2.Timeout(30.0, connect=5.0)
DEFAULT_LIMITS = httpx2.Limits(max_connections=100, max_keepalive_connections=20)

_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class OutboundURLRefused(httpx2.ConnectError, ValueError):
    """The guard refused to connect: a scheme, host or address a tenant may not reach."""

    code = REFUSED_CODE

    def __init__(self, message: str) -> None:
        super().__init__(message)


def refusal_in(exc: BaseException) -> OutboundURLRefused | None:
    """The guard's refusal behind `exc` (itself, or a cause or context of it), if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, OutboundURLRefused):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def settings_allowlist() -> list[str]:
    """KEFU_OUTBOUND_ALLOWLIST from Django settings, read when called (pass the function itself)."""
    from django.conf import settings

    return list(getattr(settings, "KEFU_OUTBOUND_ALLOWLIST", []) or [])


def _embedded_ipv4(address: IPAddress) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address carries and a network may route to."""
    if not isinstance(address, ipaddress.IPv6Address):
        return []
    found: list[ipaddress.IPv4Address] = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)
    if address in _NAT64:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def is_public(address: IPAddress) -> bool:
    """A globally routable unicast address, and so is every IPv4 address it wraps."""
    for candidate in (address, *_embedded_ipv4(address)):
        if (
            candidate.is_private
            or candidate.is_loopback
            or candidate.is_link_local
            or candidate.is_reserved
            or candidate.is_multicast
            or candidate.is_unspecified
            or not candidate.is_global
        ):
            return False
    return True


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None


@dataclass(frozen=True)
class OutboundPolicy:
    """What may be reached: the allow-list, and the resolver (tests pass a fake DNS)."""

    allowlist: AllowList = ()
    getaddrinfo: GetAddrInfo | None = None  # None: socket.getaddrinfo, looked up at each call

    def _getaddrinfo(self, host: str, port: int, family: int) -> list[Any]:
        lookup = self.getaddrinfo or socket.getaddrinfo
        return lookup(host, port, family, socket.SOCK_STREAM)

    def entries(self) -> list[str]:
        raw = self.allowlist() if callable(self.allowlist) else self.allowlist
        return [entry.strip().lower() for entry in raw if entry and entry.strip()]

    def _name_allowed(self, host: str, entries: list[str]) -> bool:
        return any(entry == host or (entry.startswith(".") and host.endswith(entry)) for entry in entries)

    def check_addresses(self, host: str, addresses: list[IPAddress]) -> None:
        """Raise unless every address is public or inside an allow-listed network."""
        host = host.lower().rstrip(".")
        entries = self.entries()
        if self._name_allowed(host, entries):
            return
        if not addresses:
            raise OutboundURLRefused(f"{host} resolves to no address")
        networks = []
        for entry in entries:
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                continue
        refused = [
            str(address)
            for address in addresses
            if not is_public(address) and not any(address in network for network in networks)
        ]
        if refused:
            raise OutboundURLRefused(f"{host} resolves to non-public address {', '.join(refused)}")

    def check_target(self, scheme: str, host: str) -> None:
        """The checks that need no DNS: scheme, host present, and an address literal's address."""
        if scheme not in ("http", "https"):
            raise OutboundURLRefused(f"scheme {scheme!r} is not allowed")
        host = host.lower().rstrip(".")
        if not host:
            raise OutboundURLRefused("URL has no host")
        literal = _literal(host)
        if literal is not None:
            self.check_addresses(host, [literal])

    def _addresses(self, infos: list[Any]) -> list[IPAddress]:
        addresses: list[IPAddress] = []
        for info in infos:
            address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
            if address not in addresses:
                addresses.append(address)
        return addresses

    def resolve(self, host: str, port: int, family: int = 0) -> list[IPAddress]:
        """Resolve `host` once and return its addresses, all checked; raises OutboundURLRefused."""
        literal = _literal(host)
        if literal is not None:
            self.check_addresses(host, [literal])
            return [literal]
        try:
            infos = self._getaddrinfo(host, port, family)
        except (socket.gaierror, UnicodeError) as exc:
            raise OutboundURLRefused(f"cannot resolve {host}: {exc}") from exc
        addresses = self._addresses(infos)
        self.check_addresses(host, addresses)
        return addresses

    async def aresolve(self, host: str, port: int, family: int = 0) -> list[IPAddress]:
        """`resolve` without blocking the event loop (the lookup runs in the default executor)."""
        if _literal(host) is not None:
            return self.resolve(host, port, family)
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.run_in_executor(None, self._getaddrinfo, host, port, family)
        except (socket.gaierror, UnicodeError) as exc:
            raise OutboundURLRefused(f"cannot resolve {host}: {exc}") from exc
        addresses = self._addresses(infos)
        self.check_addresses(host, addresses)
        return addresses

    def check_url(self, url: str, *, resolve: bool = True) -> list[IPAddress]:
        """The whole check for `url`; with resolve=False only what needs no DNS lookup."""
        parts = urlsplit(url)
        if parts.username or parts.password:
            raise OutboundURLRefused("credentials in URLs are not allowed")
        host = (parts.hostname or "").lower().rstrip(".")
        self.check_target(parts.scheme, host)
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise OutboundURLRefused(str(exc)) from exc
        if not resolve:
            literal = _literal(host)
            return [literal] if literal is not None else []
        return self.resolve(host, port)


def check_url(url: str, *, allowlist: AllowList = (), resolve: bool = True) -> list[IPAddress]:
    """Raise OutboundURLRefused unless `url` is http(s) and every address it resolves to is public or allowed.

    For early, readable errors (forms, test buttons); the clients below check again when
    they connect, which is the check that matters. resolve=False skips the DNS lookup
    (scheme, credentials and address literals are still checked).
    """
    return OutboundPolicy(allowlist=allowlist).check_url(url, resolve=resolve)


# --- transports ------------------------------------------------------------------------


def _check_request(policy: OutboundPolicy, request: httpx2.Request) -> None:
    if request.url.userinfo:
        raise OutboundURLRefused("credentials in URLs are not allowed")
    # aiohttp connects to an address literal without asking the resolver: check it here.
    policy.check_target(request.url.scheme, request.url.host)


class _GuardTransport(httpx2.AsyncBaseTransport):
    """Checks each request's URL (scheme, address literals) before the inner transport sends it."""

    def __init__(self, policy: OutboundPolicy, inner: httpx2.AsyncBaseTransport) -> None:
        self.policy = policy
        self.inner = inner

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        _check_request(self.policy, request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


class _SyncGuardTransport(httpx2.BaseTransport):
    def __init__(self, policy: OutboundPolicy, inner: httpx2.BaseTransport) -> None:
        self.policy = policy
        self.inner = inner

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        _check_request(self.policy, request)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


class GuardedResolver(AbstractResolver):
    """aiohttp resolver: one lookup, every address checked, the checked addresses connected to."""

    def __init__(self, policy: OutboundPolicy) -> None:
        self.policy = policy

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = await self.policy.aresolve(host, port, family)
        return [
            ResolveResult(
                hostname=host,
                host=str(address),
                port=port,
                family=socket.AF_INET6 if address.version == 6 else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
            )
            for address in addresses
        ]

    async def close(self) -> None:
        return None


class _GuardedAsyncBackend(httpcore2.AsyncNetworkBackend):
    """httpcore's network backend: resolve and check, then connect to each checked address in turn."""

    def __init__(self, policy: OutboundPolicy) -> None:
        self.policy = policy
        self.inner = httpcore2.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        try:
            addresses = await asyncio.wait_for(self.policy.aresolve(host, port), timeout)
        except TimeoutError as exc:
            raise httpcore2.ConnectTimeout(f"resolving {host} timed out") from exc
        last: Exception | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(
                    str(address), port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore2.ConnectError, httpcore2.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore2.AsyncNetworkStream:
        raise OutboundURLRefused("unix sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class _GuardedSyncBackend(httpcore2.NetworkBackend):
    def __init__(self, policy: OutboundPolicy) -> None:
        self.policy = policy
        self.inner = httpcore2.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.NetworkStream:
        addresses = self.policy.resolve(host, port)
        last: Exception | None = None
        for address in addresses:
            try:
                return self.inner.connect_tcp(
                    str(address), port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore2.ConnectError, httpcore2.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore2.NetworkStream:
        raise OutboundURLRefused("unix sockets are not allowed")

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


def _ssl_context(verify: ssl.SSLContext | str | bool) -> ssl.SSLContext:
    return verify if isinstance(verify, ssl.SSLContext) else httpx2.create_ssl_context(verify=verify, trust_env=False)


def _httpcore_async(
    policy: OutboundPolicy, context: ssl.SSLContext, limits: httpx2.Limits
) -> httpx2.AsyncHTTPTransport:
    transport = httpx2.AsyncHTTPTransport(verify=context, limits=limits, trust_env=False)
    transport._pool = httpcore2.AsyncConnectionPool(
        ssl_context=context,
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=_GuardedAsyncBackend(policy),
    )
    return transport


def _aiohttp_transport(
    policy: OutboundPolicy, context: ssl.SSLContext, limits: httpx2.Limits
) -> httpx2.AsyncBaseTransport:
    # The OpenAI SDK's own aiohttp transport (openai.DefaultAioHttpClient uses it).
    from openai._vendor.httpx_aiohttp import AiohttpTransport

    def session() -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            resolver=GuardedResolver(policy),
            # A cached answer would skip the resolver, and with it a changed allow-list.
            use_dns_cache=False,
            ssl=context,
            keepalive_timeout=limits.keepalive_expiry,
            limit=limits.max_connections if limits.max_connections is not None else 100,  # aiohttp's default
        )
        # No cookie jar: one pool serves every tenant that points at the same host.
        return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())

    return AiohttpTransport(verify=context, limits=limits, trust_env=False, client=session)


def async_client(
    *,
    allowlist: AllowList,
    backend: Backend = "aiohttp",
    timeout: httpx2.Timeout | float | None = DEFAULT_TIMEOUT,
    limits: httpx2.Limits = DEFAULT_LIMITS,
    verify: ssl.SSLContext | str | bool = True,
    follow_redirects: bool = False,
    headers: dict[str, str] | None = None,
    getaddrinfo: GetAddrInfo | None = None,
) -> httpx2.AsyncClient:
    """A pooled async client whose every connection passes the guard (see the module docstring)."""
    policy = OutboundPolicy(allowlist=allowlist, getaddrinfo=getaddrinfo)
    context = _ssl_context(verify)
    inner = (
        _aiohttp_transport(policy, context, limits)
        if backend == "aiohttp"
        else _httpcore_async(policy, context, limits)
    )
    return httpx2.AsyncClient(
        transport=_GuardTransport(policy, inner),
        timeout=timeout,
        follow_redirects=follow_redirects,
        headers=headers,
        trust_env=False,
    )


def sync_client(
    *,
    allowlist: AllowList,
    timeout: httpx2.Timeout | float | None = DEFAULT_TIMEOUT,
    limits: httpx2.Limits = DEFAULT_LIMITS,
    verify: ssl.SSLContext | str | bool = True,
    follow_redirects: bool = False,
    headers: dict[str, str] | None = None,
    getaddrinfo: GetAddrInfo | None = None,
) -> httpx2.Client:
    """A pooled sync client whose every connection passes the guard (see the module docstring)."""
    policy = OutboundPolicy(allowlist=allowlist, getaddrinfo=getaddrinfo)
    context = _ssl_context(verify)
    inner = httpx2.HTTPTransport(verify=context, limits=limits, trust_env=False)
    inner._pool = httpcore2.ConnectionPool(
        ssl_context=context,
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=_GuardedSyncBackend(policy),
    )
    return httpx2.Client(
        transport=_SyncGuardTransport(policy, inner),
        timeout=timeout,
        follow_redirects=follow_redirects,
        headers=headers,
        trust_env=False,
    )


_shared: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx2.AsyncClient] = weakref.WeakKeyDictionary()


def shared_async_client() -> httpx2.AsyncClient:
    """The running loop's guarded client, with the allow-list from Django settings.

    For short calls a tenant aims (business hooks, alert channels, webhooks): pass each
    request's own timeout. Never closed while its loop lives: its pool is shared.
    """
    loop = asyncio.get_running_loop()
    client = _shared.get(loop)
    if client is None or client.is_closed:
        client = _shared[loop] = async_client(allowlist=settings_allowlist)
    return client


async def close_shared_async_client() -> None:
    """Close the running loop's shared client (tests and programs that end their loop)."""
    client = _shared.pop(asyncio.get_running_loop(), None)
    if client is not None:
        await client.aclose()


@atexit.register
def _close_at_exit() -> None:
    """Close the clients of loops still running in other threads (the bot loop), so their
    sessions do not complain while the interpreter tears down."""
    for loop, client in list(_shared.items()):
        if loop.is_running() and not loop.is_closed():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(client.aclose(), loop).result(1)
