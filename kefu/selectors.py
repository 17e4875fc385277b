"""Reads of the core domain, always scoped to one tenant."""

from __future__ import annotations

from django.db.models import QuerySet

from kefu.models import Conversation, Message, Tenant


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
