"""Provider registry and facade: `build_provider(config)` and `stream(provider, request)`.

Built-in providers are registered here directly (the project is not pip-installed, so
its own entry points are not visible); third-party packages add providers through the
`kefu.providers` entry-point group, whose objects are `Provider` subclasses or factories
taking a `ProviderConfig`.
"""

from __future__ import annotations

import importlib
import itertools
import logging
import ssl
import weakref
from asyncio import AbstractEventLoop, get_running_loop
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from importlib.metadata import entry_points
from typing import Any, Literal, cast

import httpx2
import orjson

from bots.interface import (
    BotRequest,
    Delta,
    Done,
    ProviderAuthError,
    ProviderBadResponse,
    ProviderConfig,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
    Source,
    StreamEvent,
)
from bots.providers.timing import timed_stream

logger = logging.getLogger(__name__)

ProviderFactory = Callable[[ProviderConfig], "Provider"]

BUILTINS: dict[str, str] = {
    "openai": "bots.providers.openai_compat:OpenAICompatProvider",
    "openai_compat": "bots.providers.openai_compat:OpenAICompatProvider",
    "dify": "bots.providers.dify:DifyProvider",
    "coze": "bots.providers.coze:CozeProvider",
    "fastgpt": "bots.providers.fastgpt:FastGPTProvider",
    "local": "bots.providers.local:LocalProvider",
}
ENTRY_POINT_GROUP = "kefu.providers"

_registry: dict[str, ProviderFactory] = {}


class Provider:
    """Base class: subclasses implement `_stream` yielding Delta events and exactly one final Done."""

    kind: str = ""

    def __init__(self, config: ProviderConfig) -> None:
        self.config = config

    @property
    def name(self) -> str:
        return self.config.breaker_key

    def _stream(self, request: BotRequest) -> AsyncIterator[StreamEvent]:
        raise NotImplementedError

    @property
    def dataset_id(self) -> str:
        """The provider-side knowledge base this provider can search for the engine ("" for none)."""
        return ""

    async def search_dataset(self, question: str, *, timeout: float | None = None) -> list[Source]:
        """Passages of that knowledge base for `question`; raises ProviderError on failure."""
        return []


def register_provider(kind: str, factory: ProviderFactory) -> None:
    _registry[kind] = factory


def _load(target: str) -> ProviderFactory:
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def provider_factory(kind: str) -> ProviderFactory:
    if kind in _registry:
        return _registry[kind]
    if kind in BUILTINS:
        factory = _load(BUILTINS[kind])
    else:
        matches = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == kind]
        if not matches:
            raise KeyError(f"unknown provider kind {kind!r}")
        factory = matches[0].load()
    _registry[kind] = factory
    return factory


def available_kinds() -> list[str]:
    names = set(BUILTINS) | set(_registry) | {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}
    return sorted(names)


def build_provider(config: ProviderConfig, **kwargs: Any) -> Provider:
    return provider_factory(config.kind)(config, **kwargs)


async def stream(provider: Provider, request: BotRequest) -> AsyncGenerator[StreamEvent, None]:
    """Run one provider call under its hard timeouts.

    Guarantees to the caller: every failure surfaces as a ProviderError carrying the text
    already streamed in `partial_text`, and a stream that ends without a Done is an error,
    so a truncated answer can never be mistaken for a complete one.
    """
    timeouts = provider.config.timeouts
    parts: list[str] = []
    try:
        async with aclosing(timed_stream(provider._stream(request), timeouts, request.deadline)) as events:
            async for event in events:
                if isinstance(event, Delta):
                    if event.text:
                        parts.append(event.text)
                        yield event
                    continue
                yield Done(
                    text=event.text,
                    usage=event.usage,
                    sources=event.sources,
                    quick_replies=event.quick_replies,
                    provider_state=event.provider_state,
                    confidence=event.confidence,
                    matched=event.matched,
                    provider=provider.name,
                )
                return
    except ProviderError as exc:
        exc.partial_text = "".join(parts)
        raise
    raise ProviderBadResponse("stream ended without a final event", partial_text="".join(parts))


# --- shared HTTP plumbing for the httpx2-based adapters -------------------------------------

# With the httpx backend, httpcore's pool walks every connection it holds, probing each
# idle socket, whenever a request starts or ends: with hundreds of streams that walk was a
# fifth of an answer's CPU (py-spy). Requests are spread round-robin over a few smaller
# pools instead (aiohttp's pools do not walk; the shards cost it nothing measurable).
POOL_SHARDS = 8
_clients: weakref.WeakKeyDictionary[AbstractEventLoop, list[httpx2.AsyncClient | None]] = weakref.WeakKeyDictionary()
_turn = itertools.count()
_ssl_context: ssl.SSLContext | None = None


# Set from KEFU_BOT_HTTP_BACKEND by BotsConfig.ready(): the provider layer reads no
# Django settings, so it runs alone too (bench.providers, a provider's own tests).
HttpBackend = Literal["aiohttp", "httpx"]
_http_backend: HttpBackend = "aiohttp"


def set_http_backend(name: str) -> None:
    """Pick the transport of the pools created from now on."""
    global _http_backend
    if name not in ("aiohttp", "httpx"):
        raise ValueError(f"unknown HTTP backend {name!r}: aiohttp or httpx")
    _http_backend = cast(HttpBackend, name)


def _shared_ssl_context() -> ssl.SSLContext:
    """httpx2's default context, built once: loading the CA bundle costs 20-50 ms per client."""
    global _ssl_context
    if _ssl_context is None:
        _ssl_context = httpx2.create_ssl_context()
    return _ssl_context


def next_shard() -> int:
    return next(_turn) % POOL_SHARDS


def http_client(shard: int | None = None) -> httpx2.AsyncClient:
    """A pooled client of the running loop, shared by every adapter (and by the OpenAI SDK).

    `shard` picks one of the loop's pools (the SDK client is bound to one); by default
    the next in turn.
    """
    loop = get_running_loop()
    shards = _clients.get(loop)
    if shards is None:
        shards = _clients[loop] = [None] * POOL_SHARDS
    index = next_shard() if shard is None else shard
    client = shards[index]
    if client is None or client.is_closed:
        client = shards[index] = _new_client()
    return client


ClientFactory = Callable[[dict[str, Any]], httpx2.AsyncClient]
_client_factory: ClientFactory | None = None


def configure_http(factory: ClientFactory) -> None:
    """Install how the provider layer builds its pooled clients.

    The layer reads no settings and imports nothing of kefu: the bots app installs the
    SSRF-guarded client (kefu.outbound) with the operator's allow-list when Django
    starts; the factory gets httpx2.AsyncClient's options plus `backend`; a program without Django (bench.providers) installs one itself. Until
    then no provider call can be made, so none can leave unguarded.
    """
    global _client_factory
    _client_factory = factory


def _new_client(ssl_context: ssl.SSLContext | None = None) -> httpx2.AsyncClient:
    """A client from the installed factory, on the chosen backend: the SDK's own aiohttp
    transport by default (about a quarter less CPU per streamed answer than httpx2's
    httpcore2, bench.bots), httpcore2 with KEFU_BOT_HTTP_BACKEND=httpx."""
    if _client_factory is None:
        raise ProviderError("the provider HTTP client is not configured (bots.providers.base.configure_http)")
    limits = httpx2.Limits(max_connections=2000 // POOL_SHARDS, max_keepalive_connections=500 // POOL_SHARDS)
    # follow_redirects stays False: a redirect is answered, not followed.
    options: dict[str, Any] = {
        "backend": _http_backend,
        "limits": limits,
        "timeout": httpx2.Timeout(60.0, connect=5.0),
        "follow_redirects": False,
        "verify": ssl_context or _shared_ssl_context(),
    }
    return _client_factory(options)


async def close_http_clients() -> None:
    """Close the running loop's pools (benchmarks and tests that end their loop)."""
    for client in _clients.pop(get_running_loop(), None) or ():
        if client is not None:
            await client.aclose()


def http_timeout(config: ProviderConfig) -> httpx2.Timeout:
    t = config.timeouts
    return httpx2.Timeout(t.total, connect=t.connect, read=max(t.idle, t.first_token))


def parse_retry_after(headers: httpx2.Headers) -> float | None:
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value:
            try:
                return float(value) * scale
            except ValueError:
                return None
    return None


def error_for_status(
    status: int, message: str, *, retry_after: float | None = None, transient: bool | None = None
) -> ProviderError:
    if status in (401, 403):
        return ProviderAuthError(message, status=status)
    if status == 429:
        return ProviderRateLimited(
            message, status=status, retry_after=retry_after, transient=True if transient is None else transient
        )
    if status == 408 or status >= 500:
        return ProviderError(message, status=status, transient=True if transient is None else transient)
    return ProviderBadResponse(message, status=status, transient=False if transient is None else transient)


def refused_error(exc: BaseException) -> ProviderError | None:
    """The SSRF guard's refusal behind `exc`, as a permanent error (retrying cannot help)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        # Matched by its code: the guard lives in kefu.outbound, which providers do not import.
        if getattr(current, "code", None) == "outbound_url_refused":
            return ProviderBadResponse(f"outbound address refused: {current}", transient=False)
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def transport_error(exc: httpx2.HTTPError) -> ProviderError:
    refused = refused_error(exc)
    if refused is not None:
        return refused
    # The aiohttp transport reports a refused or reset connection as ConnectTimeout: only
    # a real timeout underneath (aiohttp's are TimeoutError subclasses) is one here.
    cause = exc.__cause__
    if isinstance(exc, httpx2.TimeoutException) and (cause is None or isinstance(cause, TimeoutError)):
        return ProviderTimeout(f"{type(exc).__name__}: {exc}")
    # RemoteProtocolError covers a connection closed mid-body (a truncated stream).
    return ProviderError(f"{type(exc).__name__}: {exc}", transient=True)


def is_event_stream(response: httpx2.Response) -> bool:
    return response.headers.get("content-type", "").split(";")[0].strip().lower() == "text/event-stream"


async def read_json_body(response: httpx2.Response) -> Any:
    raw = await response.aread()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {"message": raw[:500].decode("utf-8", errors="replace")}


def auth_headers(config: ProviderConfig) -> dict[str, str]:
    return {"Authorization": f"Bearer {config.api_key}", "Accept": "text/event-stream"}


def join_url(base: str, path: str) -> str:
    return base.rstrip("/") + "/" + path.lstrip("/")
