"""Reads of the core domain, always scoped to one tenant."""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from datetime import datetime
from typing import Any, TypeVar

from django.db import DEFAULT_DB_ALIAS, connections, models
from django.db.models import Exists, OuterRef, Q, QuerySet

from kefu import access
from kefu.models import Agent, Channel, Conversation, Inbox, Message, Tenant, Visitor

M = TypeVar("M", bound=models.Model)


def conversation_list(
    *,
    tenant: Tenant,
    agent: Agent | None = None,
    status: str | Iterable[str] | None = None,
    assignee_id: int | str | None = None,
    team_id: int | None = None,
    inbox_id: int | None = None,
    tag: str | None = None,
    channel: str | None = None,
    priority: Iterable[int] | None = None,
    contact_id: int | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    updated_after: datetime | None = None,
    updated_before: datetime | None = None,
    q: str = "",
) -> QuerySet[Conversation]:
    """The conversations the caller may see (all of the tenant's for an API key), filtered."""
    qs = access.conversations_for(tenant=tenant, agent=agent).select_related("visitor", "assignee")
    if inbox_id:
        qs = qs.filter(inbox_id=inbox_id)
    if status:
        statuses = [status] if isinstance(status, str) else list(status)
        qs = qs.filter(status__in=statuses)
    if assignee_id == "none":
        qs = qs.filter(assignee__isnull=True)
    elif assignee_id:
        qs = qs.filter(assignee_id=int(assignee_id))
    if team_id:
        qs = qs.filter(team_id=team_id)
    if tag:
        qs = qs.filter(tags__id=int(tag)) if str(tag).isdigit() else qs.filter(tags__name=tag)
    if channel:
        qs = qs.filter(channel=channel)
    if priority:
        qs = qs.filter(priority__in=list(priority))
    if contact_id:
        qs = qs.filter(visitor_id=contact_id)
    if created_after:
        qs = qs.filter(created_at__gte=created_after)
    if created_before:
        qs = qs.filter(created_at__lt=created_before)
    if updated_after:
        qs = qs.filter(last_message_at__gte=updated_after)
    if updated_before:
        qs = qs.filter(last_message_at__lt=updated_before)
    q = (q or "").strip()[:100]
    if q:
        # As the console's search: icontains scans one tenant's rows (a trigram index is next).
        body_hit = Message.objects.filter(conversation_id=OuterRef("pk"), body__icontains=q, is_internal=False)
        qs = qs.filter(
            Q(visitor__name__icontains=q)
            | Q(visitor__email__icontains=q)
            | Q(visitor__phone__icontains=q)
            | Exists(body_hit)
        )
    return qs.order_by("-last_message_at", "-id")


def conversation_fresh(*, conversation: Conversation) -> Conversation:
    """The conversation as stored now, with what the API shows of it (after a service ran)."""
    return Conversation.objects.select_related("visitor", "assignee").prefetch_related("tags").get(pk=conversation.pk)


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


def message_history(
    *, conversation: Conversation, before_seq: int | None = None, limit: int = 50, include_internal: bool = True
) -> list[Message]:
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
    """Whole rows of a model with a hand-written WHERE (a code literal, never user text).

    For the hot paths (every widget connect, every message) where py-spy showed Django
    compiling querysets, and then running raw querysets, costing several times the query
    itself. Rows come back as the ORM builds them: every concrete field, through the
    same database converters, as Model.from_db instances.
    """
    db = connections[DEFAULT_DB_ALIAS]
    plans = _row_plans.get(db)
    if plans is None:
        plans = _row_plans[db] = {}
    plan = plans.get(model)
    if plan is None:
        plan = plans[model] = _row_plan(model, db)
    head, attnames, converters = plan
    with db.cursor() as cursor:
        cursor.execute(f"{head}{where}{tail}", params)
        rows = cursor.fetchall()
    objects = []
    for row in rows:
        if converters:
            row = list(row)
            for index, funcs, expression in converters:
                value = row[index]
                for func in funcs:
                    value = func(value, expression, db)
                row[index] = value
        objects.append(model.from_db(db.alias, attnames, row))
    return objects


RowPlan = tuple[str, list[str], list[tuple[int, list[Any], Any]]]
# Per connection object, because converters may be bound to its backend's operations.
_row_plans: weakref.WeakKeyDictionary[Any, dict[type[models.Model], RowPlan]] = weakref.WeakKeyDictionary()


def _row_plan(model: type[models.Model], db: Any) -> RowPlan:
    table = model._meta.db_table
    fields = model._meta.concrete_fields
    columns = ", ".join(db.ops.quote_name(f.column) for f in fields)
    converters = []
    for index, field in enumerate(fields):
        expression = field.get_col(table)
        funcs = db.ops.get_db_converters(expression) + expression.get_db_converters(db)
        if funcs:
            converters.append((index, funcs, expression))
    head = f"SELECT {columns} FROM {db.ops.quote_name(table)} WHERE "  # noqa: S608
    return head, [f.attname for f in fields], converters


def visitor_for_hello(
    *, visitor_id: int, tenant_id: int, inbox_id: int | None
) -> tuple[Visitor, Inbox, Conversation | None] | None:
    """The visitor with its tenant and widget inbox (only while both are active) and its
    latest conversation in that inbox, with its assignee (raw_rows: hot path).

    No inbox id (a token from before inboxes) means the tenant's first widget inbox.
    """
    visitors = raw_rows(Visitor, "id = %s AND tenant_id = %s", [visitor_id, tenant_id])
    tenants = raw_rows(Tenant, "id = %s AND is_active = %s", [tenant_id, True])
    if not visitors or not tenants:
        return None
    if inbox_id is not None:
        inboxes = raw_rows(Inbox, "id = %s AND tenant_id = %s AND is_active = %s", [inbox_id, tenant_id, True])
    else:
        inboxes = raw_rows(
            Inbox,
            "tenant_id = %s AND channel = %s AND is_active = %s",
            [tenant_id, Channel.WIDGET, True],
            tail=" ORDER BY created_at, id LIMIT 1",
        )
    if not inboxes or inboxes[0].channel != Channel.WIDGET:
        return None
    visitor, inbox = visitors[0], inboxes[0]
    visitor.tenant = inbox.tenant = tenants[0]
    conversations = raw_rows(
        Conversation,
        "visitor_id = %s AND inbox_id = %s",
        [visitor_id, inbox.pk],
        tail=" ORDER BY created_at DESC, id DESC LIMIT 1",
    )
    conversation = conversations[0] if conversations else None
    if conversation is not None:
        conversation.visitor = visitor
        conversation.tenant = visitor.tenant
        conversation.inbox = inbox
        if conversation.assignee_id is not None:
            # The welcome frame names the assignee: loaded here rather than by the
            # related descriptor's compiled query.
            for assignee in raw_rows(Agent, "id = %s", [conversation.assignee_id]):
                conversation.assignee = assignee
    return visitor, inbox, conversation
