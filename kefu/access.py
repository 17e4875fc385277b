"""The only fetch path for tenant-owned rows: a miss and a foreign row look the same.

It also holds the one visibility rule for agents (`conversation_visible_to`, teams and
inboxes included): the
console's lists, its REST endpoints, the public REST API with a session, attachment
downloads and the agent socket all decide through it, so an agent reaches exactly what
the console shows them. An API key is the tenant itself and sees every row of it.
"""

from __future__ import annotations

from typing import TypeVar

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ObjectDoesNotExist
from django.db import connection, models
from django.db.models import Exists, OuterRef, Q

from kefu.errors import Forbidden, NotFound
from kefu.models import (
    Agent,
    ApiKey,
    Attachment,
    CannedReply,
    Channel,
    Conversation,
    Inbox,
    Status,
    Tag,
    Team,
    Tenant,
    Visitor,
    WebhookDelivery,
    WebhookSubscription,
)

M = TypeVar("M", bound=models.Model)


def _get(qs: models.QuerySet[M], **lookup: object) -> M:
    try:
        return qs.get(**lookup)
    except (ObjectDoesNotExist, ValueError, TypeError):
        raise NotFound() from None


def agent_for_user(user: AbstractBaseUser | AnonymousUser | None) -> Agent | None:
    """The active agent record of a signed-in user, or None."""
    if user is None or not user.is_authenticated:
        return None
    try:
        agent = Agent.objects.select_related("tenant").get(user_id=user.pk)
    except Agent.DoesNotExist:
        return None
    if not agent.is_active or not agent.tenant.is_active or not user.is_active:
        return None
    return agent


# --- The visibility rule ------------------------------------------------------------------
_UNASSIGNED = (Status.QUEUED, Status.BOT)


def conversation_visible_to(
    *,
    is_admin: bool,
    agent_id: int,
    team_ids: frozenset[int] | set[int],
    assignee_id: int | None,
    status: str | None,
    team_id: int | None,
    inbox_ids: frozenset[int] | None = None,
    inbox_id: int | None = None,
) -> bool:
    """Admins (owners included) supervise everything; an agent sees the conversations
    assigned to them and the unassigned (queued or bot) work of their teams, or of no team,
    in the inboxes they are limited to (`inbox_ids`; None: every inbox).

    Written on plain fields so the socket can apply it to event payloads without a query.
    """
    if is_admin or (assignee_id is not None and assignee_id == agent_id):
        return True
    return (
        status in _UNASSIGNED
        and (team_id is None or team_id in team_ids)
        and (inbox_ids is None or inbox_id in inbox_ids)
    )


def agent_team_ids(agent: Agent) -> frozenset[int]:
    """The agent's teams, read once per agent object."""
    cached = getattr(agent, "_kefu_team_ids", None)
    if cached is None:
        cached = frozenset(agent.teams.values_list("pk", flat=True))
        agent._kefu_team_ids = cached  # type: ignore[attr-defined]
    return cached


def conversation_visible(*, agent: Agent, conversation: Conversation) -> bool:
    return conversation.tenant_id == agent.tenant_id and conversation_visible_to(
        is_admin=agent.is_admin,
        agent_id=agent.pk,
        team_ids=agent_team_ids(agent) if not agent.is_admin else frozenset(),
        assignee_id=conversation.assignee_id,
        status=conversation.status,
        team_id=conversation.team_id,
        inbox_ids=agent_inbox_ids(agent),
        inbox_id=conversation.inbox_id,
    )


def visible_conversations_q(agent: Agent, prefix: str = "") -> Q:
    """The rule as a filter (`prefix` like "conversation__" for related rows)."""
    if agent.is_admin:
        return Q()
    unassigned = Q(**{f"{prefix}status__in": list(_UNASSIGNED)}) & (
        Q(**{f"{prefix}team__isnull": True}) | Q(**{f"{prefix}team__in": agent_team_ids(agent)})
    )
    inbox_ids = agent_inbox_ids(agent)
    if inbox_ids is not None:
        unassigned &= Q(**{f"{prefix}inbox_id__in": inbox_ids})
    return Q(**{f"{prefix}assignee": agent}) | unassigned


def conversations_for(*, tenant: Tenant, agent: Agent | None) -> models.QuerySet[Conversation]:
    """The tenant's conversations the caller may see: all for an API key (agent None)."""
    qs = Conversation.objects.filter(tenant=tenant)
    return qs.filter(visible_conversations_q(agent)) if agent is not None else qs


def visitors_for(*, tenant: Tenant, agent: Agent | None) -> models.QuerySet[Visitor]:
    """A visitor is visible to an agent through any conversation of theirs the agent may see."""
    qs = Visitor.objects.filter(tenant=tenant)
    if agent is None or agent.is_admin:
        return qs
    seen = Conversation.objects.filter(visible_conversations_q(agent), visitor_id=OuterRef("pk"))
    return qs.filter(Exists(seen))


# --- Fetches ----------------------------------------------------------------------------------
def access_conversation(
    *, tenant: Tenant, conversation_id: object, for_update: bool = False, agent: Agent | None = None
) -> Conversation:
    """The tenant's conversation; with `agent`, only one that agent may see (else NotFound)."""
    qs = Conversation.objects.filter(tenant=tenant)
    if for_update:
        qs = qs.select_for_update(of=("self",), no_key=True)
    conv = _get(qs.select_related("visitor", "assignee"), pk=conversation_id)
    if agent is not None and not conversation_visible(agent=agent, conversation=conv):
        raise NotFound()
    return conv


def access_conversation_stub(*, tenant_id: int, conversation_id: int) -> Conversation:
    """The tenant's conversation with only what routing and visibility checks need
    (assignee, status, team, inbox).

    For the agent send path, which locks and re-reads the row in the service anyway:
    one small query instead of compiling a joined queryset per message.
    """
    table = connection.ops.quote_name(Conversation._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT assignee_id, status, team_id, inbox_id FROM {table} WHERE id = %s AND tenant_id = %s",  # noqa: S608
            [conversation_id, tenant_id],
        )
        row = cursor.fetchone()
    if row is None:
        raise NotFound()
    return Conversation(
        pk=conversation_id, tenant_id=tenant_id, assignee_id=row[0], status=row[1], team_id=row[2], inbox_id=row[3]
    )


def access_visitor(*, tenant: Tenant, visitor_id: object, agent: Agent | None = None) -> Visitor:
    return _get(visitors_for(tenant=tenant, agent=agent), pk=visitor_id)


def access_session_visitor(*, tenant_id: int, visitor_id: int) -> Visitor:
    """The visitor a widget token names, with its tenant, while that tenant is active."""
    return _get(
        Visitor.objects.select_related("tenant").filter(tenant_id=tenant_id, tenant__is_active=True), pk=visitor_id
    )


def access_session_inbox(*, tenant_id: int, inbox_id: int | None) -> Inbox:
    """The widget inbox a widget token names (None, in tokens from before inboxes: the
    tenant's first), while it and its tenant are active."""
    qs = Inbox.objects.select_related("tenant").filter(
        tenant_id=tenant_id, channel=Channel.WIDGET, is_active=True, tenant__is_active=True
    )
    if inbox_id is None:
        inbox = qs.order_by("created_at", "pk").first()
        if inbox is None:
            raise NotFound()
        return inbox
    return _get(qs, pk=inbox_id)


def access_visitor_conversation(*, visitor_id: int, conversation_id: object) -> Conversation:
    """One of the visitor's own conversations (the widget's socket and endpoints)."""
    qs = Conversation.objects.select_related("tenant", "visitor").filter(visitor_id=visitor_id)
    return _get(qs, pk=conversation_id)


def access_visitor_attachment(*, visitor_id: int, attachment_id: object) -> Attachment:
    """A file of one of the visitor's conversations, unless the visitor is blocked."""
    qs = Attachment.objects.filter(conversation__visitor_id=visitor_id, conversation__visitor__is_blocked=False)
    return _get(qs.select_related("conversation__visitor"), pk=attachment_id)


def access_attachment(*, tenant: Tenant, attachment_id: object, agent: Agent | None = None) -> Attachment:
    """With `agent`: an attachment of a conversation the agent may see. One not yet sent
    in any conversation is visible to admins (and API keys) only."""
    attachment = _get(Attachment.objects.filter(tenant=tenant).select_related("conversation"), pk=attachment_id)
    if agent is not None and not agent.is_admin:
        conv = attachment.conversation
        if conv is None or not conversation_visible(agent=agent, conversation=conv):
            raise NotFound()
    return attachment


def access_own_agent(*, agent_id: int) -> Agent:
    """A signed-in agent's own row (the id came from their session) with its tenant; a
    deactivated agent is refused."""
    agent = Agent.objects.select_related("tenant").filter(pk=agent_id, is_active=True).first()
    if agent is None:
        raise Forbidden()
    return agent


def access_agent(*, tenant: Tenant, agent_id: object) -> Agent:
    return _get(Agent.objects.filter(tenant=tenant).select_related("user"), pk=agent_id)


def access_team(*, tenant: Tenant, team_id: object) -> Team:
    return _get(Team.objects.filter(tenant=tenant), pk=team_id)


def access_tag(*, tenant: Tenant, tag_id: object) -> Tag:
    return _get(Tag.objects.filter(tenant=tenant), pk=tag_id)


def access_canned_reply(*, tenant: Tenant, canned_reply_id: object) -> CannedReply:
    return _get(CannedReply.objects.filter(tenant=tenant), pk=canned_reply_id)


def access_inbox(*, tenant: Tenant, inbox_id: object) -> Inbox:
    return _get(Inbox.objects.filter(tenant=tenant), pk=inbox_id)


def inbox_by_key(*, key: str, channel: str | None = None) -> Inbox:
    """An active inbox of an active tenant by its public key (widget key or callback URL
    part), with its tenant; optionally only of one channel. Anything else is NotFound."""
    qs = Inbox.objects.filter(is_active=True, tenant__is_active=True).select_related("tenant")
    if channel is not None:
        qs = qs.filter(channel=channel)
    return _get(qs, key=key)


def widget_inbox_by_key(*, widget_key: str) -> Inbox:
    """The website-widget inbox that a page's embed code names."""
    return inbox_by_key(key=widget_key, channel=Channel.WIDGET)


def agent_inbox_ids(agent: Agent) -> frozenset[int] | None:
    """The inboxes an agent is limited to, or None for every inbox.

    Owners and admins supervise the whole tenant, so a limit set on them is ignored; the
    answer is cached on the agent object (one query per console request or socket).
    """
    if agent.is_admin:
        return None
    if not hasattr(agent, "_kefu_inbox_ids"):
        agent._kefu_inbox_ids = frozenset(agent.inboxes.values_list("pk", flat=True))  # type: ignore[attr-defined]
    ids: frozenset[int] = agent._kefu_inbox_ids  # type: ignore[attr-defined]
    return ids or None


def access_api_key(*, tenant: Tenant, api_key_id: object) -> ApiKey:
    return _get(ApiKey.objects.filter(tenant=tenant), pk=api_key_id)


def access_webhook(*, tenant: Tenant, webhook_id: object) -> WebhookSubscription:
    return _get(WebhookSubscription.objects.filter(tenant=tenant), pk=webhook_id)


def access_webhook_delivery(*, tenant: Tenant, delivery_id: object) -> WebhookDelivery:
    return _get(WebhookDelivery.objects.filter(tenant=tenant).select_related("subscription"), pk=delivery_id)
