"""REST authentication and authorization: tenant API keys (with scopes) or an agent's session.

A key is `kefu_<prefix>_<secret>`: the prefix finds the row, the secret is compared with
its SHA-256 (the secret is 256 random bits, so a fast hash is as strong as a slow one).
A key is the tenant: it sees every row of it, within its scopes. A session is an agent:
it sees what the console shows that agent (kefu.access), and admin-level operations
need an owner or admin.
"""

from __future__ import annotations

import hmac
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions
from rest_framework.request import Request

from kefu.access import agent_for_user
from kefu.models import Agent, ApiKey, Tenant
from kefu.models.misc import SCOPE_LEVELS
from kefu.services.api_keys import KEY_PREFIX, api_key_issue, api_key_revoke, api_key_touch, hash_secret

__all__ = ["api_key_issue", "api_key_revoke"]  # re-exported for callers of the old location


def scope_grants(scopes: list[str], *, resource: str, level: str) -> bool:
    """admin includes write includes read, globally or for one resource."""
    need = SCOPE_LEVELS.index(level)
    for scope in scopes:
        name, _sep, scope_level = scope.rpartition(":")
        if not _sep:
            name, scope_level = "", scope
        if name not in ("", resource) or scope_level not in SCOPE_LEVELS:
            continue
        if SCOPE_LEVELS.index(scope_level) >= need:
            return True
    return False


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, ApiKey] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header.startswith(f"{self.keyword} {KEY_PREFIX}"):
            return None
        token = header[len(self.keyword) + 1 + len(KEY_PREFIX) :]
        prefix, _sep, secret = token.partition("_")
        key = ApiKey.objects.select_related("tenant").filter(prefix=prefix[:16]).first()
        if key is None or not hmac.compare_digest(key.key_hash, hash_secret(secret)):
            raise exceptions.AuthenticationFailed(_("Invalid API key."))
        now = timezone.now()
        if key.revoked_at is not None or not key.tenant.is_active:
            raise exceptions.AuthenticationFailed(_("This API key was revoked."))
        if key.expires_at is not None and key.expires_at <= now:
            raise exceptions.AuthenticationFailed(_("This API key has expired."))
        api_key_touch(key=key, now=now)
        request.tenant = key.tenant  # type: ignore[attr-defined]
        request.agent = None  # type: ignore[attr-defined]
        return (None, key)

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "kefu.api.auth.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "`Authorization: Bearer kefu_<prefix>_<secret>`; keys are created in the console "
            "(Settings, API keys) or the admin, shown once, and carry scopes.",
        }


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


def request_agent(request: Request) -> Agent | None:
    """The session's agent (visibility applies), or None for an API key (the tenant)."""
    return getattr(request, "agent", None)


def required_level(view: Any, method: str) -> str:
    levels = getattr(view, "scope_levels", None) or {}
    if method in levels:
        return levels[method]
    return "read" if method in permissions.SAFE_METHODS else "write"


class IsTenantMember(permissions.BasePermission):
    """An API key whose scopes cover the view's resource and the method's level, or an
    active agent (admin-level operations: owners and admins only)."""

    message = _("This API key lacks the scope for this operation.")

    def has_permission(self, request: Request, view: Any) -> bool:
        if request_tenant(request) is None:
            return False
        resource = getattr(view, "scope_resource", None)
        level = required_level(view, request.method or "GET")
        key = request.auth if isinstance(request.auth, ApiKey) else None
        if key is not None:
            if resource is None:
                return False  # a route without a declared scope is for sessions only
            return scope_grants(key.scopes, resource=resource, level=level)
        agent = request_agent(request)
        return agent is not None and (level != "admin" or agent.is_admin)
