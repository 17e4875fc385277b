"""Operator alerts for provider outages: WeCom, DingTalk, Feishu, Slack and generic JSON webhooks.

Bodies and signatures follow docs/ai-provider-protocols.md section 5. One alert per
(provider, state) per window across all workers, de-duplicated with Redis SET NX EX.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import httpx2
from django.utils.translation import gettext as _

from kefu import outbound

if TYPE_CHECKING:
    from redis.asyncio import Redis

logger = logging.getLogger(__name__)

AlertKind = Literal["wecom", "dingtalk", "feishu", "slack", "generic"]


@dataclass(frozen=True, slots=True)
class AlertTarget:
    kind: AlertKind
    url: str
    secret: str = ""
    mention_mobiles: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Alert:
    provider: str
    state: str  # "opened" | "recovered" or any other breaker/health state
    title: str
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return f"{self.title}\n{self.detail}".strip()


@dataclass(frozen=True, slots=True)
class PreparedRequest:
    url: str
    json: dict[str, Any]


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return urllib.parse.quote_plus(base64.b64encode(digest))


def feishu_sign(secret: str, timestamp_s: int) -> str:
    # Feishu's odd construction: the string to sign is the HMAC key, the message is empty.
    return base64.b64encode(hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()).decode()


def _truncate(text: str, limit_bytes: int) -> str:
    raw = text.encode()
    if len(raw) <= limit_bytes:
        return text
    return raw[: limit_bytes - 3].decode("utf-8", errors="ignore") + "..."


def prepare(target: AlertTarget, alert: Alert, *, now: float | None = None) -> PreparedRequest:
    now = time.time() if now is None else now
    if target.kind == "wecom":
        text: dict[str, Any] = {"content": _truncate(alert.text, 2048)}
        if target.mention_mobiles:
            text["mentioned_mobile_list"] = list(target.mention_mobiles)
        return PreparedRequest(target.url, {"msgtype": "text", "text": text})
    if target.kind == "dingtalk":
        url = target.url
        if target.secret:
            ts = int(round(now * 1000))
            sep = "&" if "?" in url else "?"
            url = f"{url}{sep}timestamp={ts}&sign={dingtalk_sign(target.secret, ts)}"
        body = {
            "msgtype": "text",
            "text": {"content": alert.text},
            "at": {"atMobiles": list(target.mention_mobiles), "atUserIds": [], "isAtAll": False},
        }
        return PreparedRequest(url, body)
    if target.kind == "feishu":
        body = {"msg_type": "text", "content": {"text": alert.text}}
        if target.secret:
            ts = int(now)
            body = {"timestamp": str(ts), "sign": feishu_sign(target.secret, ts), **body}
        return PreparedRequest(target.url, body)
    if target.kind == "slack":
        return PreparedRequest(target.url, {"text": alert.text})
    return PreparedRequest(
        target.url,
        {
            "event": "kefu.provider_alert",
            "provider": alert.provider,
            "state": alert.state,
            "title": alert.title,
            "detail": alert.detail,
            "at": int(now),
            **({"extra": alert.extra} if alert.extra else {}),
        },
    )


class AlertDeliveryError(Exception):
    pass


def check_response(kind: AlertKind, response: httpx2.Response) -> None:
    """Each service reports failure differently, often with HTTP 200."""
    if response.status_code >= 300:  # a redirect is not followed, so nothing was delivered
        raise AlertDeliveryError(f"{kind}: HTTP {response.status_code} {response.text[:200]}")
    if kind == "slack":
        if response.text.strip() != "ok":
            raise AlertDeliveryError(f"slack: {response.text[:200]}")
        return
    if kind in ("wecom", "dingtalk", "feishu"):
        try:
            body = response.json()
        except ValueError:
            raise AlertDeliveryError(f"{kind}: non-JSON reply {response.text[:200]}")
        code = body.get("errcode") if kind != "feishu" else body.get("code", body.get("StatusCode"))
        if code not in (0, None) or (kind != "feishu" and code is None):
            raise AlertDeliveryError(f"{kind}: {body}")


async def deliver(client: httpx2.AsyncClient, target: AlertTarget, alert: Alert, *, timeout: float = 5.0) -> None:
    prepared = prepare(target, alert)
    response = await client.post(prepared.url, json=prepared.json, timeout=timeout)
    check_response(target.kind, response)


class AlertDispatcher:
    """Sends an alert to every target at most once per (provider, state) per window."""

    def __init__(
        self,
        targets: Sequence[AlertTarget],
        *,
        redis: Redis | None,
        window: float = 600.0,
        client: httpx2.AsyncClient | None = None,
        prefix: str = "kefu:alert:",
    ) -> None:
        self.targets = list(targets)
        self.redis = redis
        self.window = max(1, int(window))
        self.client = client
        self.prefix = prefix

    async def claim(self, alert: Alert) -> bool:
        if self.redis is None:
            return True
        key = f"{self.prefix}{alert.provider}:{alert.state}"
        try:
            return bool(await self.redis.set(key, str(int(time.time())), nx=True, ex=self.window))
        except Exception:
            logger.warning("alert de-duplication unavailable; sending anyway", exc_info=True)
            return True

    async def send(self, alert: Alert) -> list[str]:
        """Returns the failures (empty when every target accepted or the alert was a duplicate)."""
        if not self.targets or not await self.claim(alert):
            return []
        # Tenant admins choose these URLs: the SSRF-guarded client, as for every such URL.
        client = self.client or outbound.shared_async_client()
        failures: list[str] = []
        for target in self.targets:
            try:
                await deliver(client, target, alert)
            except (httpx2.HTTPError, AlertDeliveryError) as exc:
                logger.warning("alert to %s failed: %s", target.kind, exc)
                failures.append(f"{target.kind}: {exc}")
        return failures

    async def on_breaker_transition(self, provider: str, transition: str) -> None:
        """Hook for RedisCircuitBreaker(on_transition=...)."""
        if transition == "opened":
            alert = Alert(
                provider,
                "opened",
                _("[Kefu] AI provider down: %(provider)s") % {"provider": provider},
                _("Circuit breaker opened after repeated failures; visitors get the fallback answer."),
            )
        else:
            alert = Alert(
                provider,
                "recovered",
                _("[Kefu] AI provider recovered: %(provider)s") % {"provider": provider},
                _("Circuit breaker closed after a successful call."),
            )
        await self.send(alert)
