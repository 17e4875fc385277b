"""API keys: issued with scopes and an optional expiry, shown once, stored as a hash."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from kefu.errors import InvalidInput
from kefu.models import ApiKey, Tenant
from kefu.models.misc import SCOPE_LEVELS, SCOPE_RESOURCES
from kefu.services.audit import audit_record

KEY_PREFIX = "kefu_"
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_secret(secret: str) -> str:
    # The secret is 256 random bits: a fast hash is as strong as a slow one here.
    return hashlib.sha256(secret.encode()).hexdigest()


def all_scopes() -> list[str]:
    return [*SCOPE_LEVELS, *(f"{r}:{lvl}" for r in SCOPE_RESOURCES for lvl in SCOPE_LEVELS)]


def scopes_clean(scopes: list[str] | tuple[str, ...]) -> list[str]:
    """Known scopes only: `read`, `write`, `admin`, or `<resource>:<level>`."""
    valid = set(all_scopes())
    cleaned = sorted({str(s).strip() for s in scopes if str(s).strip()})
    unknown = [s for s in cleaned if s not in valid]
    if unknown:
        raise InvalidInput(_("Unknown scope: %(scope)s") % {"scope": ", ".join(unknown)}, code="bad_scope")
    if not cleaned:
        raise InvalidInput(_("Choose at least one scope."), code="bad_scope")
    return cleaned


def api_key_issue(
    *,
    tenant: Tenant,
    name: str,
    scopes: list[str] | tuple[str, ...] = ("read",),
    expires_at: datetime | None = None,
    created_by: Any = None,
) -> tuple[ApiKey, str]:
    """Create a key; the full token is returned once and never stored."""
    name = (name or "").strip()[:80]
    if not name:
        raise InvalidInput(_("Give the key a name."), code="bad_name")
    if expires_at is not None and expires_at <= timezone.now():
        raise InvalidInput(_("The expiry must be in the future."), code="bad_expiry")
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        tenant=tenant,
        name=name,
        prefix=prefix,
        key_hash=hash_secret(secret),
        scopes=scopes_clean(list(scopes)),
        expires_at=expires_at,
        created_by=created_by if getattr(created_by, "is_authenticated", False) else None,
    )
    audit_record(tenant=tenant, actor=created_by, action="apikey.issue", target=key, data={"scopes": key.scopes})
    return key, f"{KEY_PREFIX}{prefix}_{secret}"


def api_key_touch(*, key: ApiKey, now: datetime) -> None:
    """Record use, at most once a minute per key (not an UPDATE per request)."""
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now


def api_key_revoke(*, key: ApiKey, actor: Any = None) -> None:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        audit_record(tenant=key.tenant, actor=actor, action="apikey.revoke", target=key)
