"""Reads of the core domain, always scoped to one tenant."""

from __future__ import annotations

from django.db import connection
from django.db.models import QuerySet

from kefu.models import Conversation, Message, Tenant, Visitor


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


def visitor_for_hello(*, visitor_id: int, tenant_id: int) -> tuple[Visitor, Conversation | None] | None:
    """The visitor with its tenant (only while active) and its latest conversation.

    Raw SQL on purpose: every widget (re)connect runs this, and during a reconnect storm
    py-spy showed Django compiling the equivalent querysets (the ordering above all)
    costing several times the queries themselves.
    """
    qn = connection.ops.quote_name
    visitors = list(Visitor.objects.raw(
        f"SELECT * FROM {qn(Visitor._meta.db_table)} WHERE id = %s AND tenant_id = %s",  # noqa: S608
        [visitor_id, tenant_id]))
    tenants = list(Tenant.objects.raw(
        f"SELECT * FROM {qn(Tenant._meta.db_table)} WHERE id = %s AND is_active = %s",  # noqa: S608
        [tenant_id, True]))
    if not visitors or not tenants:
        return None
    visitor = visitors[0]
    visitor.tenant = tenants[0]
    conversations = list(Conversation.objects.raw(
        f"SELECT * FROM {qn(Conversation._meta.db_table)} WHERE visitor_id = %s"  # noqa: S608
        " ORDER BY created_at DESC, id DESC LIMIT 1", [visitor_id]))
    conversation = conversations[0] if conversations else None
    if conversation is not None:
        conversation.visitor = visitor
        conversation.tenant = visitor.tenant
    return visitor, conversation
