"""Conversation lifecycle services and the one-open-conversation constraint."""

from __future__ import annotations

import threading

import pytest
from django.db import IntegrityError, close_old_connections, connection, transaction

from kefu import signals
from kefu.errors import Conflict, InvalidInput
from kefu.models import Conversation, Message, Status
from kefu.services.conversations import (
    conversation_assign,
    conversation_close,
    conversation_open,
    conversation_rate,
    conversation_reopen,
    conversation_transfer,
)
from tests.factories import (
    AgentFactory,
    ConversationFactory,
    InboxFactory,
    TeamFactory,
    TenantFactory,
    VisitorFactory,
)

pytestmark = pytest.mark.django_db


def test_open_returns_the_existing_open_conversation():
    visitor = VisitorFactory()
    first, created = conversation_open(tenant=visitor.tenant, visitor=visitor)
    again, created_again = conversation_open(tenant=visitor.tenant, visitor=visitor)
    assert created and not created_again and first.pk == again.pk
    assert first.status == Status.QUEUED


def test_open_goes_to_bot_when_a_selector_says_so():
    visitor = VisitorFactory()
    selector = lambda tenant, inbox: tenant.pk == visitor.tenant_id  # noqa: E731
    signals.register_bot_selector(selector)
    try:
        conv, _ = conversation_open(tenant=visitor.tenant, visitor=visitor)
    finally:
        signals.bot_selectors.remove(selector)
    assert conv.status == Status.BOT


def test_open_refuses_a_visitor_of_another_tenant():
    visitor = VisitorFactory()
    with pytest.raises(InvalidInput):
        conversation_open(tenant=TenantFactory(), visitor=visitor)


def test_database_allows_one_open_conversation_per_visitor_and_inbox():
    conv = ConversationFactory(status=Status.QUEUED)
    with pytest.raises(IntegrityError), transaction.atomic():
        Conversation.objects.create(tenant=conv.tenant, inbox=conv.inbox, visitor=conv.visitor, status=Status.BOT)
    # The same visitor may talk in another inbox (a second widget) at the same time.
    other = InboxFactory(tenant=conv.tenant)
    Conversation.objects.create(tenant=conv.tenant, inbox=other, visitor=conv.visitor, status=Status.BOT)
    conv.status = Status.CLOSED
    conv.save()
    Conversation.objects.create(tenant=conv.tenant, inbox=conv.inbox, visitor=conv.visitor, status=Status.BOT)


def test_open_in_an_inbox_takes_its_team_and_channel_and_keeps_inboxes_apart():
    visitor = VisitorFactory()
    team = TeamFactory(tenant=visitor.tenant)
    sales = InboxFactory(tenant=visitor.tenant, team=team)
    support, _ = conversation_open(tenant=visitor.tenant, visitor=visitor)
    conv, created = conversation_open(tenant=visitor.tenant, visitor=visitor, inbox=sales)
    assert created and conv.pk != support.pk
    assert conv.inbox_id == sales.pk and conv.team_id == team.pk and conv.channel == "widget"
    assert support.inbox.channel == "widget" and support.team_id is None
    with pytest.raises(InvalidInput):
        conversation_open(tenant=visitor.tenant, visitor=visitor, inbox=InboxFactory())  # another tenant's


def test_assign_transfer_close_reopen_leave_event_messages():
    conv = ConversationFactory(status=Status.QUEUED)
    alice, bob = AgentFactory(tenant=conv.tenant), AgentFactory(tenant=conv.tenant)
    team = TeamFactory(tenant=conv.tenant)
    conversation_assign(conversation=conv, agent=alice)
    conv.refresh_from_db()
    assert conv.status == Status.ASSIGNED and conv.assignee == alice and conv.assigned_at
    conversation_transfer(conversation=conv, actor=alice, to_agent=bob, note="VIP")
    conv.refresh_from_db()
    assert conv.assignee == bob
    conversation_transfer(conversation=conv, actor=bob, to_team=team)
    conv.refresh_from_db()
    assert conv.status == Status.QUEUED and conv.assignee is None and conv.team == team
    conversation_close(conversation=conv, actor=bob)
    conv.refresh_from_db()
    assert conv.status == Status.CLOSED and conv.closed_at
    conversation_reopen(conversation=conv, actor=bob)
    conv.refresh_from_db()
    assert conv.status == Status.QUEUED and conv.closed_at is None
    events = list(Message.objects.filter(conversation=conv).order_by("seq").values_list("metadata__event", flat=True))
    assert events == ["assigned", "transferred", "transferred", "closed", "reopened"]


def test_assign_refuses_agent_of_another_tenant_and_inactive_agents():
    conv = ConversationFactory()
    with pytest.raises(InvalidInput):
        conversation_assign(conversation=conv, agent=AgentFactory())
    with pytest.raises(InvalidInput):
        conversation_assign(conversation=conv, agent=AgentFactory(tenant=conv.tenant, is_active=False))


def test_transfer_needs_exactly_one_target():
    conv = ConversationFactory()
    agent = AgentFactory(tenant=conv.tenant)
    with pytest.raises(InvalidInput):
        conversation_transfer(conversation=conv, actor=agent)
    with pytest.raises(InvalidInput):
        conversation_transfer(conversation=conv, actor=agent, to_agent=agent, to_team=TeamFactory(tenant=conv.tenant))


def test_reopen_refused_when_visitor_has_another_open_conversation():
    conv = ConversationFactory()
    conversation_close(conversation=conv)
    ConversationFactory(tenant=conv.tenant, visitor=conv.visitor)
    with pytest.raises(Conflict):
        conversation_reopen(conversation=conv)


@pytest.mark.parametrize("rating", [0, 6, "5", True, None])
def test_rating_must_be_1_to_5(rating):
    conv = ConversationFactory()
    with pytest.raises(InvalidInput):
        conversation_rate(conversation=conv, rating=rating)


def test_rating_is_stored():
    conv = ConversationFactory()
    conversation_rate(conversation=conv, rating=5, comment="great")
    conv.refresh_from_db()
    assert (conv.rating, conv.rating_comment) == (5, "great")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_opens_create_one_conversation():
    visitor = VisitorFactory()
    results: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def open_one() -> None:
        try:
            barrier.wait()
            conv, _ = conversation_open(tenant=visitor.tenant, visitor=visitor)
            results.append(conv.pk)
        except BaseException as exc:
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=open_one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(set(results)) == 1
    assert Conversation.objects.filter(visitor=visitor).count() == 1
