"""Inboxes: creating and configuring a tenant's entry points (widgets and channels)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from kefu.errors import Forbidden, InvalidInput
from kefu.models import Agent, Channel, Inbox, RoutingPolicy, Team, Tenant
from kefu.models.inboxes import new_inbox_key
from kefu.services.audit import audit_record
from kefu.services.text import clean_plain

# Channels whose inbox can be created with no credentials: the tenant's website and API.
_SELF_SUFFICIENT = {Channel.WIDGET, Channel.API}
# Every widget origin allowed anywhere (for CORS preflights); dropped when an inbox or a
# tenant is saved (kefu.receivers).
ORIGINS_CACHE_KEY = "kefu:widget:origins"


def default_inbox_name(channel: str, locale: str = "") -> str:
    names = {
        Channel.WIDGET: ("Website", "网站"),
        Channel.API: ("API", "API"),
        Channel.WECHAT: ("WeChat Official Account", "微信公众号"),
        Channel.WECOM: ("WeCom customer service", "微信客服"),
        Channel.EMAIL: ("E-mail", "邮件"),
        Channel.TELEGRAM: ("Telegram", "Telegram"),
    }
    en, zh = names.get(Channel(channel), (channel, channel))
    return zh if (locale or "").startswith("zh") else en


def inbox_default(*, tenant: Tenant, channel: str = Channel.WIDGET) -> Inbox:
    """The tenant's first active inbox of a channel; for the website and the API, created
    when there is none (a new tenant starts with one). Other channels need credentials, so
    their absence is an error for the caller."""
    inbox = Inbox.objects.filter(tenant=tenant, channel=channel, is_active=True).order_by("created_at", "pk").first()
    if inbox is not None:
        inbox.tenant = tenant
        return inbox
    if channel not in _SELF_SUFFICIENT:
        raise InvalidInput(_("Connect this channel first."), code="no_inbox")
    with transaction.atomic():
        # The tenant's row lock makes two concurrent first conversations create one inbox.
        Tenant.objects.select_for_update(no_key=True).filter(pk=tenant.pk).first()
        inbox = (
            Inbox.objects.filter(tenant=tenant, channel=channel, is_active=True).order_by("created_at", "pk").first()
        )
        if inbox is None:
            inbox = Inbox.objects.create(
                tenant=tenant,
                name=default_inbox_name(channel, tenant.locale),
                channel=channel,
                key=new_inbox_key(channel),
            )
    inbox.tenant = tenant
    return inbox


@transaction.atomic
def inbox_create(
    *,
    tenant: Tenant,
    channel: str,
    name: str = "",
    actor: Agent | None = None,
    ip: str | None = None,
    **fields: Any,
) -> Inbox:
    if actor is not None and (actor.tenant_id != tenant.pk or not actor.is_admin):
        raise Forbidden(_("Only owners and admins can change inboxes."))
    if channel not in Channel.values:
        raise InvalidInput(_("Unknown channel."), code="bad_channel")
    inbox = Inbox(
        tenant=tenant,
        channel=channel,
        name=clean_plain(name, max_chars=80) if name else default_inbox_name(channel, tenant.locale),
        key=new_inbox_key(channel),
    )
    _apply(inbox, fields)
    inbox.full_clean()
    inbox.save()
    audit_record(
        tenant=tenant,
        actor=actor.user if actor else None,
        action="inbox.create",
        target=inbox,
        data={"channel": channel, "name": inbox.name},
        ip=ip,
    )
    return inbox


# What a settings page may change; credentials go through inbox_credentials_set.
_EDITABLE = {
    "name",
    "is_active",
    "allowed_origins",
    "widget_settings",
    "business_hours",
    "timezone",
    "team",
    "routing_policy",
    "auto_assign",
    "config",
}


def _apply(inbox: Inbox, changes: dict[str, Any]) -> None:
    unknown = set(changes) - _EDITABLE
    if unknown:
        raise InvalidInput(_("Unknown settings: %(names)s") % {"names": ", ".join(sorted(unknown))})
    team = changes.get("team")
    if isinstance(team, Team) and team.tenant_id != inbox.tenant_id:
        raise InvalidInput(_("That team belongs to another tenant."), code="bad_team")
    if changes.get("routing_policy") not in (None, "", *RoutingPolicy.values):
        raise InvalidInput(_("Unknown routing policy."), code="invalid")
    for name, value in changes.items():
        setattr(inbox, name, value)


@transaction.atomic
def inbox_update(
    *, inbox: Inbox, actor: Agent, changes: dict[str, Any], ip: str | None = None, action: str = "inbox.update"
) -> Inbox:
    if actor.tenant_id != inbox.tenant_id or not actor.is_admin:
        raise Forbidden(_("Only owners and admins can change inboxes."))
    before = {name: _audit_value(getattr(inbox, name)) for name in changes if name in _EDITABLE}
    _apply(inbox, changes)
    inbox.full_clean()
    inbox.save(update_fields=list(changes))
    audit_record(
        tenant=inbox.tenant,
        actor=actor.user,
        action=action,
        target=inbox,
        data={"before": before, "after": {k: _audit_value(v) for k, v in changes.items()}},
        ip=ip,
    )
    return inbox


@transaction.atomic
def inbox_credentials_set(*, inbox: Inbox, actor: Agent, credentials: dict[str, str], ip: str | None = None) -> Inbox:
    """Replace the named secrets (an empty value keeps the stored one: forms never echo secrets)."""
    if actor.tenant_id != inbox.tenant_id or not actor.is_admin:
        raise Forbidden(_("Only owners and admins can change inboxes."))
    merged = {**inbox.credentials, **{k: v for k, v in credentials.items() if v}}
    inbox.credentials = merged
    inbox.save(update_fields=["credentials_data"])
    # The names only: never a secret in the audit trail.
    audit_record(
        tenant=inbox.tenant,
        actor=actor.user,
        action="inbox.credentials",
        target=inbox,
        data={"changed": sorted(k for k, v in credentials.items() if v)},
        ip=ip,
    )
    return inbox


def _audit_value(value: Any) -> Any:
    if isinstance(value, Team):
        return value.pk
    return value
