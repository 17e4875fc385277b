"""Reads of the agent console: inbox lists, counts, the visitor panel."""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db.models import Exists, F, OuterRef, Q, QuerySet, Subquery

from kefu import access
from kefu.console.useragent import parse_user_agent
from kefu.errors import NotFound
from kefu.models import Agent, Conversation, Inbox, Kind, Message, Status, Tag, Visitor
from kefu.payloads import agent_payload, visitor_payload

logger = logging.getLogger(__name__)

BOXES = ("mine", "queued", "bot", "all", "closed")


def conversation_visible(*, agent: Agent, conversation: Conversation) -> bool:
    """The console's rule is the access layer's (kefu.access.conversation_visible_to)."""
    return access.conversation_visible(agent=agent, conversation=conversation)


def conversation_for_agent(*, agent: Agent, conversation: Conversation) -> Conversation:
    if not conversation_visible(agent=agent, conversation=conversation):
        raise NotFound()
    return conversation


def inbox_list(
    *,
    agent: Agent,
    box: str = "mine",
    team_id: int | None = None,
    tag_id: int | None = None,
    inbox_id: int | None = None,
    q: str = "",
) -> QuerySet[Conversation]:
    qs = (
        Conversation.objects.filter(tenant_id=agent.tenant_id)
        .select_related("visitor", "assignee", "team", "inbox")
        .prefetch_related("tags")
    )
    if box == "mine":
        qs = qs.filter(assignee=agent).exclude(status=Status.CLOSED)
    elif box == "queued":
        qs = qs.filter(status=Status.QUEUED)
    elif box == "bot":
        qs = qs.filter(status=Status.BOT)
    elif box == "closed":
        qs = qs.filter(status=Status.CLOSED)
    if not agent.is_admin:
        qs = qs.filter(access.visible_conversations_q(agent))
    if team_id:
        qs = qs.filter(team_id=team_id)
    if inbox_id:
        qs = qs.filter(inbox_id=inbox_id)
    if tag_id:
        qs = qs.filter(tags__id=tag_id)
    q = (q or "").strip()[:100]
    if q:
        # icontains scans; fine for one tenant's inbox. A trigram index is the next step.
        body_hit = Message.objects.filter(conversation_id=OuterRef("pk"), body__icontains=q, is_internal=False)
        qs = qs.filter(
            Q(visitor__name__icontains=q)
            | Q(visitor__email__icontains=q)
            | Q(visitor__phone__icontains=q)
            | Exists(body_hit)
        )
    return qs.order_by(F("last_message_at").desc(nulls_last=True), "-id")


def inbox_counts(*, agent: Agent) -> dict[str, int]:
    base = Conversation.objects.filter(tenant_id=agent.tenant_id)
    if not agent.is_admin:
        base = base.filter(access.visible_conversations_q(agent))
    open_mine = base.filter(assignee=agent).exclude(status=Status.CLOSED)
    return {
        "mine": open_mine.count(),
        "queued": base.filter(status=Status.QUEUED).count(),
        "bot": base.filter(status=Status.BOT).count(),
        "all": base.exclude(status=Status.CLOSED).count() if agent.is_admin else 0,
        "unread": open_mine.filter(last_seq__gt=F("agent_read_seq")).count(),
    }


def last_messages(conversations: list[Conversation]) -> dict[int, Message]:
    """The latest visible message of each conversation, for inbox previews (one query)."""
    ids = [c.pk for c in conversations]
    if not ids:
        return {}
    # A correlated subquery rather than DISTINCT ON: the embedded default runs on SQLite.
    # System event lines ("Alice joined") are not a useful preview.
    visible = Message.objects.filter(is_internal=False).exclude(kind=Kind.EVENT)
    latest = visible.filter(conversation_id=OuterRef("conversation_id")).order_by("-seq").values("seq")[:1]
    rows = visible.filter(conversation_id__in=ids, seq=Subquery(latest)).only(
        "conversation_id", "seq", "kind", "body", "sender_type", "created_at"
    )
    return {m.conversation_id: m for m in rows}


def inbox_item(conversation: Conversation, last: Message | None) -> dict[str, Any]:
    return {
        "id": conversation.pk,
        "status": conversation.status,
        "channel": conversation.channel,
        "inbox": {"id": conversation.inbox_id, "name": conversation.inbox.name},
        "visitor": {"id": conversation.visitor_id, "name": str(conversation.visitor)},
        "assignee": agent_payload(conversation.assignee),
        "team": {"id": conversation.team.pk, "name": conversation.team.name} if conversation.team else None,
        "tags": [{"id": t.pk, "name": t.name, "color": t.color} for t in conversation.tags.all()],
        "last_seq": conversation.last_seq,
        "unread": max(0, conversation.last_seq - conversation.agent_read_seq),
        "last_message_at": conversation.last_message_at.isoformat() if conversation.last_message_at else None,
        "preview": {
            "kind": last.kind,
            "body": last.body[:140],
            "sender_type": last.sender_type,
        }
        if last is not None
        else None,
    }


def conversation_detail(*, conversation: Conversation) -> dict[str, Any]:
    conv = conversation
    return {
        "id": conv.pk,
        "status": conv.status,
        "channel": conv.channel,
        "inbox": {"id": conv.inbox_id, "name": conv.inbox.name},
        "visitor": {"id": conv.visitor_id, "name": str(conv.visitor)},
        "assignee": agent_payload(conv.assignee),
        "team_id": conv.team_id,
        "tags": [{"id": t.pk, "name": t.name, "color": t.color} for t in conv.tags.all()],
        "last_seq": conv.last_seq,
        "visitor_read_seq": conv.visitor_read_seq,
        "agent_read_seq": conv.agent_read_seq,
        "rating": conv.rating,
        "rating_comment": conv.rating_comment,
        "created_at": conv.created_at.isoformat(),
        "closed_at": conv.closed_at.isoformat() if conv.closed_at else None,
    }


@lru_cache(maxsize=1)
def _geoip() -> Any:
    path = getattr(settings, "GEOIP_PATH", None)
    if not path:
        return None
    try:
        from django.contrib.gis.geoip2 import GeoIP2

        return GeoIP2(path)
    except Exception:  # no geoip2 package or no database: the panel shows nothing
        logger.info("GeoIP is not available at %s", path, exc_info=True)
        return None


def visitor_location(ip: str | None) -> dict[str, str] | None:
    geo = _geoip()
    if geo is None or not ip:
        return None
    try:
        city = geo.city(ip)
    except Exception:
        return None
    return {"country": city.get("country_name") or "", "city": city.get("city") or ""}


def visitor_panel(*, visitor: Visitor, exclude_conversation_id: int | None = None) -> dict[str, Any]:
    conversations = Conversation.objects.filter(visitor=visitor)
    if exclude_conversation_id is not None:
        conversations = conversations.exclude(pk=exclude_conversation_id)
    past = conversations.order_by("-created_at").values("id", "status", "created_at", "closed_at", "rating")[:10]
    data = visitor_payload(visitor)
    data.pop("ip", None)  # agents need the place, not the address
    data["display_name"] = str(visitor)
    data["device"] = parse_user_agent(visitor.user_agent).as_dict()
    data["location"] = visitor_location(visitor.ip)
    data["past_conversations"] = [
        {
            "id": row["id"],
            "status": row["status"],
            "created_at": row["created_at"].isoformat(),
            "closed_at": row["closed_at"].isoformat() if row["closed_at"] else None,
            "rating": row["rating"],
        }
        for row in past
    ]
    return data


def console_meta(*, agent: Agent) -> dict[str, Any]:
    """Agents, teams, inboxes and tags for the console's menus (transfer, filters)."""
    tenant_id = agent.tenant_id
    visible_inbox_ids = access.agent_inbox_ids(agent)
    agents = Agent.objects.filter(tenant_id=tenant_id, is_active=True).select_related("user")
    return {
        "me": {**(agent_payload(agent) or {}), "role": agent.role, "is_admin": agent.is_admin},
        "agents": [agent_payload(a) for a in agents],
        "teams": [{"id": t.pk, "name": t.name} for t in agent.tenant.teams.all()],
        "inboxes": [
            {"id": i.pk, "name": i.name, "channel": i.channel}
            for i in Inbox.objects.filter(tenant_id=tenant_id).order_by("created_at", "pk")
            if visible_inbox_ids is None or i.pk in visible_inbox_ids
        ],
        "tags": [{"id": t.pk, "name": t.name, "color": t.color} for t in Tag.objects.filter(tenant_id=tenant_id)],
    }
