"""The only fetch path for tenant-owned rows: a miss and a foreign row look the same."""

from __future__ import annotations

from typing import TypeVar

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db import connection, models

from kefu.errors import NotFound
from kefu.models import Agent, Attachment, CannedReply, Conversation, Tag, Team, Tenant, Visitor

M = TypeVar("M", bound=models.Model)


def _get(qs: models.QuerySet[M], **lookup: object) -> M:
    try:
        return qs.get(**lookup)
    except (qs.model.DoesNotExist, ValueError, TypeError):
        raise NotFound() from None


def agent_for_user(user: AbstractBaseUser | AnonymousUser | None) -> Agent | None:
    """The active agent record of a signed-in user, or None."""
    if user is None or not user.is_authenticated:
        return None
    try:
        agent = Agent.objects.select_related("tenant").get(user=user)
    except Agent.DoesNotExist:
        return None
    if not agent.is_active or not agent.tenant.is_active or not user.is_active:
        return None
    return agent


def access_conversation(*, tenant: Tenant, conversation_id: object, for_update: bool = False) -> Conversation:
    qs = Conversation.objects.filter(tenant=tenant)
    if for_update:
        qs = qs.select_for_update(of=("self",), no_key=True)
    return _get(qs.select_related("visitor", "assignee"), pk=conversation_id)


def access_conversation_stub(*, tenant_id: int, conversation_id: int) -> Conversation:
    """The tenant's conversation with only what routing checks need (assignee, status, team).

    For the agent send path, which locks and re-reads the row in the service anyway:
    one small query instead of compiling a joined queryset per message.
    """
    table = connection.ops.quote_name(Conversation._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT assignee_id, status, team_id FROM {table} WHERE id = %s AND tenant_id = %s",  # noqa: S608
            [conversation_id, tenant_id],
        )
        row = cursor.fetchone()
    if row is None:
        raise NotFound()
    return Conversation(pk=conversation_id, tenant_id=tenant_id, assignee_id=row[0], status=row[1], team_id=row[2])


def access_visitor(*, tenant: Tenant, visitor_id: object) -> Visitor:
    return _get(Visitor.objects.filter(tenant=tenant), pk=visitor_id)


def access_attachment(*, tenant: Tenant, attachment_id: object) -> Attachment:
    return _get(Attachment.objects.filter(tenant=tenant), pk=attachment_id)


def access_agent(*, tenant: Tenant, agent_id: object) -> Agent:
    return _get(Agent.objects.filter(tenant=tenant).select_related("user"), pk=agent_id)


def access_team(*, tenant: Tenant, team_id: object) -> Team:
    return _get(Team.objects.filter(tenant=tenant), pk=team_id)


def access_tag(*, tenant: Tenant, tag_id: object) -> Tag:
    return _get(Tag.objects.filter(tenant=tenant), pk=tag_id)


def access_canned_reply(*, tenant: Tenant, canned_reply_id: object) -> CannedReply:
    return _get(CannedReply.objects.filter(tenant=tenant), pk=canned_reply_id)


def tenant_by_widget_key(*, widget_key: str) -> Tenant:
    return _get(Tenant.objects.filter(is_active=True), widget_key=widget_key)
