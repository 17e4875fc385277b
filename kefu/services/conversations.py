"""Conversation lifecycle: open, assign, transfer, close, reopen, rate."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from kefu import events, signals, system_texts
from kefu.errors import Conflict, InvalidInput
from kefu.models import Agent, Channel, Conversation, Inbox, Priority, SenderType, Status, Team, Tenant, Visitor
from kefu.payloads import conversation_payload
from kefu.services.inboxes import inbox_default
from kefu.services.messages import _announce_status, _reopen_locked, message_send, system_event
from kefu.services.visitors import MAX_ATTRIBUTES, clean_attributes
from kefu.services.webhooks import webhook_emit

# Live events that integrators also receive as webhooks (status changes go through
# messages._announce_status, which every status change calls).
_WEBHOOK_EVENTS = {
    "kefu.conversation.opened": "conversation.created",
    "kefu.conversation.assigned": "conversation.assigned",
    "kefu.conversation.transferred": "conversation.transferred",
    "kefu.conversation.closed": "conversation.closed",
    "kefu.conversation.rated": "conversation.rated",
}


def _broadcast_conversation(conv: Conversation, event_type: str, **extra: Any) -> None:
    """Inside the change's transaction: the live event after commit, the webhooks with it."""
    payload = conversation_payload(conv)
    groups = [events.inbox_group(conv.tenant_id), events.conversation_group(conv.pk)]
    events.broadcast_on_commit(groups, {"type": event_type, "conversation": payload, **extra})
    hook = _WEBHOOK_EVENTS.get(event_type)
    if hook:
        data: dict[str, Any] = {"conversation": payload}
        if event_type == "kefu.conversation.rated":
            data["rating_comment"] = conv.rating_comment
        data.update({k: v for k, v in extra.items() if k in ("previous_status", "from_agent_id")})
        webhook_emit(tenant_id=conv.tenant_id, event=hook, data=data, lane=f"c{conv.pk}")


def _lock(conversation: Conversation) -> Conversation:
    return (
        Conversation.objects.select_for_update(of=("self",), no_key=True)
        .select_related("assignee", "visitor")
        .get(pk=conversation.pk)
    )


def conversation_open(
    *,
    tenant: Tenant,
    visitor: Visitor,
    inbox: Inbox | None = None,
    channel: str = Channel.WIDGET,
    team: Team | None = None,
) -> tuple[Conversation, bool]:
    """The visitor's open conversation in the inbox, created if there is none (at most one,
    by constraint). No inbox: the tenant's first inbox of `channel` (website or API).

    A new conversation waits in the inbox's team unless `team` says otherwise, and starts
    with the bot when a bot answers the inbox.
    """
    if inbox is None:
        inbox = inbox_default(tenant=tenant, channel=channel)
    if (
        visitor.tenant_id != tenant.pk
        or inbox.tenant_id != tenant.pk
        or (team is not None and team.tenant_id != tenant.pk)
    ):
        raise InvalidInput(_("Visitor, inbox or team belongs to another tenant."))
    existing = Conversation.objects.filter(visitor=visitor, inbox=inbox).exclude(status=Status.CLOSED).first()
    if existing is not None:
        return existing, False
    status = Status.BOT if signals.bot_enabled_for(tenant, inbox) else Status.QUEUED
    try:
        with transaction.atomic():
            conv = Conversation.objects.create(
                tenant=tenant,
                visitor=visitor,
                inbox=inbox,
                channel=inbox.channel,
                team=team if team is not None else inbox.team,
                status=status,
                last_message_at=timezone.now(),
            )
            _broadcast_conversation(conv, "kefu.conversation.opened")
            signals.send_on_commit(signals.conversation_opened, sender=Conversation, conversation=conv)
    except IntegrityError:
        # A concurrent request won the race; the constraint makes that safe.
        existing = Conversation.objects.filter(visitor=visitor, inbox=inbox).exclude(status=Status.CLOSED).first()
        if existing is None:
            raise
        return existing, False
    return conv, True


@transaction.atomic
def conversation_assign(*, conversation: Conversation, agent: Agent, actor: Agent | None = None) -> Conversation:
    conv = _lock(conversation)
    if agent.tenant_id != conv.tenant_id or not agent.is_active:
        raise InvalidInput(_("That agent cannot take this conversation."), code="bad_agent")
    if conv.status == Status.CLOSED:
        raise Conflict(_("The conversation is closed."), code="conversation_closed")
    if conv.assignee_id == agent.pk and conv.status == Status.ASSIGNED:
        return conv
    old_status = conv.status
    now = timezone.now()
    conv.assignee, conv.status, conv.assigned_at = agent, Status.ASSIGNED, now
    conv.save(update_fields=["assignee", "status", "assigned_at"])
    Agent.objects.filter(pk=agent.pk).update(last_assigned_at=now)
    system_event(
        conversation=conv,
        event="assigned",
        params={"agent": str(agent)},
        data={"agent_id": agent.pk, "agent_name": str(agent), "by": actor.pk if actor else None},
    )
    _broadcast_conversation(conv, "kefu.conversation.assigned", previous_status=old_status)
    _announce_status(conv, old_status)
    return conv


@transaction.atomic
def conversation_transfer(
    *,
    conversation: Conversation,
    actor: Agent | None,
    to_agent: Agent | None = None,
    to_team: Team | None = None,
    note: str = "",
) -> Conversation:
    if (to_agent is None) == (to_team is None):
        raise InvalidInput(_("Transfer to exactly one agent or one team."), code="bad_transfer")
    conv = _lock(conversation)
    if conv.status == Status.CLOSED:
        raise Conflict(_("The conversation is closed."), code="conversation_closed")
    if to_agent is not None:
        if to_agent.tenant_id != conv.tenant_id or not to_agent.is_active:
            raise InvalidInput(_("That agent cannot take this conversation."), code="bad_agent")
        from_agent = conv.assignee
        old_status = conv.status
        conv.assignee, conv.status, conv.assigned_at = to_agent, Status.ASSIGNED, timezone.now()
        conv.save(update_fields=["assignee", "status", "assigned_at"])
        code, params = "transferred", {"agent": str(to_agent)}
        data = {"to_agent_id": to_agent.pk, "to_agent_name": str(to_agent)}
    else:
        assert to_team is not None
        if to_team.tenant_id != conv.tenant_id:
            raise InvalidInput(_("That team belongs to another tenant."), code="bad_team")
        from_agent = conv.assignee
        old_status = conv.status
        conv.team, conv.assignee, conv.status = to_team, None, Status.QUEUED
        conv.save(update_fields=["team", "assignee", "status"])
        code, params = "transferred_team", {"team": str(to_team)}
        data = {"to_team_id": to_team.pk, "to_team_name": str(to_team)}
    data.update({"from_agent_id": from_agent.pk if from_agent else None, "by": actor.pk if actor else None})
    if note:
        data["note"] = note[:1000]
    system_event(conversation=conv, event="transferred", code=code, params=params, data=data)
    _broadcast_conversation(conv, "kefu.conversation.transferred", from_agent_id=data["from_agent_id"])
    _announce_status(conv, old_status)
    return conv


@transaction.atomic
def conversation_close(*, conversation: Conversation, actor: Agent | None = None, by: str = "agent") -> Conversation:
    conv = _lock(conversation)
    if conv.status == Status.CLOSED:
        return conv
    old_status = conv.status
    conv.status, conv.closed_at = Status.CLOSED, timezone.now()
    conv.save(update_fields=["status", "closed_at"])
    system_event(conversation=conv, event="closed", data={"by": by})
    _broadcast_conversation(conv, "kefu.conversation.closed")
    _announce_status(conv, old_status)
    return conv


@transaction.atomic
def conversation_reopen(*, conversation: Conversation, actor: Agent | None = None) -> Conversation:
    conv = _lock(conversation)
    if conv.status != Status.CLOSED:
        return conv
    try:
        with transaction.atomic():
            _reopen_locked(conv)
    except IntegrityError:
        raise Conflict(_("The visitor already has an open conversation in this inbox."), code="already_open") from None
    system_event(conversation=conv, event="reopened")
    _broadcast_conversation(conv, "kefu.conversation.reopened")
    _announce_status(conv, Status.CLOSED)
    return conv


@transaction.atomic
def conversation_update(
    *, conversation: Conversation, priority: int | None = None, attributes: dict[str, Any] | None = None
) -> Conversation:
    """Priority and custom attributes (merged; a null value removes a key)."""
    conv = _lock(conversation)
    fields = []
    if priority is not None:
        if priority not in Priority.values:
            raise InvalidInput(_("Unknown priority."), code="bad_priority")
        conv.priority = priority
        fields.append("priority")
    if attributes is not None:
        merged = {**(conv.attributes or {}), **clean_attributes(attributes)}
        conv.attributes = {k: v for k, v in merged.items() if v is not None}
        if len(conv.attributes) > MAX_ATTRIBUTES:
            raise InvalidInput(_("Too many custom attributes."), code="bad_attributes")
        fields.append("attributes")
    if fields:
        conv.save(update_fields=fields)
        _broadcast_conversation(conv, "kefu.conversation.status")
    return conv


@transaction.atomic
def conversation_set_team(*, conversation: Conversation, team: Team | None) -> Conversation:
    """Which team's queue the conversation belongs to (transfer moves it and unassigns)."""
    if team is not None and team.tenant_id != conversation.tenant_id:
        raise InvalidInput(_("That team belongs to another tenant."), code="bad_team")
    conv = _lock(conversation)
    if conv.team_id != (team.pk if team else None):
        conv.team = team
        conv.save(update_fields=["team"])
        _broadcast_conversation(conv, "kefu.conversation.status")
    return conv


@transaction.atomic
def conversation_rate(*, conversation: Conversation, rating: int, comment: str = "") -> Conversation:
    if not isinstance(rating, int) or isinstance(rating, bool) or not 1 <= rating <= 5:
        raise InvalidInput(_("The rating must be a whole number from 1 to 5."), code="bad_rating")
    conv = _lock(conversation)
    conv.rating, conv.rating_comment = rating, (comment or "")[:2000]
    conv.save(update_fields=["rating", "rating_comment"])
    _broadcast_conversation(conv, "kefu.conversation.rated")
    return conv


@transaction.atomic
def conversation_set_status(*, conversation: Conversation, status: str) -> Conversation:
    """Move between bot and queue (handoff and hand-back); assignment has its own service."""
    if status not in (Status.BOT, Status.QUEUED):
        raise InvalidInput(_("Unknown status."), code="bad_status")
    conv = _lock(conversation)
    if conv.status == Status.CLOSED:
        raise Conflict(_("The conversation is closed."), code="conversation_closed")
    if conv.status == status:
        return conv
    old_status = conv.status
    conv.status = status
    if status == Status.BOT:
        conv.assignee = None
    conv.save(update_fields=["status", "assignee"])
    _broadcast_conversation(conv, "kefu.conversation.status", previous_status=old_status)
    _announce_status(conv, old_status)
    return conv


def conversation_nobody_online(*, conversation: Conversation) -> Conversation:
    """A human was asked for while nobody can answer: the conversation stays with the bot.

    The visitor is told so plainly, with the time the team is back when business hours
    say it, and may leave contact details (the widget offers it under this message);
    agents find a note in the bot conversation. Nothing is queued for nobody.
    """
    from kefu.services.presence import business_hours_next_opening

    back = business_hours_next_opening(conversation.inbox)
    code, params = ("nobody_online_until", {"back_at": {"time": back.isoformat()}}) if back else ("nobody_online", {})
    message_send(
        conversation=conversation,
        sender_type=SenderType.BOT,
        body=system_texts.render(code, params),
        metadata=system_texts.metadata(code, params, event="nobody_online"),
    )
    message_send(
        conversation=conversation,
        sender_type=SenderType.SYSTEM,
        is_internal=True,
        body=system_texts.render("nobody_online_note"),
        metadata=system_texts.metadata("nobody_online_note", event="nobody_online_note"),
    )
    return conversation


def conversation_mark_read(*, conversation_id: int, reader: str, seq: int) -> int | None:
    """Move the visitor's or the agents' read marker forward (never back, never past last_seq).

    Returns the new marker, or None when nothing moved (a repeated or stale receipt).
    """
    from django.db.models import F
    from django.db.models.functions import Least

    field = {"visitor": "visitor_read_seq", "agent": "agent_read_seq"}.get(reader)
    if field is None or not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise InvalidInput(_("Bad read receipt."), code="invalid")
    updated = Conversation.objects.filter(pk=conversation_id, **{f"{field}__lt": seq}, last_seq__gt=F(field)).update(
        **{field: Least(seq, F("last_seq"))}
    )
    if not updated:
        return None
    value = Conversation.objects.filter(pk=conversation_id).values_list(field, flat=True).first()
    groups = [events.conversation_group(conversation_id)]
    events.broadcast_on_commit(
        groups, {"type": "kefu.read", "conversation_id": conversation_id, "reader": reader, "seq": value}
    )
    return value
