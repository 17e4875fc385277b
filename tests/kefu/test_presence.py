"""Presence across sockets, the grace period, the sweep, and business hours."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from kefu.models import Presence
from kefu.services import presence
from tests.factories import AgentFactory, InboxFactory, TenantFactory, widget_inbox

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def test_online_while_any_socket_lives():
    agent = AgentFactory()
    presence.presence_socket_opened(agent=agent, channel_name="tab-1")
    presence.presence_socket_opened(agent=agent, channel_name="tab-2")
    agent.refresh_from_db()
    assert agent.presence == Presence.ONLINE
    assert presence.presence_socket_closed(agent_id=agent.pk, channel_name="tab-1") is False
    assert presence.presence_check_offline(agent_id=agent.pk) is False
    assert presence.presence_socket_closed(agent_id=agent.pk, channel_name="tab-2") is True
    assert presence.presence_check_offline(agent_id=agent.pk) is True
    agent.refresh_from_db()
    assert agent.presence == Presence.OFFLINE


def test_reconnect_within_grace_keeps_agent_online():
    agent = AgentFactory()
    presence.presence_socket_opened(agent=agent, channel_name="old")
    presence.presence_socket_closed(agent_id=agent.pk, channel_name="old")
    presence.presence_socket_opened(agent=agent, channel_name="new")  # page reload
    assert presence.presence_check_offline(agent_id=agent.pk) is False
    agent.refresh_from_db()
    assert agent.presence == Presence.ONLINE
    presence.presence_socket_closed(agent_id=agent.pk, channel_name="new")


def test_sweep_takes_agents_of_dead_processes_offline(settings):
    settings.KEFU_PRESENCE_GRACE_SECONDS = 30
    agent = AgentFactory(presence=Presence.ONLINE, presence_changed_at=timezone.now() - dt.timedelta(minutes=5))
    fresh = AgentFactory(presence=Presence.AWAY, presence_changed_at=timezone.now())
    assert presence.presence_sweep() == 1
    agent.refresh_from_db()
    fresh.refresh_from_db()
    assert agent.presence == Presence.OFFLINE and fresh.presence == Presence.AWAY


def test_business_hours_in_the_tenants_timezone_unless_the_inbox_has_its_own():
    tenant = TenantFactory(timezone="Asia/Shanghai", business_hours={"0": [["09:00", "18:00"]]})
    inbox = widget_inbox(tenant)
    monday_10_shanghai = dt.datetime(2026, 11, 16, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai
    monday_20_shanghai = dt.datetime(2026, 11, 16, 12, 0, tzinfo=dt.UTC)
    tuesday_10_shanghai = dt.datetime(2026, 11, 17, 2, 0, tzinfo=dt.UTC)
    assert presence.business_hours_open(inbox, monday_10_shanghai) is True
    assert presence.business_hours_open(inbox, monday_20_shanghai) is False
    assert presence.business_hours_open(inbox, tuesday_10_shanghai) is False
    assert presence.business_hours_open(widget_inbox(TenantFactory(business_hours={})), monday_20_shanghai) is True
    inbox.timezone = "Europe/London"  # 20:00 in Shanghai is 12:00 in London
    assert presence.business_hours_open(inbox, monday_20_shanghai) is True
    assert presence.business_hours_open(inbox, monday_10_shanghai) is False


def test_inbox_online_needs_an_online_agent_inside_its_hours():
    tenant = TenantFactory()
    inbox = widget_inbox(tenant)
    closed = InboxFactory(tenant=tenant, business_hours={str(d): [] for d in range(7)})
    assert presence.inbox_is_online(inbox) is False
    agent = AgentFactory(tenant=tenant)
    presence.agent_set_presence(agent=agent, status=Presence.ONLINE)
    assert presence.inbox_is_online(inbox) is True
    assert presence.inbox_is_online(closed) is False  # same agents, but its hours say closed
    presence.agent_set_presence(agent=agent, status=Presence.AWAY)
    assert presence.inbox_is_online(inbox) is False


def test_cached_online_answer_follows_agent_deactivation(django_capture_on_commit_callbacks):
    tenant = TenantFactory()
    agent = AgentFactory(tenant=tenant)
    presence.agent_set_presence(agent=agent, status=Presence.ONLINE)
    assert presence.inbox_is_online(widget_inbox(tenant)) is True  # now cached
    with django_capture_on_commit_callbacks(execute=True):
        agent.is_active = False
        agent.save()
    assert presence.inbox_is_online(widget_inbox(tenant)) is False


def test_cached_online_answer_follows_agent_deletion(django_capture_on_commit_callbacks):
    tenant = TenantFactory()
    agent = AgentFactory(tenant=tenant)
    presence.agent_set_presence(agent=agent, status=Presence.ONLINE)
    assert presence.inbox_is_online(widget_inbox(tenant)) is True
    with django_capture_on_commit_callbacks(execute=True):
        agent.delete()
    assert presence.inbox_is_online(widget_inbox(tenant)) is False
