"""Writes of the agent console and of the tenant settings pages.

Every privileged change leaves an audit record in the same transaction.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from kefu import events
from kefu.errors import Conflict, Forbidden, InvalidInput
from kefu.models import Agent, CannedReply, Conversation, Role, Tag, Team, Tenant
from kefu.models.tenants import new_identity_secret
from kefu.payloads import conversation_payload
from kefu.services import directory
from kefu.services.audit import audit_record
from kefu.services.text import clean_plain


def require_admin(agent: Agent) -> None:
    if not agent.is_admin:
        raise Forbidden()


def _tag_event(conv: Conversation) -> None:
    # Inbox filters by tag, so other consoles refresh the row.
    groups = [events.inbox_group(conv.tenant_id), events.conversation_group(conv.pk)]
    events.broadcast_on_commit(groups, {"type": "kefu.conversation.status", "conversation": conversation_payload(conv)})


@transaction.atomic
def conversation_tag_add(
    *, conversation: Conversation, name: str = "", tag: Tag | None = None, actor: Agent | None
) -> Tag:
    if tag is None:
        name = clean_plain(name, max_chars=50)
        try:
            with transaction.atomic():
                tag, _created = Tag.objects.get_or_create(tenant_id=conversation.tenant_id, name=name)
        except IntegrityError:
            tag = Tag.objects.get(tenant_id=conversation.tenant_id, name=name)
    elif tag.tenant_id != conversation.tenant_id:
        raise InvalidInput(_("That tag belongs to another tenant."), code="bad_tag")
    conversation.tags.add(tag)
    _tag_event(conversation)
    return tag


@transaction.atomic
def conversation_tag_remove(*, conversation: Conversation, tag: Tag, actor: Agent | None) -> None:
    conversation.tags.remove(tag)
    _tag_event(conversation)


# --- Tenant settings (owner/admin only) ------------------------------------------------


@transaction.atomic
def tenant_settings_update(
    *, tenant: Tenant, actor: Agent, changes: dict[str, Any], ip: str | None = None, action: str = "tenant.settings"
) -> Tenant:
    require_admin(actor)
    allowed = {
        "widget_settings",
        "allowed_origins",
        "business_hours",
        "timezone",
        "routing_policy",
        "reassign_after_seconds",
        "locale",
    }
    unknown = set(changes) - allowed
    if unknown:
        raise InvalidInput(_("Unknown settings: %(names)s") % {"names": ", ".join(sorted(unknown))})
    before = {name: getattr(tenant, name) for name in changes}
    for name, value in changes.items():
        setattr(tenant, name, value)
    tenant.full_clean()
    tenant.save(update_fields=list(changes))
    audit_record(
        tenant=tenant, actor=actor.user, action=action, target=tenant, data={"before": before, "after": changes}, ip=ip
    )
    return tenant


@transaction.atomic
def tenant_identity_secret_rotate(*, tenant: Tenant, actor: Agent, ip: str | None = None) -> str:
    require_admin(actor)
    tenant.identity_secret = new_identity_secret()
    tenant.save(update_fields=["identity_secret"])
    # Never the secret itself in the audit trail.
    audit_record(tenant=tenant, actor=actor.user, action="tenant.identity_secret.rotate", target=tenant, ip=ip)
    return tenant.identity_secret


def team_create(*, tenant: Tenant, actor: Agent, name: str, ip: str | None = None) -> Team:
    require_admin(actor)
    return directory.team_create(tenant=tenant, name=name, actor=actor.user, ip=ip)


def team_delete(*, team: Team, actor: Agent, ip: str | None = None) -> None:
    require_admin(actor)
    directory.team_remove(team=team, actor=actor.user, ip=ip)


def _one_time_password() -> str:
    # Readable and long enough: 12 characters from a 54-symbol alphabet (~69 bits).
    alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(12))


@transaction.atomic
def agent_invite(
    *,
    tenant: Tenant,
    actor: Agent,
    username: str,
    email: str = "",
    display_name: str = "",
    role: str = Role.AGENT,
    capacity: int = 5,
    teams: list[Team] | None = None,
    ip: str | None = None,
) -> tuple[Agent, str]:
    """Create the user and the agent; the one-time password is returned once, never stored in clear."""
    require_admin(actor)
    if role == Role.OWNER and actor.role != Role.OWNER:
        raise Forbidden(_("Only an owner can make another owner."))
    if Agent.objects.filter(tenant=tenant, is_active=True).count() >= tenant.max_agents:
        raise Conflict(_("The tenant has reached its agent limit."), code="agent_limit")
    user_model = get_user_model()
    username = clean_plain(username, max_chars=150)
    if user_model.objects.filter(username__iexact=username).exists():
        raise Conflict(_("That user name is taken."), code="duplicate")
    password = _one_time_password()
    user = user_model.objects.create_user(username=username, email=email, password=password)
    agent = Agent.objects.create(
        user=user,
        tenant=tenant,
        display_name=clean_plain(display_name, max_chars=80, allow_empty=True),
        role=role,
        capacity=capacity,
    )
    if teams:
        agent.teams.set([t for t in teams if t.tenant_id == tenant.pk])
    audit_record(
        tenant=tenant,
        actor=actor.user,
        action="agent.invite",
        target=agent,
        data={"username": username, "role": role, "capacity": capacity},
        ip=ip,
    )
    return agent, password


@transaction.atomic
def agent_update(
    *,
    agent: Agent,
    actor: Agent,
    role: str | None = None,
    capacity: int | None = None,
    is_active: bool | None = None,
    teams: list[Team] | None = None,
    ip: str | None = None,
) -> Agent:
    require_admin(actor)
    if agent.tenant_id != actor.tenant_id:
        raise Forbidden()
    if agent.role == Role.OWNER and actor.role != Role.OWNER:
        raise Forbidden(_("Only an owner can change an owner."))
    if role == Role.OWNER and actor.role != Role.OWNER:
        raise Forbidden(_("Only an owner can make another owner."))
    if agent.pk == actor.pk and (is_active is False or (role and role != agent.role)):
        raise InvalidInput(_("You cannot deactivate yourself or change your own role."), code="self_change")
    changes: dict[str, Any] = {}
    for name, value in (("role", role), ("capacity", capacity), ("is_active", is_active)):
        if value is not None and getattr(agent, name) != value:
            changes[name] = value
            setattr(agent, name, value)
    if changes:
        agent.full_clean(exclude=["user", "tenant"])
        agent.save(update_fields=list(changes))
    if teams is not None:
        agent.teams.set([t for t in teams if t.tenant_id == agent.tenant_id])
        changes["teams"] = [t.pk for t in teams]
    audit_record(tenant=agent.tenant, actor=actor.user, action="agent.update", target=agent, data=changes, ip=ip)
    if changes.get("is_active") is False:
        # Open sockets of a deactivated agent close at once (4010).
        events.broadcast_on_commit([events.agent_group(agent.pk)], {"type": "kefu.revoke"})
    return agent


def canned_reply_save(
    *,
    tenant: Tenant,
    actor: Agent,
    shortcut: str,
    title: str,
    body: str,
    canned: CannedReply | None = None,
    ip: str | None = None,
) -> CannedReply:
    require_admin(actor)
    if canned is not None and canned.tenant_id != tenant.pk:
        raise Forbidden()
    return directory.canned_reply_write(
        tenant=tenant, shortcut=shortcut, title=title, body=body, canned=canned, actor=actor.user, ip=ip
    )


def canned_reply_delete(*, canned: CannedReply, actor: Agent, ip: str | None = None) -> None:
    require_admin(actor)
    directory.canned_reply_remove(canned=canned, actor=actor.user, ip=ip)
