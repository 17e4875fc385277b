""" "Test this provider": one short prompt through a bot's own provider, with its own timeouts.

Only the bot's configured provider is called (not its backup, not the knowledge base),
outside the circuit breaker, so the result says exactly whether that configuration
works. The outcome is explained in the admin's language; the provider's own message is
shown too, with anything that looks like a credential removed. The stored API key never
leaves the server except in the request to the provider itself.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from bots import runtime
from bots.console.services import _audit, require_admin
from bots.interface import (
    BotRequest,
    Delta,
    Done,
    ProviderAuthError,
    ProviderConfig,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
)
from bots.models import Bot, ProviderKind
from bots.pipeline import provider_config
from bots.providers.base import Provider, build_provider, stream
from kefu.errors import InvalidInput
from kefu.models import Agent
from kefu.outbound import OutboundURLRefused, check_url

EXCERPT_CHARS = 160
DETAIL_CHARS = 300
SLACK_SECONDS = 5.0
# Tokens that look like credentials of the supported providers (OpenAI sk-, Coze pat_, FastGPT
# fastgpt-, Dify app-), masked or not; providers echo parts of a rejected key back.
_CREDENTIAL = re.compile(r"\b(?:(?:sk|pat|fastgpt|app)[-_][\w*.\-]{2,}|Bearer\s+\S+)", re.IGNORECASE)


@dataclass(frozen=True)
class DatasetCheck:
    ok: bool
    passages: int = 0
    latency_ms: int = 0
    error: str = ""


@dataclass(frozen=True)
class ProviderCheck:
    """What the test found; plain data, kept in the session between the POST and the page."""

    ok: bool
    provider: str
    model: str = ""
    latency_ms: int = 0
    first_token_ms: int | None = None
    reply: str = ""
    error: str = ""
    detail: str = ""
    code: str = ""
    status: int | None = None
    dataset: dict[str, Any] | None = field(default=None)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """The first words of a reply, on one line."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[:limit]
    if " " in cut[limit // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,.;:，。；：") + "…"


def scrub(text: str, secret: str = "") -> str:
    """A provider message safe to show: no stored key, nothing that looks like one, one line, bounded."""
    if secret:
        text = text.replace(secret, "[redacted]")
    text = _CREDENTIAL.sub("[redacted]", text)
    return " ".join(text.split())[:DETAIL_CHARS]


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _network_reason(exc: BaseException, host: str) -> str | None:
    for link in _chain(exc):
        text = str(link)
        if isinstance(link, ConnectionRefusedError) or "refused" in text.lower():
            return _("Connection refused by %(host)s: check the base URL and that the server is running.") % {
                "host": host
            }
        if (
            "name or service not known" in text.lower()
            or "name resolution" in text.lower()
            or "nodename nor servname" in text.lower()
        ):
            return _("The host name %(host)s cannot be resolved: check the base URL.") % {"host": host}
        if isinstance(link, ssl.SSLError) or "certificate" in text.lower():
            return _("The TLS connection to %(host)s failed (certificate or protocol): check the base URL.") % {
                "host": host
            }
    return None


def explain(exc: ProviderError, config: ProviderConfig) -> str:
    """A sentence an admin can act on, for a provider failure."""
    host = re.sub(r"^https?://", "", config.base_url or "").split("/")[0] or config.kind
    status = exc.status
    if isinstance(exc, ProviderAuthError):
        if status == 403:
            return _("Access denied (HTTP 403): check the API key and what it is allowed to use.")
        return _("The provider rejected the API key: check the API key.")
    if isinstance(exc, ProviderRateLimited):
        return _(
            "Rate limited (HTTP 429): too many requests or the quota is used up. "
            "Try again later or check the plan's quota."
        )
    if isinstance(exc, ProviderTimeout):
        network = _network_reason(exc, host)
        if network:
            return network
        t = config.timeouts
        return _(
            "No answer within the time limits (first token %(first)s s, total %(total)s s): "
            "the provider is slow or unreachable."
        ) % {"first": f"{t.first_token:g}", "total": f"{t.total:g}"}
    network = _network_reason(exc, host)
    if network:
        return network
    if status == 404:
        return _(
            "Not found (HTTP 404): check the base URL (OpenAI-compatible servers usually need /v1 at the end) "
            "and the model or app id."
        )
    if status is not None and status >= 500:
        return _("The provider had a server error (HTTP %(status)s). Try again later.") % {"status": status}
    if status is not None and 400 <= status < 500:
        return _(
            "The provider refused the request (HTTP %(status)s): check the model name and the provider options."
        ) % {"status": status}
    if not exc.transient:
        return _("The provider refused the request: check the model name and the provider options.")
    return _("The provider call failed.")


def _model_label(bot: Bot, config: ProviderConfig) -> str:
    if bot.provider == ProviderKind.COZE:
        return str(config.extra.get("bot_id") or config.model)
    return config.model


def check_request(bot: Bot, timeout: float) -> BotRequest:
    return BotRequest(
        question=_(
            "Hello! This is a connection test from the customer service console. Please reply with one short sentence."
        ),
        # A fresh conversation each time: a test never joins a visitor's conversation.
        conversation_key=f"provider-test-b{bot.pk}-{uuid.uuid4().hex[:8]}",
        visitor_id=f"kefu-provider-test-{bot.tenant_id}",
        system_prompt=bot.system_prompt,
        deadline=time.monotonic() + timeout,
    )


async def _search(provider: Provider, question: str, timeout: float, secret: str) -> DatasetCheck:
    started = time.monotonic()
    try:
        passages = await provider.search_dataset(question, timeout=timeout)
    except ProviderError as exc:
        reason = explain(exc, provider.config)
        return DatasetCheck(
            ok=False,
            latency_ms=round((time.monotonic() - started) * 1000),
            error=f"{reason} ({scrub(str(exc), secret)})",
        )
    return DatasetCheck(ok=True, passages=len(passages), latency_ms=round((time.monotonic() - started) * 1000))


async def run_check(
    provider: Provider, request: BotRequest, *, model: str = "", language: str | None = None
) -> ProviderCheck:
    """Stream one answer from `provider` under its timeouts and describe the outcome in `language`
    (this runs on the bot loop's thread, which does not share the request's active language)."""
    with translation.override(language):
        return await _run_check(provider, request, model=model)


async def _run_check(provider: Provider, request: BotRequest, *, model: str) -> ProviderCheck:
    config = provider.config
    started = time.monotonic()
    search = None
    if provider.dataset_id:
        search = asyncio.create_task(_search(provider, request.question, config.timeouts.total, config.api_key))
    first_token: float | None = None
    parts: list[str] = []
    done: Done | None = None
    failure: ProviderError | None = None
    try:
        async for event in stream(provider, request):
            if isinstance(event, Delta):
                first_token = first_token or time.monotonic()
                parts.append(event.text)
            else:
                done = event
    except ProviderError as exc:
        failure = exc
    except Exception as exc:  # an adapter bug still gets a readable answer
        failure = ProviderError(f"{type(exc).__name__}: {exc}")
    latency = round((time.monotonic() - started) * 1000)
    dataset = asdict(await search) if search is not None else None
    first_ms = round((first_token - started) * 1000) if first_token else None
    if failure is not None:
        return ProviderCheck(
            ok=False,
            provider=config.kind,
            model=model,
            latency_ms=latency,
            first_token_ms=first_ms,
            error=explain(failure, config),
            detail=scrub(str(failure), config.api_key),
            code=failure.code,
            status=failure.status,
            dataset=dataset,
        )
    text = done.text if done is not None and done.text else "".join(parts)
    if not text.strip():
        return ProviderCheck(
            ok=False,
            provider=config.kind,
            model=model,
            latency_ms=latency,
            first_token_ms=first_ms,
            error=_("The provider answered with an empty reply."),
            code="empty_reply",
            dataset=dataset,
        )
    return ProviderCheck(
        ok=True,
        provider=config.kind,
        model=model,
        latency_ms=latency,
        first_token_ms=first_ms,
        reply=excerpt(text.replace(config.api_key, "[redacted]") if config.api_key else text),
        dataset=dataset,
    )


def provider_test(*, bot: Bot, actor: Agent, ip: str | None = None) -> ProviderCheck:
    """Send a short prompt through the bot's own provider (no fallbacks) and record that it was done."""
    require_admin(actor)
    if bot.provider == ProviderKind.LOCAL:
        raise InvalidInput(_("This bot answers from the local knowledge base; there is no provider to test."))
    config = provider_config(bot, "test")
    model = _model_label(bot, config)
    try:
        if config.base_url:
            # Early, for a readable answer; the guarded client checks again when it connects.
            check_url(config.base_url, allowlist=settings.KEFU_OUTBOUND_ALLOWLIST)
        provider = build_provider(config)
    except OutboundURLRefused as exc:
        result = ProviderCheck(
            ok=False,
            provider=config.kind,
            model=model,
            code=exc.code,
            detail=scrub(str(exc)),
            error=_(
                "This address is not allowed: private and local networks can only be used "
                "when the operator allows them (KEFU_OUTBOUND_ALLOWLIST)."
            ),
        )
    except (KeyError, ValueError) as exc:
        result = ProviderCheck(
            ok=False,
            provider=config.kind,
            model=model,
            code="misconfigured",
            detail=scrub(str(exc), config.api_key),
            error=_("The provider settings are incomplete: check the base URL and options."),
        )
    else:
        timeout = config.timeouts.total
        try:
            result = runtime.run_on_bot_loop(
                run_check(provider, check_request(bot, timeout), model=model, language=translation.get_language()),
                timeout=timeout + SLACK_SECONDS,
            )
        except TimeoutError:  # the provider's own limits should have ended it first
            result = ProviderCheck(
                ok=False,
                provider=config.kind,
                model=model,
                code=ProviderTimeout.code,
                latency_ms=round((timeout + SLACK_SECONDS) * 1000),
                error=explain(ProviderTimeout("test abandoned"), config),
            )
    _audit(
        actor,
        "bot.provider_test",
        bot,
        ip,
        name=bot.name,
        provider=bot.provider,
        ok=result.ok,
        code=result.code,
        status=result.status,
        latency_ms=result.latency_ms,
    )
    return result
