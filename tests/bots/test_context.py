"""Prompt context comes from the cache, heals from the database, skips internal notes."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from bots.context import context_for_prompt
from kefu.models import SenderType
from kefu.services.messages import message_send
from tests.factories import AgentFactory, ConversationFactory

pytestmark = pytest.mark.django_db


def test_context_is_ordered_and_excludes_internal_notes():
    conv = ConversationFactory()
    agent = AgentFactory(tenant=conv.tenant)
    message_send(conversation=conv, sender_type=SenderType.VISITOR, body="q1")
    message_send(conversation=conv, sender_type=SenderType.BOT, body="a1")
    message_send(conversation=conv, sender_type=SenderType.AGENT, agent=agent, body="secret", is_internal=True)
    last = message_send(conversation=conv, sender_type=SenderType.VISITOR, body="q2").message
    context = context_for_prompt(conversation_id=conv.pk, up_to_seq=last.seq, limit=20)
    assert [(m.role, m.content) for m in context] == [("user", "q1"), ("assistant", "a1"), ("user", "q2")]


def test_limit_and_upper_bound_are_respected():
    conv = ConversationFactory()
    msgs = [message_send(conversation=conv, sender_type=SenderType.VISITOR, body=f"m{i}").message for i in range(30)]
    context = context_for_prompt(conversation_id=conv.pk, up_to_seq=msgs[24].seq, limit=5)
    assert [m.content for m in context] == ["m20", "m21", "m22", "m23", "m24"]


def test_context_rebuilds_after_the_cache_is_lost():
    conv = ConversationFactory()
    for i in range(3):
        last = message_send(conversation=conv, sender_type=SenderType.VISITOR, body=f"m{i}").message
    cache.delete(f"botctx:{conv.pk}")
    assert [m.content for m in context_for_prompt(conversation_id=conv.pk, up_to_seq=last.seq)] == ["m0", "m1", "m2"]


def test_cache_is_read_without_queries_when_it_is_current(django_assert_num_queries):
    conv = ConversationFactory()
    last = message_send(conversation=conv, sender_type=SenderType.VISITOR, body="hello").message
    context_for_prompt(conversation_id=conv.pk, up_to_seq=last.seq)
    with django_assert_num_queries(0):
        assert context_for_prompt(conversation_id=conv.pk, up_to_seq=last.seq)[0].content == "hello"
