"""Queue routing, reassignment, inactivity close and offline notification."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone

from kefu import signals
from kefu.models import Conversation, Message, Presence, RoutingPolicy, Status
from kefu.services.conversations import conversation_assign, conversation_close, conversation_open
from kefu.services.messages import message_send
from kefu.services.routing import (
    routing_assign_queued,
    routing_close_inactive,
    routing_notify_offline,
    routing_queue_position,
    routing_reassign_unanswered,
)
from tests.factories import AgentFactory, TeamFactory, TenantFactory, VisitorFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


def online_agent(tenant, **kwargs):
    return AgentFactory(tenant=tenant, presence=Presence.ONLINE, **kwargs)


def queued(tenant, team=None):
    conv, _ = conversation_open(tenant=tenant, visitor=VisitorFactory(tenant=tenant), team=team)
    return conv


def test_new_conversation_goes_to_queue_or_bot():
    tenant = TenantFactory()
    assert queued(tenant).status == Status.QUEUED

    def selector(t, channel):
        return t.pk == tenant.pk

    signals.register_bot_selector(selector)
    try:
        assert queued(tenant).status == Status.BOT
    finally:
        signals.bot_selectors.remove(selector)


def test_least_load_respects_capacity_and_offline_agents():
    tenant = TenantFactory()
    busy = online_agent(tenant, capacity=5)
    idle = online_agent(tenant, capacity=5)
    AgentFactory(tenant=tenant, presence=Presence.OFFLINE)
    full = online_agent(tenant, capacity=0)
    for _ in range(2):
        conv = queued(tenant)
        conv.refresh_from_db()
        if conv.status == Status.QUEUED:
            conversation_assign(conversation=conv, agent=busy)
    Conversation.objects.filter(tenant=tenant).update(status=Status.ASSIGNED, assignee=busy)
    conv = queued(tenant)  # routed on open (eager tasks)
    conv.refresh_from_db()
    assert conv.assignee_id == idle.pk and conv.assignee_id != full.pk


def test_round_robin_takes_turns():
    tenant = TenantFactory(routing_policy=RoutingPolicy.ROUND_ROBIN)
    agents = [online_agent(tenant, capacity=10) for _ in range(3)]
    picks = []
    for _ in range(6):
        conv = queued(tenant)
        conv.refresh_from_db()
        picks.append(conv.assignee_id)
    assert picks[:3] == picks[3:] and sorted(picks[:3]) == sorted(a.pk for a in agents)


def test_team_conversations_go_only_to_team_members():
    tenant = TenantFactory()
    team = TeamFactory(tenant=tenant)
    outsider = online_agent(tenant)
    conv = queued(tenant, team=team)
    conv.refresh_from_db()
    assert conv.status == Status.QUEUED and conv.assignee_id is None
    member = online_agent(tenant)
    member.teams.add(team)
    assert routing_assign_queued(tenant_id=tenant.pk) == [conv.pk]
    conv.refresh_from_db()
    assert conv.assignee_id == member.pk != outsider.pk


def test_queue_positions_and_capacity_freed_on_close():
    tenant = TenantFactory()
    agent = online_agent(tenant, capacity=1)
    first, second, third = queued(tenant), queued(tenant), queued(tenant)
    for conv in (first, second, third):
        conv.refresh_from_db()
    assert first.assignee_id == agent.pk
    assert routing_queue_position(conversation=second) == 1
    assert routing_queue_position(conversation=third) == 2
    conversation_close(conversation=first)
    second.refresh_from_db()
    assert second.status == Status.ASSIGNED and second.assignee_id == agent.pk


def test_reassign_when_assigned_agent_does_not_answer():
    tenant = TenantFactory(reassign_after_seconds=60)
    slow = online_agent(tenant)
    conv = queued(tenant)
    conv.refresh_from_db()
    assert conv.assignee_id == slow.pk
    message_send(conversation=conv, sender_type="visitor", body="hello?")
    fast = online_agent(tenant)
    assert routing_reassign_unanswered() == []  # not yet stale
    later = timezone.now() + dt.timedelta(seconds=61)
    assert routing_reassign_unanswered(now=later) == [conv.pk]
    conv.refresh_from_db()
    assert conv.assignee_id == fast.pk
    assert Message.objects.filter(conversation=conv, metadata__event="transferred").exists()


def test_answered_conversation_is_not_reassigned():
    tenant = TenantFactory(reassign_after_seconds=60)
    agent = online_agent(tenant)
    conv = queued(tenant)
    message_send(conversation=conv, sender_type="visitor", body="hello?")
    message_send(conversation=conv, sender_type="agent", agent=agent, body="hi!")
    online_agent(tenant)
    assert routing_reassign_unanswered(now=timezone.now() + dt.timedelta(seconds=120)) == []


def test_close_after_visitor_inactivity():
    tenant = TenantFactory(inactivity_close_minutes=10)
    conv = queued(tenant)
    message_send(conversation=conv, sender_type="visitor", body="hi")
    assert routing_close_inactive(now=timezone.now() + dt.timedelta(minutes=5)) == []
    assert routing_close_inactive(now=timezone.now() + dt.timedelta(minutes=11)) == [conv.pk]
    conv.refresh_from_db()
    assert conv.status == Status.CLOSED
    message_send(conversation=conv, sender_type="visitor", body="back again")
    conv.refresh_from_db()
    assert conv.status == Status.QUEUED


def test_offline_message_emails_the_tenant():
    tenant = TenantFactory(notify_email="support@example.com")
    visitor = VisitorFactory(tenant=tenant, name="王小明", email="w@example.com")
    conv, _ = conversation_open(tenant=tenant, visitor=visitor)
    message_send(conversation=conv, sender_type="visitor", body="please call me")
    assert routing_notify_offline(conversation_id=conv.pk) is True
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["support@example.com"]
    assert "please call me" in mail.outbox[0].body and "王小明" in mail.outbox[0].body
    tenant.notify_email = ""
    tenant.save()
    assert routing_notify_offline(conversation_id=conv.pk) is False
