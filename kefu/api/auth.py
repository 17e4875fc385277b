"""REST authentication: tenant API keys or an agent's session; both resolve a tenant."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions
from rest_framework.request import Request

from kefu.access import agent_for_user
from kefu.models import ApiKey, Tenant

KEY_PREFIX = "kefu_"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def api_key_issue(*, tenant: Tenant, name: str) -> tuple[ApiKey, str]:
    """Create a key; the full token is returned once and never stored."""
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    key = ApiKey.objects.create(tenant=tenant, name=name, prefix=prefix, key_hash=hash_secret(secret))
    return key, f"{KEY_PREFIX}{prefix}_{secret}"


def api_key_revoke(*, key: ApiKey) -> None:
    key.revoked_at = timezone.now()
    key.save(update_fields=["revoked_at"])


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, ApiKey] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header.startswith(f"{self.keyword} {KEY_PREFIX}"):
            return None
        token = header[len(self.keyword) + 1 + len(KEY_PREFIX) :]
        prefix, _, secret = token.partition("_")
        key = ApiKey.objects.select_related("tenant").filter(prefix=prefix, revoked_at__isnull=True).first()
        if key is None or not key.tenant.is_active or not hmac.compare_digest(key.key_hash, hash_secret(secret)):
            raise exceptions.AuthenticationFailed("Invalid API key.")
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now())
        request.tenant = key.tenant  # type: ignore[attr-defined]
        return (None, key)

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "kefu.api.auth.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "kefu_<prefix>_<secret>"}


def request_tenant(request: Request) -> Tenant | None:
    tenant = getattr(request, "tenant", None)
    if tenant is not None:
        return tenant
    agent = agent_for_user(request.user)
    if agent is None:
        return None
    request.tenant, request.agent = agent.tenant, agent  # type: ignore[attr-defined]
    return agent.tenant


def tenant_of(request: Request) -> Tenant:
    """The request's tenant, in a view that IsTenantMember already admitted."""
    tenant = request_tenant(request)
    if tenant is None:
        raise exceptions.NotAuthenticated()
    return tenant


class IsTenantMember(permissions.BasePermission):
    """An API key or an active agent; either way the request is bound to one tenant."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return request_tenant(request) is not None
