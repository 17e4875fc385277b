"""The per-process copy of a tenant's bot configuration: used while current, replaced on every change."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bots import pipeline
from bots.context import context_append
from bots.knowledge.services import faq_create, knowledge_base_create
from bots.models import Bot, BotTurn, BusinessHook, TurnStatus
from bots.pipeline import tenant_bots, turn_run
from bots.receivers import on_message_stored
from kefu.models import Conversation, Message, SenderType
from kefu.services.conversations import conversation_open
from kefu.services.messages import message_send
from tests.factories import TenantFactory, VisitorFactory

# Real commits: copies are only kept outside transactions, and bumps run on commit.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def tenant():
    tenant = TenantFactory()
    kb = knowledge_base_create(tenant=tenant, name="FAQ")
    faq_create(knowledge_base=kb, question="退款多久到账?", answer="退款审核通过后3-5个工作日原路退回。")
    return tenant


def ask(tenant, text: str = "退款多久到账?") -> tuple[Message, Message | None]:
    conv, _ = conversation_open(tenant=tenant, visitor=VisitorFactory(tenant=tenant))
    message = message_send(conversation=conv, sender_type=SenderType.VISITOR, body=text).message
    return message, Message.objects.filter(conversation=conv, sender_type=SenderType.BOT).first()


def test_the_copy_is_reused_until_something_changes(tenant):
    bot = Bot.objects.create(tenant=tenant, name="local")
    first = tenant_bots(tenant.pk)
    with CaptureQueriesContext(connection) as queries:
        assert tenant_bots(tenant.pk) is first
    assert len(queries) == 0
    assert first.by_channel["widget"].pk == bot.pk
    bot.system_prompt = "Be brief."
    bot.save()
    assert tenant_bots(tenant.pk) is not first
    assert tenant_bots(tenant.pk).by_channel["widget"].system_prompt == "Be brief."


def test_hooks_knowledge_base_links_and_disabling_take_effect_on_the_next_turn(tenant):
    bot = Bot.objects.create(tenant=tenant, name="local")
    _, reply = ask(tenant)
    assert reply is not None and "3-5个工作日" in reply.body
    BusinessHook.objects.create(tenant=tenant, name="orders", url="http://127.0.0.1:9/hook")
    assert [h.name for h in tenant_bots(tenant.pk).hooks] == ["orders"]
    other = knowledge_base_create(tenant=tenant, name="Empty")
    bot.knowledge_bases.add(other)
    assert tenant_bots(tenant.pk).kb_ids[bot.pk] == (other.pk,)
    bot.knowledge_bases.remove(other)
    assert len(tenant_bots(tenant.pk).kb_ids[bot.pk]) == 2  # no links: all of the tenant's
    bot.enabled = False
    bot.save()
    message, reply = ask(tenant)
    assert reply is None and not BotTurn.objects.filter(trigger=message).exists()


def test_another_process_change_is_seen_through_the_shared_version(tenant):
    bot = Bot.objects.create(tenant=tenant, name="local", history_messages=20)
    assert tenant_bots(tenant.pk).bots[bot.pk].history_messages == 20
    # A write that bypasses this process's signals, then that process's version bump.
    Bot.objects.filter(pk=bot.pk).update(history_messages=3)
    cache.set(pipeline._version_key(tenant.pk), "changed-elsewhere")
    assert tenant_bots(tenant.pk).bots[bot.pk].history_messages == 3


def test_a_flushed_cache_never_matches_an_old_copy(tenant):
    bot = Bot.objects.create(tenant=tenant, name="local", history_messages=20)
    tenant_bots(tenant.pk)
    Bot.objects.filter(pk=bot.pk).update(history_messages=4)
    cache.delete(pipeline._version_key(tenant.pk))
    assert tenant_bots(tenant.pk).bots[bot.pk].history_messages == 4


def test_a_turn_runs_few_statements_with_a_warm_copy(tenant):
    """The turn's own statements: load, claim, finish; the rest are the knowledge-base
    access check and message_send's four (in one transaction) for the stored reply."""
    Bot.objects.create(tenant=tenant, name="local")
    ask(tenant)  # warms the copy and the knowledge-base index
    conv, _ = conversation_open(tenant=tenant, visitor=VisitorFactory(tenant=tenant))
    conv.refresh_from_db()
    # Stored without the signal, so the turn is run by hand below.
    message = Message.objects.create(
        tenant=tenant, conversation=conv, seq=conv.last_seq + 1, sender_type=SenderType.VISITOR, body="退款多久到账?"
    )
    Conversation.objects.filter(pk=conv.pk).update(last_seq=message.seq)
    context_append(message)  # as the signal would
    turn = BotTurn.objects.create(
        tenant=tenant, conversation=conv, bot=tenant_bots(tenant.pk).by_channel["widget"], trigger=message
    )
    with CaptureQueriesContext(connection) as queries:
        assert turn_run(turn_id=turn.pk) == TurnStatus.DONE
    statements = [q["sql"] for q in queries if q["sql"] not in ("BEGIN", "COMMIT")]
    assert len(statements) <= 8 and len(queries) <= 10, "\n".join(sql[:70] for sql in statements)


def test_a_message_gets_one_turn_even_when_its_signal_runs_twice(tenant):
    Bot.objects.create(tenant=tenant, name="local")
    message, reply = ask(tenant)
    assert reply is not None
    on_message_stored(sender=Message, message=message)  # a redelivered signal: IntegrityError, swallowed
    assert BotTurn.objects.filter(trigger=message).count() == 1
