"""Reads of the core domain, always scoped to one tenant."""

from __future__ import annotations

from typing import Any, TypeVar

from django.db import connection, models
from django.db.models import QuerySet

from kefu.models import Conversation, Message, Tenant, Visitor

M = TypeVar("M", bound=models.Model)


def conversation_list(
    *, tenant: Tenant, status: str | None = None, assignee_id: int | None = None, team_id: int | None = None
) -> QuerySet[Conversation]:
    qs = Conversation.objects.filter(tenant=tenant).select_related("visitor", "assignee")
    if status:
        qs = qs.filter(status=status)
    if assignee_id:
        qs = qs.filter(assignee_id=assignee_id)
    if team_id:
        qs = qs.filter(team_id=team_id)
    return qs.order_by("-last_message_at", "-id")


def message_list(
    *, conversation: Conversation, after_seq: int = 0, limit: int = 100, include_internal: bool = True
) -> list[Message]:
    """Messages after a sequence number, in order: what a resuming client needs."""
    qs = Message.objects.filter(conversation=conversation, seq__gt=after_seq).select_related(
        "attachment", "sender_agent"
    )
    if not include_internal:
        qs = qs.filter(is_internal=False)
    return list(qs.order_by("seq")[: max(1, min(limit, 500))])


def message_history(*, conversation: Conversation, before_seq: int | None = None, limit: int = 50,
                    include_internal: bool = True) -> list[Message]:
    """A page of older messages for infinite scroll, returned oldest first."""
    qs = Message.objects.filter(conversation=conversation).select_related("attachment", "sender_agent")
    if before_seq:
        qs = qs.filter(seq__lt=before_seq)
    if not include_internal:
        qs = qs.filter(is_internal=False)
    page = list(qs.order_by("-seq")[: max(1, min(limit, 200))])
    page.reverse()
    return page


def raw_rows(model: type[M], where: str, params: list[Any], tail: str = "") -> list[M]:
    """`SELECT *` of a model with a hand-written WHERE (a code literal, never user text).

    For the hot paths (every widget connect, every message) where py-spy showed Django
    compiling the equivalent queryset costing several times the query itself.
    """
    table = connection.ops.quote_name(model._meta.db_table)
    return list(model.objects.raw(f"SELECT * FROM {table} WHERE {where}{tail}", params))  # noqa: S608


def visitor_for_hello(*, visitor_id: int, tenant_id: int) -> tuple[Visitor, Conversation | None] | None:
    """The visitor with its tenant (only while active) and its latest conversation (raw_rows: hot path)."""
    visitors = raw_rows(Visitor, "id = %s AND tenant_id = %s", [visitor_id, tenant_id])
    tenants = raw_rows(Tenant, "id = %s AND is_active = %s", [tenant_id, True])
    if not visitors or not tenants:
        return None
    visitor = visitors[0]
    visitor.tenant = tenants[0]
    conversations = raw_rows(
        Conversation, "visitor_id = %s", [visitor_id], tail=" ORDER BY created_at DESC, id DESC LIMIT 1")
    conversation = conversations[0] if conversations else None
    if conversation is not None:
        conversation.visitor = visitor
        conversation.tenant = visitor.tenant
    return visitor, conversation
