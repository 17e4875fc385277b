"""Routing: who answers a queued conversation, queue positions, and lifecycle automation.

Assignment for one tenant is serialized by a row lock on the tenant, so two processes
reacting to the same event cannot both hand out an agent's last free slot.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import logging
from dataclasses import dataclass
from typing import Literal

from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from kefu import events, signals
from kefu.errors import KefuError
from kefu.models import Agent, Conversation, Message, Presence, RoutingPolicy, SenderType, Status, Team, Tenant
from kefu.services.conversations import conversation_assign, conversation_close, conversation_transfer

logger = logging.getLogger(__name__)

QUEUE_SCAN_LIMIT = 200

# Set while a routing pass runs, so the status changes it causes do not each start
# another pass (the pass itself broadcasts the new queue positions at the end).
_routing_active: contextvars.ContextVar[bool] = contextvars.ContextVar("kefu_routing_active", default=False)


def routing_in_progress() -> bool:
    return _routing_active.get()


@dataclass
class _Candidate:
    agent: Agent
    load: int
    team_ids: frozenset[int]
    inbox_ids: frozenset[int]  # empty: every inbox


def _candidates(tenant: Tenant) -> list[_Candidate]:
    agents = (
        Agent.objects.filter(tenant=tenant, is_active=True, user__is_active=True, presence=Presence.ONLINE)
        .annotate(load=Count("assigned_conversations", filter=Q(assigned_conversations__status=Status.ASSIGNED)))
        .prefetch_related("teams", "inboxes")
    )
    return [
        _Candidate(a, a.load, frozenset(t.pk for t in a.teams.all()), frozenset(i.pk for i in a.inboxes.all()))
        for a in agents
    ]


def _pick(tenant: Tenant, conv: Conversation, pool: list[_Candidate], exclude: int | None = None) -> _Candidate | None:
    # An agent limited to some inboxes is given only their conversations, whatever the role.
    eligible = [
        c
        for c in pool
        if c.load < c.agent.capacity
        and c.agent.pk != exclude
        and (conv.team_id is None or conv.team_id in c.team_ids)
        and (not c.inbox_ids or conv.inbox_id in c.inbox_ids)
    ]
    if not eligible:
        return None
    epoch = dt.datetime.min.replace(tzinfo=dt.UTC)
    policy = conv.inbox.routing_policy or tenant.routing_policy
    if policy == RoutingPolicy.ROUND_ROBIN:
        return min(eligible, key=lambda c: (c.agent.last_assigned_at or epoch, c.agent.pk))
    return min(eligible, key=lambda c: (c.load, c.agent.last_assigned_at or epoch, c.agent.pk))


def _queued(tenant_id: int, *, auto_assign_only: bool = False) -> list[Conversation]:
    qs = Conversation.objects.filter(tenant_id=tenant_id, status=Status.QUEUED).select_related("inbox")
    if auto_assign_only:  # inboxes whose agents pick from the queue themselves are left alone
        qs = qs.filter(inbox__auto_assign=True)
    return list(qs.order_by("-priority", "created_at", "pk")[:QUEUE_SCAN_LIMIT])


def routing_assign_queued(*, tenant_id: int) -> list[int]:
    """Give queued conversations to online agents with room; returns the assigned ids."""
    token = _routing_active.set(True)
    try:
        return _assign_queued(tenant_id)
    finally:
        _routing_active.reset(token)


def _advice(tenant_id: int) -> dict[int, dict]:
    """Asked before the tenant row is locked: an advisor may wait on a tenant's system."""
    if not signals.assignment_advisors:
        return {}
    queued = _queued(tenant_id)
    return signals.assignment_advice(tenant_id, queued) if queued else {}


def _advised_pick(
    tenant: Tenant, conv: Conversation, pool: list[_Candidate], advice: dict | None
) -> _Candidate | Literal[False] | None:
    """The advisor's choice when it can be honoured; False: leave the conversation queued."""
    if not advice:
        return _pick(tenant, conv, pool)
    if advice.get("hold"):
        return False
    agent_id = advice.get("agent_id")
    if agent_id:
        chosen = next((c for c in pool if c.agent.pk == agent_id and c.load < c.agent.capacity), None)
        if chosen is not None:
            return chosen
    team_id = advice.get("team_id")
    if team_id and Team.objects.filter(pk=team_id, tenant_id=tenant.pk).exists():
        if conv.team_id != team_id:
            conv.team_id = team_id
            Conversation.objects.filter(pk=conv.pk).update(team_id=team_id)
    return _pick(tenant, conv, pool)


def _assign_queued(tenant_id: int) -> list[int]:
    assigned: list[int] = []
    advice = _advice(tenant_id)
    with transaction.atomic():
        tenant = Tenant.objects.select_for_update(no_key=True).filter(pk=tenant_id, is_active=True).first()
        if tenant is None:
            return assigned
        queued = _queued(tenant_id, auto_assign_only=True)
        pool = _candidates(tenant) if queued else []
        for conv in queued:
            choice = _advised_pick(tenant, conv, pool, advice.get(conv.pk))
            if not choice:
                continue
            try:
                conversation_assign(conversation=conv, agent=choice.agent)
            except KefuError:
                logger.info("conversation %s not assignable", conv.pk)
                continue
            choice.load += 1
            choice.agent.last_assigned_at = timezone.now()
            assigned.append(conv.pk)
    routing_broadcast_queue(tenant_id=tenant_id)
    return assigned


def routing_queue_position(*, conversation: Conversation) -> int | None:
    if conversation.status != Status.QUEUED:
        return None
    ahead = Conversation.objects.filter(tenant_id=conversation.tenant_id, status=Status.QUEUED).filter(
        Q(priority__gt=conversation.priority)
        | Q(priority=conversation.priority, created_at__lt=conversation.created_at)
        | Q(priority=conversation.priority, created_at=conversation.created_at, pk__lt=conversation.pk)
    )
    return ahead.count() + 1


def routing_broadcast_queue(*, tenant_id: int) -> None:
    for position, conv in enumerate(_queued(tenant_id), start=1):
        events.broadcast(
            [events.conversation_group(conv.pk)],
            {
                "type": "kefu.queue",
                "conversation_id": conv.pk,
                "position": position,
            },
        )


def routing_reassign_unanswered(*, now: dt.datetime | None = None) -> list[int]:
    """Move conversations whose agent has not replied since assignment to another agent."""
    now = now or timezone.now()
    moved: list[int] = []
    for tenant in Tenant.objects.filter(is_active=True, reassign_after_seconds__gt=0):
        cutoff = now - dt.timedelta(seconds=tenant.reassign_after_seconds)
        answered = Message.objects.filter(
            conversation=OuterRef("pk"),
            sender_type=SenderType.AGENT,
            is_internal=False,
            created_at__gte=OuterRef("assigned_at"),
        )
        stale = list(
            Conversation.objects.select_related("inbox")
            .filter(
                tenant=tenant,
                status=Status.ASSIGNED,
                assigned_at__lt=cutoff,
                last_visitor_message_at__isnull=False,
            )
            .filter(~Exists(answered))[:QUEUE_SCAN_LIMIT]
        )
        if not stale:
            continue
        with transaction.atomic():
            Tenant.objects.select_for_update(no_key=True).filter(pk=tenant.pk).first()
            pool = _candidates(tenant)
            for conv in stale:
                choice = _pick(tenant, conv, pool, exclude=conv.assignee_id)
                if choice is None:
                    continue
                try:
                    conversation_transfer(
                        conversation=conv,
                        actor=None,
                        to_agent=choice.agent,
                        note=_("Reassigned: no reply within %(s)d seconds.") % {"s": tenant.reassign_after_seconds},
                    )
                except KefuError:
                    continue
                choice.load += 1
                choice.agent.last_assigned_at = now
                for other in pool:
                    if other.agent.pk == conv.assignee_id:
                        other.load -= 1
                moved.append(conv.pk)
    return moved


def routing_close_inactive(*, now: dt.datetime | None = None) -> list[int]:
    """Close open conversations whose visitor has been silent longer than the tenant allows."""
    now = now or timezone.now()
    closed: list[int] = []
    for tenant in Tenant.objects.filter(is_active=True, inactivity_close_minutes__gt=0):
        cutoff = now - dt.timedelta(minutes=tenant.inactivity_close_minutes)
        idle = (
            Conversation.objects.filter(tenant=tenant)
            .exclude(status=Status.CLOSED)
            .annotate(visitor_active=Coalesce("last_visitor_message_at", "created_at"))
            .filter(visitor_active__lt=cutoff)
        )
        for conv in list(idle[:500]):
            conversation_close(conversation=conv, by="inactivity")
            closed.append(conv.pk)
    return closed


def routing_notify_offline(*, conversation_id: int) -> bool:
    """Email the tenant about a message left while nobody could answer."""
    conv = Conversation.objects.select_related("tenant", "visitor").filter(pk=conversation_id).first()
    if conv is None or not conv.tenant.notify_email:
        return False
    visitor = conv.visitor
    recent = Message.objects.filter(conversation=conv, sender_type=SenderType.VISITOR, is_internal=False).order_by(
        "-seq"
    )[:10]
    lines = [f"{m.created_at:%Y-%m-%d %H:%M} {m.body}" for m in reversed(list(recent))]
    body = "\n".join(
        [
            _("A visitor left a message while nobody was online."),
            "",
            _("Name: %(v)s") % {"v": visitor.name or "-"},
            _("Email: %(v)s") % {"v": visitor.email or "-"},
            _("Phone: %(v)s") % {"v": visitor.phone or "-"},
            _("Conversation: #%(v)s") % {"v": conv.pk},
            "",
            *lines,
        ]
    )
    send_mail(
        subject=_("[%(tenant)s] New offline message") % {"tenant": conv.tenant.name},
        message=body,
        from_email=None,
        recipient_list=[conv.tenant.notify_email],
        fail_silently=False,
    )
    return True
