"""Bot turns end to end: visitor message -> (streamed) answer stored, or a handoff."""

from __future__ import annotations

import asyncio
import time

import pytest
from channels.layers import get_channel_layer

from bots.knowledge.services import faq_create, knowledge_base_create
from bots.models import Bot, BotTurn, ProviderKind, TurnStatus
from bots.pipeline import turn_run
from kefu import events
from kefu.models import Message, Presence, SenderType, Status
from kefu.services.conversations import conversation_open
from kefu.services.messages import message_send
from tests.factories import AgentFactory, TenantFactory, VisitorFactory
from tests.fakes.http import Behaviour
from tests.fakes.openai_server import FakeOpenAI

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _allow_loopback(settings):
    settings.KEFU_OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    settings.KEFU_BOT_TIMEOUTS = {"connect": 1.0, "first_token": 1.0, "idle": 1.0, "total": 5.0}


@pytest.fixture
def tenant():
    tenant = TenantFactory()
    # Someone is online (busy: capacity 0, so handoffs wait in the queue); with nobody
    # online the bot keeps the visitor (test_nobody_online_the_bot_says_so_and_keeps_answering).
    AgentFactory(tenant=tenant, presence=Presence.ONLINE, capacity=0)
    kb = knowledge_base_create(tenant=tenant, name="FAQ")
    faq_create(
        knowledge_base=kb,
        question="退款多久到账?",
        answer="退款审核通过后3-5个工作日原路退回。",
        alternates=["How long does a refund take?"],
    )
    faq_create(knowledge_base=kb, question="支持哪些支付方式?", answer="支持微信支付、支付宝和银行卡。")
    return tenant


def make_bot(tenant, **kwargs) -> Bot:
    defaults = {"name": "Bot", "provider": ProviderKind.LOCAL}
    return Bot.objects.create(tenant=tenant, **{**defaults, **kwargs})


@pytest.fixture(autouse=True)
def _commit_hooks(django_capture_on_commit_callbacks):
    # Bot turns start from after-commit signals; run them as a real commit would.
    global _on_commit
    _on_commit = django_capture_on_commit_callbacks


def visitor_says(tenant, text: str, conversation=None):
    with _on_commit(execute=True):
        if conversation is None:
            conversation, _ = conversation_open(tenant=tenant, visitor=VisitorFactory(tenant=tenant))
        message = message_send(conversation=conversation, sender_type=SenderType.VISITOR, body=text).message
    conversation.refresh_from_db()
    return conversation, message


def bot_replies(conversation) -> list[Message]:
    return list(Message.objects.filter(conversation=conversation, sender_type=SenderType.BOT).order_by("seq"))


def test_new_conversation_goes_to_the_bot_only_when_one_is_enabled(tenant):
    conv, _ = conversation_open(tenant=tenant, visitor=VisitorFactory(tenant=tenant))
    assert conv.status == Status.QUEUED
    make_bot(tenant)
    conv2, _ = conversation_open(tenant=tenant, visitor=VisitorFactory(tenant=tenant))
    assert conv2.status == Status.BOT


def test_local_bot_answers_from_the_knowledge_base_with_sources(tenant):
    make_bot(tenant)
    conv, message = visitor_says(tenant, "退款多久能到账?")
    replies = bot_replies(conv)
    assert len(replies) == 1
    reply = replies[0]
    assert "3-5个工作日" in reply.body
    assert reply.metadata["provider"] == "local-kb"
    assert reply.metadata["sources"] and reply.metadata["sources"][0]["type"] == "faq"
    assert BotTurn.objects.get(trigger=message).status == TurnStatus.DONE
    conv.refresh_from_db()
    assert conv.status == Status.BOT


def test_asking_for_a_human_hands_off_with_a_summary_for_agents(tenant):
    make_bot(tenant)
    conv, _ = visitor_says(tenant, "我的订单一直没发货")
    _, message = visitor_says(tenant, "转人工", conversation=conv)
    conv.refresh_from_db()
    assert conv.status == Status.QUEUED
    assert BotTurn.objects.get(trigger=message).status == TurnStatus.HANDOFF
    note = Message.objects.get(conversation=conv, is_internal=True)
    assert "订单一直没发货" in note.body


def test_nobody_online_the_bot_says_so_and_keeps_answering(tenant):
    from kefu.models import Agent

    Agent.objects.filter(tenant=tenant).update(presence=Presence.OFFLINE)
    from kefu.services.presence import agents_online_forget

    agents_online_forget(tenant.pk)
    make_bot(tenant, unsure_handoff_after=2)
    conv, _ = visitor_says(tenant, "火星上的天气怎么样")
    visitor_says(tenant, "量子计算机的原理是什么", conversation=conv)  # the second unsure answer
    _, asked = visitor_says(tenant, "转人工", conversation=conv)
    conv.refresh_from_db()
    assert conv.status == Status.BOT  # nothing was queued for nobody
    said = [m.metadata.get("code") for m in bot_replies(conv)]
    assert said.count("nobody_online") == 2 and "handoff_apology_requested" not in said
    assert BotTurn.objects.get(trigger=asked).status == TurnStatus.HANDOFF
    # The visitor can still talk to the bot, which answers what it knows.
    visitor_says(tenant, "退款多久能到账?", conversation=conv)
    assert "3-5个工作日" in bot_replies(conv)[-1].body


def test_two_unsure_answers_in_a_row_hand_off(tenant):
    make_bot(tenant, unsure_handoff_after=2)
    conv, _ = visitor_says(tenant, "火星上的天气怎么样")
    conv.refresh_from_db()
    assert conv.status == Status.BOT
    visitor_says(tenant, "量子计算机的原理是什么", conversation=conv)
    conv.refresh_from_db()
    assert conv.status == Status.QUEUED


def test_openai_compatible_bot_streams_and_stores_usage(tenant, settings):
    with FakeOpenAI(Behaviour(chunks=["您的订单", "已经", "发货了。"], api_key="sk-test")) as fake:
        make_bot(
            tenant, provider=ProviderKind.OPENAI, base_url=f"{fake.url}/v1", model="gpt-4o-mini", api_key="sk-test"
        )
        conv, _ = visitor_says(tenant, "我的订单到哪里了")
        request_body = fake.requests[-1].json()
    reply = bot_replies(conv)[0]
    assert reply.body == "您的订单已经发货了。"
    assert reply.metadata["provider"].endswith(":primary")
    assert reply.metadata["tokens"]["total"] > 0 and reply.metadata["model"] == "gpt-4o-mini"
    assert reply.trace_id
    assert request_body["messages"][-1] == {"role": "user", "content": "我的订单到哪里了"}
    # The key is encrypted at rest and decrypted on read.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT api_key FROM bots_bot WHERE tenant_id = %s", [tenant.pk])
        assert cursor.fetchone()[0].startswith("enc1:")


def test_pii_is_masked_before_it_leaves_for_a_provider(tenant):
    with FakeOpenAI(Behaviour(chunks=["好的"])) as fake:
        make_bot(tenant, provider=ProviderKind.OPENAI, base_url=f"{fake.url}/v1", model="m")
        visitor_says(tenant, "我的手机号是13812345678,邮箱 a.b@example.com")
        sent = fake.requests[-1].json()["messages"][-1]["content"]
    assert "13812345678" not in sent and "a.b@example.com" not in sent


def test_primary_failure_falls_back_to_the_backup_provider(tenant):
    with FakeOpenAI(Behaviour(fail_status=500)) as broken, FakeOpenAI(Behaviour(chunks=["备用", "回答"])) as backup:
        spare = make_bot(
            tenant, name="Spare", enabled=False, provider=ProviderKind.OPENAI, base_url=f"{backup.url}/v1", model="m"
        )
        make_bot(tenant, provider=ProviderKind.OPENAI, base_url=f"{broken.url}/v1", model="m", backup=spare)
        conv, message = visitor_says(tenant, "能开发票吗")
    reply = bot_replies(conv)[0]
    assert reply.body == "备用回答" and reply.metadata["provider"].endswith(":backup")
    assert BotTurn.objects.get(trigger=message).status == TurnStatus.DONE


def test_provider_failure_falls_back_to_the_knowledge_base(tenant):
    with FakeOpenAI(Behaviour(fail_status=503)) as broken:
        make_bot(tenant, provider=ProviderKind.OPENAI, base_url=f"{broken.url}/v1", model="m", faq_direct_threshold=1.0)
        conv, _ = visitor_says(tenant, "退款多久到账")
    reply = bot_replies(conv)[0]
    assert "3-5个工作日" in reply.body and reply.metadata["provider"] == "local-kb"


def test_everything_failing_hands_off_within_two_seconds_and_truncated_text_is_not_stored(tenant):
    with FakeOpenAI(Behaviour(truncate=True, chunks=["半截", "回答"])) as broken:
        make_bot(tenant, provider=ProviderKind.OPENAI, base_url=f"{broken.url}/v1", model="m")
        started = time.monotonic()
        conv, message = visitor_says(tenant, "量子纠缠是什么")
        elapsed = time.monotonic() - started
    conv.refresh_from_db()
    turn = BotTurn.objects.get(trigger=message)
    assert conv.status == Status.QUEUED and turn.status == TurnStatus.HANDOFF and turn.flagged
    assert not Message.objects.filter(conversation=conv, body__contains="半截").exists()
    assert elapsed < 2.0, elapsed


def test_running_a_turn_twice_stores_one_reply(tenant):
    make_bot(tenant)
    conv, message = visitor_says(tenant, "支持哪些支付方式")
    turn = BotTurn.objects.get(trigger=message)
    BotTurn.objects.filter(pk=turn.pk).update(status=TurnStatus.RUNNING)  # as if the worker died
    assert turn_run(turn_id=turn.pk) == TurnStatus.DONE
    assert len(bot_replies(conv)) == 1


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_deltas_reach_the_conversation_group_before_the_stored_message(tenant):
    layer = get_channel_layer()
    make_bot(tenant)
    conv, _ = conversation_open(tenant=tenant, visitor=VisitorFactory(tenant=tenant))

    async def listen() -> list[dict]:
        channel = await layer.new_channel()
        await layer.group_add(events.conversation_group(conv.pk), channel)
        from asgiref.sync import sync_to_async

        await sync_to_async(message_send)(conversation=conv, sender_type=SenderType.VISITOR, body="支持哪些支付方式")
        received = []
        while True:
            try:
                event = await asyncio.wait_for(layer.receive(channel), timeout=2)
            except TimeoutError:
                break
            received.append(event)
            if event["type"] == "kefu.bot.done":
                break
        from django.db import connection

        await sync_to_async(lambda: connection.close())()
        return received

    received = asyncio.run(listen())
    types = [e["type"] for e in received]
    assert "kefu.bot.delta" in types and types[-1] == "kefu.bot.done"
    streamed = "".join(e["text"] for e in received if e["type"] == "kefu.bot.delta")
    assert streamed == received[-1]["message"]["body"]


def test_an_unsure_local_bot_offers_did_you_mean_and_stores_why(tenant):
    # The knowledge base's part of the reply (bots.knowledge.answer): not sure enough to
    # answer "我想退钱", it offers the likely entry as a quick reply beside a human.
    make_bot(tenant)
    conv, _ = visitor_says(tenant, "我想退钱")
    reply = bot_replies(conv)[0]
    assert "Did you mean" in reply.body or "您是想问" in reply.body
    assert reply.metadata["quick_replies"] == ["退款多久到账?"]
    kb = next(c for c in reply.metadata["candidates"] if c["source"] == "kb")
    assert not kb["matched"] and kb["why"]["decision"] == "below_threshold"
    assert kb["why"]["best"]["title"] == "退款多久到账?" and kb["why"]["suggestions"][0]["title"] == "退款多久到账?"
    # The quick reply is the entry's own question: asked, it is answered.
    visitor_says(tenant, "退款多久到账?", conversation=conv)
    answered = bot_replies(conv)[-1]
    assert "3-5个工作日" in answered.body
    kb = next(c for c in answered.metadata["candidates"] if c["source"] == "kb")
    assert (
        kb["why"]["decision"] == "answered"
        and {"word": "退款", "via": "word", "field": "question"} in kb["why"]["matched"]
    )
