"""Outbound webhooks: record deliveries with the change, sign, send in order, retry, disable.

Delivery rows are written inside the transaction of the change they report (an outbox):
a committed change always has its deliveries, a rolled-back one has none, and a worker
that dies mid-send leaves a row that the sweep sends again. The task is only a trigger.

Ordering: deliveries of one lane (a conversation, or a contact for contact events) are
sent one at a time, oldest first; a later one waits while an earlier one is pending or
retrying. So a receiver sees `message.created` for seq 5 after seq 4, and
`conversation.closed` after the messages before it. Each delivery also carries its id
(`X-Kefu-Delivery`, increasing) for de-duplication: delivery is at least once.

Signature: `X-Kefu-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>` with
`X-Kefu-Timestamp: <unix seconds>`; receivers refuse old timestamps (docs/api.md).

Retries: transport errors, timeouts, 408, 429 and 5xx are retried with exponential backoff
and full jitter (Celery countdown), at most KEFU_WEBHOOK_MAX_ATTEMPTS; any other 4xx or a
3xx (redirects are not followed) fails the delivery at once. After
KEFU_WEBHOOK_DISABLE_AFTER consecutive failed attempts the subscription is disabled and
the tenant is told by e-mail.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import random
import secrets
import time
from datetime import timedelta
from typing import Any

import orjson
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from kefu.errors import InvalidInput
from kefu.models import Agent, Role, Tenant
from kefu.models.webhooks import DeliveryStatus, WebhookDelivery, WebhookEvent, WebhookSubscription
from kefu.services.audit import audit_record

logger = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
RESPONSE_KEEP = 2000
SIGNATURE_VERSION = "v1"
USER_AGENT = "Kefu-Webhooks/1"

# --- Subscriptions, cached per process for the hot path (every message asks) -------------
_cache: dict[int, tuple[float, list[tuple[int, frozenset[str], bool]]]] = {}
CACHE_SECONDS = 5.0


def _subscriptions(tenant_id: int) -> list[tuple[int, frozenset[str], bool]]:
    """(id, events, include_internal) of the tenant's active subscriptions. A new or changed
    subscription is seen by every process within CACHE_SECONDS; sending re-checks the row."""
    now = time.monotonic()
    hit = _cache.get(tenant_id)
    if hit is not None and hit[0] > now:
        return hit[1]
    rows = [
        (pk, frozenset(events or ()), internal)
        for pk, events, internal in WebhookSubscription.objects.filter(tenant_id=tenant_id, is_active=True)
        .order_by("pk")
        .values_list("pk", "events", "include_internal")
    ]
    _cache[tenant_id] = (now + CACHE_SECONDS, rows)
    return rows


def _forget(tenant_id: int) -> None:
    _cache.pop(tenant_id, None)


def webhook_emit(
    *, tenant_id: int, event: str, data: dict[str, Any], lane: str = "", internal: bool = False
) -> list[WebhookDelivery]:
    """Record `event` for each subscription that wants it; call inside the change's transaction."""
    subs = _subscriptions(tenant_id)
    if not subs:
        return []
    wanted = [pk for pk, events, include_internal in subs if (not events or event in events)]
    if internal:
        wanted = [pk for pk, _e, include_internal in subs if pk in wanted and include_internal]
    if not wanted:
        return []
    now = timezone.now()
    payload = {"event": event, "occurred_at": now.isoformat(), "tenant_id": tenant_id, "data": data}
    rows = WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(
                tenant_id=tenant_id, subscription_id=pk, event=event, lane=lane, payload=payload, next_attempt_at=now
            )
            for pk in wanted
        ]
    )
    ids = [row.pk for row in rows]
    transaction.on_commit(lambda: _enqueue(ids))
    return rows


def _enqueue(ids: list[int], countdown: float = 0.0) -> None:
    from kefu.tasks import webhook_deliver

    for pk in ids:
        if countdown > 0:
            webhook_deliver.apply_async(args=(pk,), countdown=countdown)
        else:
            webhook_deliver.delay(pk)


# --- Signing ----------------------------------------------------------------------------
def webhook_sign(*, secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_VERSION}={mac}"


def webhook_verify(*, secret: str, timestamp: str, body: bytes, signature: str, tolerance: int = 300) -> bool:
    """The receiver's check (as in docs/api.md): a fresh timestamp and a matching MAC."""
    try:
        ts = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs(time.time() - ts) > tolerance:
        return False
    return hmac.compare_digest(webhook_sign(secret=secret, timestamp=ts, body=body), signature or "")


# --- Sending ----------------------------------------------------------------------------
def _claim(delivery_id: int) -> WebhookDelivery | None:
    """Take the delivery for sending if it is due and first in its lane (one UPDATE)."""
    now = timezone.now()
    earlier = WebhookDelivery.objects.filter(
        subscription_id=OuterRef("subscription_id"),
        lane=OuterRef("lane"),
        id__lt=OuterRef("id"),
        status__in=[DeliveryStatus.PENDING, DeliveryStatus.SENDING],
    )
    due = Q(status=DeliveryStatus.PENDING, next_attempt_at__lte=now) | Q(
        status=DeliveryStatus.SENDING, lease_until__lt=now
    )
    claimed = (
        WebhookDelivery.objects.filter(due, pk=delivery_id)
        .exclude(Q(lane__gt="") & Exists(earlier))
        .update(status=DeliveryStatus.SENDING, lease_until=now + LEASE)
    )
    if not claimed:
        return None
    return WebhookDelivery.objects.select_related("subscription", "tenant").get(pk=delivery_id)


def _retryable(status: int | None) -> bool:
    return status is None or status in (408, 429) or status >= 500


def _backoff(attempt: int) -> float:
    """Exponential with full jitter: a random delay in [base, base * 2^(attempt-1)], capped."""
    base = settings.KEFU_WEBHOOK_RETRY_BASE_SECONDS
    ceiling = min(settings.KEFU_WEBHOOK_RETRY_MAX_SECONDS, base * (2 ** (attempt - 1)))
    return base + random.random() * max(0.0, ceiling - base)


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    """One POST through the guarded outbound client (no redirects, public addresses only)."""
    from kefu import outbound

    with outbound.sync_client(
        allowlist=outbound.settings_allowlist, timeout=settings.KEFU_WEBHOOK_TIMEOUT_SECONDS
    ) as client:
        response = client.post(url, content=body, headers=headers)
        return response.status_code, response.text[:RESPONSE_KEEP]


def webhook_deliver(*, delivery_id: int) -> str | None:
    """Send one delivery if it is its lane's turn; returns the resulting status."""
    delivery = _claim(delivery_id)
    if delivery is None:
        return None
    sub = delivery.subscription
    if not sub.is_active:
        _finish(delivery, DeliveryStatus.CANCELLED, error=_("The webhook is disabled."))
        return DeliveryStatus.CANCELLED
    body = orjson.dumps({**delivery.payload, "delivery_id": delivery.pk, "attempt": delivery.attempts + 1})
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Kefu-Event": delivery.event,
        "X-Kefu-Delivery": str(delivery.pk),
        "X-Kefu-Timestamp": str(timestamp),
        "X-Kefu-Signature": webhook_sign(secret=sub.secret, timestamp=timestamp, body=body),
    }
    started = time.monotonic()
    status: int | None = None
    text = error = ""
    try:
        status, text = _post(sub.url, body, headers)
    except Exception as exc:  # transport errors, timeouts, a refused address: all recorded
        error = f"{type(exc).__name__}: {exc}"[:300]
    elapsed = int((time.monotonic() - started) * 1000)
    delivery.attempts += 1
    delivery.response_status, delivery.response_body, delivery.response_ms = status, text, elapsed
    delivery.last_error = error
    delivery.attempt_log = [
        *delivery.attempt_log[-19:],
        {"at": timezone.now().isoformat(), "status": status, "ms": elapsed, "error": error},
    ]
    if status is not None and 200 <= status < 300:
        _subscription_result(sub, ok=True)
        _finish(delivery, DeliveryStatus.SUCCEEDED)
        return DeliveryStatus.SUCCEEDED
    disabled = _subscription_result(sub, ok=False)
    if _retryable(status) and delivery.attempts < settings.KEFU_WEBHOOK_MAX_ATTEMPTS and not disabled:
        delay = _backoff(delivery.attempts)
        delivery.status = DeliveryStatus.PENDING
        delivery.next_attempt_at = timezone.now() + timedelta(seconds=delay)
        delivery.lease_until = None
        delivery.save()
        if settings.KEFU_TASKS_MODE == "celery":
            _enqueue([delivery.pk], countdown=delay)
        # Without a broker the periodic sweep picks it up when due.
        return DeliveryStatus.PENDING
    _finish(delivery, DeliveryStatus.CANCELLED if disabled and _retryable(status) else DeliveryStatus.FAILED)
    return delivery.status


def _finish(delivery: WebhookDelivery, status: str, *, error: str = "") -> None:
    delivery.status = status
    delivery.lease_until = None
    delivery.next_attempt_at = None
    if error:
        delivery.last_error = error[:300]
    if status == DeliveryStatus.SUCCEEDED:
        delivery.delivered_at = timezone.now()
    delivery.save()
    _kick_lane(delivery)


def _kick_lane(delivery: WebhookDelivery) -> None:
    """The lane's next delivery goes as soon as this one is done."""
    if not delivery.lane:
        return
    nxt = (
        WebhookDelivery.objects.filter(
            subscription_id=delivery.subscription_id,
            lane=delivery.lane,
            status=DeliveryStatus.PENDING,
            id__gt=delivery.pk,
        )
        .order_by("id")
        .values_list("pk", "next_attempt_at")
        .first()
    )
    if nxt is not None:
        pk, at = nxt
        delay = max(0.0, (at - timezone.now()).total_seconds()) if at else 0.0
        _enqueue([pk], countdown=delay)


def _subscription_result(sub: WebhookSubscription, *, ok: bool) -> bool:
    """Count consecutive failed attempts; True when this failure disabled the subscription."""
    if ok:
        if sub.consecutive_failures:
            WebhookSubscription.objects.filter(pk=sub.pk).update(consecutive_failures=0)
        return False
    with transaction.atomic():
        row = WebhookSubscription.objects.select_for_update().get(pk=sub.pk)
        row.consecutive_failures += 1
        limit = settings.KEFU_WEBHOOK_DISABLE_AFTER
        if not row.is_active or row.consecutive_failures < limit:
            row.save(update_fields=["consecutive_failures"])
            return not row.is_active
        row.is_active, row.disabled_at = False, timezone.now()
        row.disabled_reason = _("Disabled after %(n)d failed attempts in a row.") % {"n": row.consecutive_failures}
        row.save(update_fields=["consecutive_failures", "is_active", "disabled_at", "disabled_reason"])
        audit_record(tenant=row.tenant, actor=None, action="webhook.disabled", target=row)
        transaction.on_commit(lambda: _notify_disabled(row))
    _forget(sub.tenant_id)
    return True


def _notify_disabled(sub: WebhookSubscription) -> None:
    tenant = sub.tenant
    admins = Agent.objects.filter(tenant=tenant, role__in=[Role.OWNER, Role.ADMIN], is_active=True)
    recipients = sorted({tenant.notify_email, *[a.user.email for a in admins.select_related("user")]} - {""})
    if not recipients:
        return
    subject = _("[Kefu] Webhook disabled: %(url)s") % {"url": sub.url[:80]}
    body = _(
        "The webhook %(url)s failed %(n)d times in a row and was disabled. Its last deliveries are in the "
        "console (Settings, Webhooks), where you can enable it again and send them again."
    ) % {"url": sub.url, "n": sub.consecutive_failures}
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)
    except Exception:
        logger.warning("could not e-mail that webhook %s was disabled", sub.pk, exc_info=True)


def webhook_sweep() -> int:
    """Send what is due and was not triggered (a lost task, a dead worker's lease, a retry
    without a broker). Each lane's first open delivery only."""
    now = timezone.now()
    due = (
        WebhookDelivery.objects.filter(
            Q(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
            | Q(status=DeliveryStatus.SENDING, lease_until__lt=now)
        )
        .order_by("id")
        .values_list("pk", flat=True)[:500]
    )
    ids = list(due)
    for pk in ids:
        webhook_deliver(delivery_id=pk) if settings.KEFU_TASKS_MODE != "celery" else _enqueue([pk])
    return len(ids)


# --- Management (console, admin, API) ---------------------------------------------------
def _clean_events(events: list[str] | None) -> list[str]:
    events = sorted({str(e) for e in (events or [])})
    unknown = [e for e in events if e not in WebhookEvent.values]
    if unknown:
        raise InvalidInput(_("Unknown event: %(e)s") % {"e": ", ".join(unknown)}, code="bad_event")
    return events


def _clean_url(url: str) -> str:
    from kefu import outbound

    url = (url or "").strip()
    try:
        outbound.check_url(url, allowlist=settings.KEFU_OUTBOUND_ALLOWLIST)
    except ValueError as exc:
        raise InvalidInput(
            _("This URL cannot receive webhooks: %(why)s") % {"why": exc}, code="bad_url", fields={"url": [str(exc)]}
        ) from None
    return url


def webhook_create(
    *,
    tenant: Tenant,
    url: str,
    events: list[str] | None = None,
    include_internal: bool = False,
    description: str = "",
    actor: Any = None,
) -> tuple[WebhookSubscription, str]:
    """A new subscription and its signing secret (shown to the caller; stored encrypted)."""
    secret = "whsec_" + secrets.token_urlsafe(32)
    sub = WebhookSubscription.objects.create(
        tenant=tenant,
        url=_clean_url(url),
        events=_clean_events(events),
        include_internal=include_internal,
        description=(description or "")[:200],
        secret=secret,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    audit_record(tenant=tenant, actor=actor, action="webhook.create", target=sub, data={"url": sub.url})
    _forget(tenant.pk)
    return sub, secret


def webhook_update(*, subscription: WebhookSubscription, actor: Any = None, **changes: Any) -> WebhookSubscription:
    sub = subscription
    fields = []
    if "url" in changes and changes["url"] is not None:
        sub.url = _clean_url(changes["url"])
        fields.append("url")
    if "events" in changes and changes["events"] is not None:
        sub.events = _clean_events(changes["events"])
        fields.append("events")
    for name in ("include_internal", "description"):
        if name in changes and changes[name] is not None:
            setattr(sub, name, changes[name])
            fields.append(name)
    if "is_active" in changes and changes["is_active"] is not None:
        sub.is_active = bool(changes["is_active"])
        if sub.is_active:
            sub.consecutive_failures, sub.disabled_at, sub.disabled_reason = 0, None, ""
            fields += ["consecutive_failures", "disabled_at", "disabled_reason"]
        fields.append("is_active")
    if fields:
        sub.save(update_fields=fields)
        audit_record(tenant=sub.tenant, actor=actor, action="webhook.update", target=sub, data={"fields": fields})
        _forget(sub.tenant_id)
    return sub


def webhook_rotate_secret(*, subscription: WebhookSubscription, actor: Any = None) -> str:
    secret = "whsec_" + secrets.token_urlsafe(32)
    subscription.secret = secret
    subscription.save(update_fields=["secret"])
    audit_record(tenant=subscription.tenant, actor=actor, action="webhook.rotate_secret", target=subscription)
    return secret


def webhook_delete(*, subscription: WebhookSubscription, actor: Any = None) -> None:
    audit_record(tenant=subscription.tenant, actor=actor, action="webhook.delete", target=subscription)
    tenant_id = subscription.tenant_id
    subscription.delete()
    _forget(tenant_id)


def webhook_redeliver(*, delivery: WebhookDelivery, actor: Any = None) -> WebhookDelivery:
    """ "Send again": a new delivery of the same payload (the log keeps the old one)."""
    copy = WebhookDelivery.objects.create(
        tenant_id=delivery.tenant_id,
        subscription_id=delivery.subscription_id,
        event=delivery.event,
        lane=delivery.lane,
        payload=delivery.payload,
        next_attempt_at=timezone.now(),
    )
    audit_record(tenant=delivery.tenant, actor=actor, action="webhook.redeliver", target=copy, data={"of": delivery.pk})
    transaction.on_commit(lambda: _enqueue([copy.pk]))
    return copy


def webhook_ping(*, subscription: WebhookSubscription, actor: Any = None) -> WebhookDelivery:
    """A `ping` delivery to check the endpoint (sent even when it subscribes to no event)."""
    row = WebhookDelivery.objects.create(
        tenant_id=subscription.tenant_id,
        subscription=subscription,
        event="ping",
        payload={
            "event": "ping",
            "occurred_at": timezone.now().isoformat(),
            "tenant_id": subscription.tenant_id,
            "data": {"webhook_id": subscription.pk},
        },
        next_attempt_at=timezone.now(),
    )
    transaction.on_commit(lambda: _enqueue([row.pk]))
    return row
