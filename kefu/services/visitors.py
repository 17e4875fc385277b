"""Visitors: creation from the widget, verified identity, profile edits, blocking."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from kefu.errors import Forbidden, InvalidInput
from kefu.models import Tenant, Visitor
from kefu.services.text import clean_plain

MAX_ATTRIBUTES = 50


def identity_hash(*, tenant: Tenant, external_id: str) -> str:
    """What the host site computes server-side: HMAC-SHA256(identity_secret, user id)."""
    return hmac.new(tenant.identity_secret.encode(), external_id.encode(), hashlib.sha256).hexdigest()


def identity_is_valid(*, tenant: Tenant, external_id: str, signature: str) -> bool:
    expected = identity_hash(tenant=tenant, external_id=external_id)
    return hmac.compare_digest(expected, (signature or "").lower())


def clean_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(attributes, dict) or len(attributes) > MAX_ATTRIBUTES:
        raise InvalidInput(_("Custom attributes must be an object with at most 50 keys."), code="bad_attributes")
    cleaned: dict[str, Any] = {}
    for key, value in attributes.items():
        key = clean_plain(str(key), max_chars=64)
        if isinstance(value, (bool, int, float)) or value is None:
            cleaned[key] = value
        else:
            cleaned[key] = clean_plain(str(value), max_chars=500, allow_empty=True)
    return cleaned


def visitor_get_or_create(
    *,
    tenant: Tenant,
    anon_id: str,
    ip: str | None = None,
    user_agent: str = "",
    current_url: str = "",
    referrer: str = "",
) -> Visitor:
    anon_id = clean_plain(anon_id, max_chars=64)
    defaults = {
        "ip": ip,
        "user_agent": user_agent[:400],
        "current_url": current_url[:1000],
        "referrer": referrer[:1000],
    }
    try:
        visitor, created = Visitor.objects.get_or_create(tenant=tenant, anon_id=anon_id, defaults=defaults)
    except IntegrityError:
        visitor, created = Visitor.objects.get(tenant=tenant, anon_id=anon_id), False
    if visitor.merged_into_id is not None:
        # A merged contact's browser reaches the contact it became.
        visitor, created = Visitor.objects.get(pk=visitor.merged_into_id), False
    if created:
        _emit_contact(visitor, "contact.created")
    if visitor.is_blocked:
        raise Forbidden(_("This visitor is blocked."), code="blocked")
    if not created:
        visitor.last_seen_at = timezone.now()
        fields = ["last_seen_at"]
        for name, value in defaults.items():
            if value and getattr(visitor, name) != value:
                setattr(visitor, name, value)
                fields.append(name)
        visitor.save(update_fields=fields)
    return visitor


@transaction.atomic
def visitor_identify(*, visitor: Visitor, external_id: str, signature: str, name: str = "", email: str = "") -> Visitor:
    """Link the visitor to a host-site user only when the HMAC matches."""
    external_id = clean_plain(str(external_id), max_chars=128)
    tenant = visitor.tenant
    if not identity_is_valid(tenant=tenant, external_id=external_id, signature=signature):
        raise Forbidden(_("The identity signature does not match."), code="bad_identity")
    holder = Visitor.objects.filter(tenant=tenant, external_id=external_id).exclude(pk=visitor.pk).first()
    if holder is not None:
        # The same person on a new device: this browser joins the contact that holds the
        # identity, so their history follows them (identity carries conversations).
        from kefu.services.contacts import contact_merge

        visitor = contact_merge(target=holder, source=visitor)
    visitor.external_id, visitor.identity_verified = external_id, True
    fields = ["external_id", "identity_verified"]
    if name:
        visitor.name = clean_plain(name, max_chars=120)
        fields.append("name")
    if email:
        visitor.email = clean_plain(email, max_chars=254)
        fields.append("email")
    visitor.save(update_fields=fields)
    return visitor


def _emit_contact(visitor: Visitor, event: str) -> None:
    from kefu.payloads import contact_payload
    from kefu.services.webhooks import webhook_emit

    webhook_emit(
        tenant_id=visitor.tenant_id, event=event, data={"contact": contact_payload(visitor)}, lane=f"v{visitor.pk}"
    )


def visitor_update(*, visitor: Visitor, emit: bool = True, **changes: Any) -> Visitor:
    """Profile edits by an agent, the API or the widget (name, email, phone, attributes)."""
    before = (visitor.name, visitor.email, visitor.phone, dict(visitor.attributes or {}))
    fields: list[str] = []
    for name in ("name", "email", "phone"):
        if name in changes and changes[name] is not None:
            setattr(visitor, name, clean_plain(str(changes[name]), max_chars=254, allow_empty=True))
            fields.append(name)
    if "attributes" in changes and changes["attributes"] is not None:
        visitor.attributes = {**visitor.attributes, **clean_attributes(changes["attributes"])}
        if len(visitor.attributes) > MAX_ATTRIBUTES:
            raise InvalidInput(_("Too many custom attributes."), code="bad_attributes")
        fields.append("attributes")
    if fields:
        try:
            visitor.full_clean(exclude=["tenant", "ip", "current_url", "referrer"])
        except ValidationError as exc:
            # A bad e-mail from the widget's contact form is the visitor's mistake, not a crash.
            errors = {name: [str(m) for m in messages] for name, messages in exc.message_dict.items()}
            first = next(iter(errors.values()))[0]
            raise InvalidInput(first, code="invalid", fields=errors) from None
        if (visitor.name, visitor.email, visitor.phone, visitor.attributes) == before:
            return visitor  # the widget sends its attributes on every page: nothing changed
        with transaction.atomic():
            visitor.save(update_fields=fields)
            if emit:
                _emit_contact(visitor, "contact.updated")
    return visitor
