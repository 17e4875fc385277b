"""The team directory: teams and their members, tags, canned replies.

Authorization is the caller's (console pages check for an admin, the API for the admin
scope); every change is audited with the acting user (None for an API key).
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from kefu.errors import Conflict
from kefu.models import Agent, CannedReply, Tag, Team, Tenant
from kefu.services.audit import audit_record
from kefu.services.text import clean_plain


@transaction.atomic
def team_create(*, tenant: Tenant, name: str, actor: Any = None, ip: str | None = None) -> Team:
    name = clean_plain(name, max_chars=80)
    if Team.objects.filter(tenant=tenant, name=name).exists():
        raise Conflict(_("A team with that name exists."), code="duplicate")
    team = Team.objects.create(tenant=tenant, name=name)
    audit_record(tenant=tenant, actor=actor, action="team.create", target=team, data={"name": name}, ip=ip)
    return team


@transaction.atomic
def team_rename(*, team: Team, name: str, actor: Any = None) -> Team:
    name = clean_plain(name, max_chars=80)
    if Team.objects.filter(tenant_id=team.tenant_id, name=name).exclude(pk=team.pk).exists():
        raise Conflict(_("A team with that name exists."), code="duplicate")
    team.name = name
    team.save(update_fields=["name"])
    audit_record(tenant=team.tenant, actor=actor, action="team.rename", target=team, data={"name": name})
    return team


@transaction.atomic
def team_remove(*, team: Team, actor: Any = None, ip: str | None = None) -> None:
    audit_record(tenant=team.tenant, actor=actor, action="team.delete", target=team, data={"name": team.name}, ip=ip)
    team.delete()


@transaction.atomic
def team_member_add(*, team: Team, agent: Agent, actor: Any = None) -> None:
    agent.teams.add(team)
    audit_record(tenant=team.tenant, actor=actor, action="team.member_add", target=team, data={"agent": agent.pk})


@transaction.atomic
def team_member_remove(*, team: Team, agent: Agent, actor: Any = None) -> None:
    agent.teams.remove(team)
    audit_record(tenant=team.tenant, actor=actor, action="team.member_remove", target=team, data={"agent": agent.pk})


@transaction.atomic
def tag_save(
    *, tenant: Tenant, name: str | None = None, color: str | None = None, tag: Tag | None = None, actor: Any = None
) -> Tag:
    tag = tag or Tag(tenant=tenant)
    if name is not None:
        tag.name = clean_plain(name, max_chars=50)
    if color is not None:
        tag.color = color.lower()
    try:
        with transaction.atomic():
            tag.save()
    except IntegrityError:
        raise Conflict(_("A tag with that name exists."), code="duplicate") from None
    audit_record(tenant=tenant, actor=actor, action="tag.save", target=tag, data={"name": tag.name})
    return tag


@transaction.atomic
def tag_delete(*, tag: Tag, actor: Any = None) -> None:
    audit_record(tenant=tag.tenant, actor=actor, action="tag.delete", target=tag, data={"name": tag.name})
    tag.delete()


@transaction.atomic
def canned_reply_write(
    *,
    tenant: Tenant,
    shortcut: str,
    title: str,
    body: str,
    canned: CannedReply | None = None,
    actor: Any = None,
    ip: str | None = None,
) -> CannedReply:
    canned = canned or CannedReply(tenant=tenant)
    canned.shortcut = shortcut
    canned.title = clean_plain(title, max_chars=120)
    canned.body = clean_plain(body, max_chars=5000)
    canned.full_clean(exclude=["tenant"])
    action = "canned.update" if canned.pk else "canned.create"
    try:
        with transaction.atomic():
            canned.save()
    except IntegrityError:
        raise Conflict(_("That shortcut is taken."), code="duplicate") from None
    audit_record(tenant=tenant, actor=actor, action=action, target=canned, data={"shortcut": shortcut}, ip=ip)
    return canned


@transaction.atomic
def canned_reply_remove(*, canned: CannedReply, actor: Any = None, ip: str | None = None) -> None:
    audit_record(
        tenant=canned.tenant,
        actor=actor,
        action="canned.delete",
        target=canned,
        data={"shortcut": canned.shortcut},
        ip=ip,
    )
    canned.delete()
