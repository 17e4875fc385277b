"""raw_rows: hand-written reads of the hot paths return what the ORM would."""

from __future__ import annotations

import pytest

from kefu.models import Conversation, Inbox, Message, SenderType, Status, Tenant, Visitor
from kefu.selectors import raw_rows, visitor_for_hello
from kefu.services.messages import message_send
from tests.factories import AgentFactory, ConversationFactory, InboxFactory

pytestmark = pytest.mark.django_db


def _same_row(fetched: object, expected: object) -> None:
    assert type(fetched) is type(expected)
    assert not fetched._state.adding and fetched._state.db == "default"  # type: ignore[attr-defined]
    for field in type(expected)._meta.concrete_fields:  # type: ignore[attr-defined]
        assert getattr(fetched, field.attname) == getattr(expected, field.attname), field.name


def test_rows_match_the_orm_including_json_and_dates():
    conv = ConversationFactory()
    tenant = conv.tenant
    inbox = conv.inbox
    inbox.allowed_origins = ["http://a.test", "http://b.test"]
    inbox.widget_settings = {"color": "#123456", "texts": {"zh-hans": "你好"}}
    inbox.save()
    message_send(conversation=conv, sender_type=SenderType.VISITOR, body="hi", client_msg_id="s-1")
    (t,) = raw_rows(Tenant, "id = %s", [tenant.pk])
    _same_row(t, Tenant.objects.get(pk=tenant.pk))
    (i,) = raw_rows(Inbox, "id = %s", [inbox.pk])
    _same_row(i, Inbox.objects.get(pk=inbox.pk))
    (c,) = raw_rows(Conversation, "id = %s", [conv.pk])
    _same_row(c, Conversation.objects.get(pk=conv.pk))
    (m,) = raw_rows(Message, "conversation_id = %s AND client_msg_id = %s", [conv.pk, "s-1"], tail=" LIMIT 1")
    _same_row(m, Message.objects.get(conversation=conv, client_msg_id="s-1"))
    assert raw_rows(Message, "conversation_id = %s AND client_msg_id = %s", [conv.pk, "nope"]) == []
    m.body = "edited"
    m.save(update_fields=["body"])  # a fetched row is a normal instance
    assert Message.objects.get(pk=m.pk).body == "edited"


def test_visitor_for_hello_only_sees_its_own_tenant():
    conv = ConversationFactory()
    found = visitor_for_hello(visitor_id=conv.visitor_id, tenant_id=conv.tenant_id, inbox_id=conv.inbox_id)
    assert found is not None
    visitor, inbox, latest = found
    _same_row(visitor, Visitor.objects.get(pk=conv.visitor_id))
    assert latest is not None and latest.pk == conv.pk and visitor.tenant.pk == conv.tenant_id
    assert inbox.pk == conv.inbox_id
    other = ConversationFactory()
    assert visitor_for_hello(visitor_id=conv.visitor_id, tenant_id=other.tenant_id, inbox_id=None) is None
    # Another tenant's inbox, even with this tenant's visitor: nothing.
    assert visitor_for_hello(visitor_id=conv.visitor_id, tenant_id=conv.tenant_id, inbox_id=other.inbox_id) is None


def test_visitor_for_hello_picks_the_conversation_of_the_tokens_widget():
    conv = ConversationFactory()
    second = InboxFactory(tenant=conv.tenant)
    in_second = ConversationFactory(tenant=conv.tenant, visitor=conv.visitor, inbox=second)
    _v, inbox, latest = visitor_for_hello(visitor_id=conv.visitor_id, tenant_id=conv.tenant_id, inbox_id=second.pk)  # type: ignore[misc]
    assert inbox.pk == second.pk and latest.pk == in_second.pk
    # A token from before inboxes stands for the tenant's first widget.
    _v, inbox, latest = visitor_for_hello(visitor_id=conv.visitor_id, tenant_id=conv.tenant_id, inbox_id=None)  # type: ignore[misc]
    assert inbox.pk == conv.inbox_id and latest.pk == conv.pk
    second.is_active = False
    second.save()
    assert visitor_for_hello(visitor_id=conv.visitor_id, tenant_id=conv.tenant_id, inbox_id=second.pk) is None


def test_visitor_for_hello_brings_the_assignee_along(django_assert_num_queries):
    agent = AgentFactory(display_name="Alice")
    conv = ConversationFactory(tenant=agent.tenant, status=Status.ASSIGNED, assignee=agent)
    with django_assert_num_queries(5):  # visitor, tenant, inbox, conversation, assignee
        _visitor, _inbox, latest = visitor_for_hello(  # type: ignore[misc]
            visitor_id=conv.visitor_id, tenant_id=conv.tenant_id, inbox_id=conv.inbox_id
        )
        assert latest.assignee.pk == agent.pk and str(latest.assignee) == "Alice"
