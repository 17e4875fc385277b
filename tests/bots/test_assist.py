"""AI assist for agents: grounded suggestions with sources, LLM draft and summary."""

from __future__ import annotations

import pytest

from bots.knowledge.services import faq_create, knowledge_base_create
from bots.models import Bot, ProviderKind
from kefu.models import SenderType, Status
from kefu.services.messages import message_send
from tests.factories import AgentFactory, ConversationFactory
from tests.fakes.http import Behaviour
from tests.fakes.openai_server import FakeOpenAI

pytestmark = pytest.mark.django_db


@pytest.fixture
def conv():
    conv = ConversationFactory(status=Status.QUEUED)
    message_send(conversation=conv, sender_type=SenderType.VISITOR, body="退款多久到账?")
    return conv


def assist(client, conv):
    agent = AgentFactory(tenant=conv.tenant, role="admin")
    client.force_login(agent.user)
    return client.post(f"/api/v1/console/conversations/{conv.pk}/assist/")


def test_not_configured_without_knowledge_or_llm(client, conv):
    response = assist(client, conv)
    assert response.status_code == 200 and response.json()["configured"] is False


def test_suggestions_come_from_the_knowledge_base_with_sources(client, conv):
    kb = knowledge_base_create(tenant=conv.tenant, name="FAQ")
    faq_create(knowledge_base=kb, question="退款多久到账?", answer="退款审核通过后3-5个工作日原路退回。")
    body = assist(client, conv).json()
    assert body["configured"] is True and body["provider"] == "knowledge-base"
    first = body["suggestions"][0]
    assert "3-5个工作日" in first["text"] and first["sources"][0]["title"]
    assert "退款多久到账" in body["summary"]


def test_llm_drafts_a_grounded_reply_and_a_summary(client, conv, settings):
    settings.KEFU_OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    kb = knowledge_base_create(tenant=conv.tenant, name="FAQ")
    faq_create(knowledge_base=kb, question="退款多久到账?", answer="退款审核通过后3-5个工作日原路退回。")
    with FakeOpenAI(Behaviour(chunks=["您好,", "退款将在3-5个工作日到账。"])) as fake:
        Bot.objects.create(
            tenant=conv.tenant, name="GPT", provider=ProviderKind.OPENAI, base_url=f"{fake.url}/v1", model="gpt-x"
        )
        body = assist(client, conv).json()
        prompts = [r.json()["messages"][0]["content"] for r in fake.requests]
    assert body["suggestions"][0]["text"] == "您好,退款将在3-5个工作日到账。"
    assert body["provider"] == "openai:gpt-x"
    assert any("3-5个工作日原路退回" in p for p in prompts)  # the draft is grounded in the KB


def test_provider_failure_is_a_503_not_a_made_up_answer(client, conv, settings):
    settings.KEFU_OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    with FakeOpenAI(Behaviour(fail_status=500)) as fake:
        Bot.objects.create(
            tenant=conv.tenant, name="GPT", provider=ProviderKind.OPENAI, base_url=f"{fake.url}/v1", model="m"
        )
        response = assist(client, conv)
    assert response.status_code == 503 and response.json()["error"]["code"] == "assist_unavailable"


def test_closing_and_transferring_leave_a_summary_note_for_agents(django_capture_on_commit_callbacks):
    from kefu.models import Message
    from kefu.services.conversations import conversation_close, conversation_transfer

    conv = ConversationFactory(status=Status.QUEUED)
    alice, bob = AgentFactory(tenant=conv.tenant), AgentFactory(tenant=conv.tenant)
    with django_capture_on_commit_callbacks(execute=True):  # callbacks run as each block ends
        message_send(conversation=conv, sender_type=SenderType.VISITOR, body="我的订单 A-1 还没发货")
        conversation_transfer(conversation=conv, actor=alice, to_agent=bob)
    with django_capture_on_commit_callbacks(execute=True):
        message_send(conversation=conv, sender_type=SenderType.VISITOR, body="地址改成上海")
        conversation_close(conversation=conv, actor=bob)
    notes = list(Message.objects.filter(conversation=conv, is_internal=True, metadata__event="summary").order_by("seq"))
    assert [n.metadata["trigger"] for n in notes] == ["transferred", "closed"]
    assert all("订单 A-1 还没发货" in n.body for n in notes)
    assert "地址改成上海" not in notes[0].body and "地址改成上海" in notes[1].body
    # Labeled per event, as a code the console shows in its reader's language.
    assert [n.metadata["code"] for n in notes] == ["summary_transferred", "summary_closed"]
    assert notes[0].body.startswith("Summary at transfer:") or notes[0].body.startswith("转接时的摘要")
    assert notes[0].metadata["provider"] == "extractive"


def test_a_summary_that_repeats_the_previous_one_is_not_stored(django_capture_on_commit_callbacks):
    from kefu.models import Message
    from kefu.services.conversations import conversation_close, conversation_transfer

    conv = ConversationFactory(status=Status.QUEUED)
    alice, bob = AgentFactory(tenant=conv.tenant), AgentFactory(tenant=conv.tenant)
    with django_capture_on_commit_callbacks(execute=True):
        message_send(conversation=conv, sender_type=SenderType.VISITOR, body="我的订单 A-1 还没发货")
        conversation_transfer(conversation=conv, actor=alice, to_agent=bob)
    with django_capture_on_commit_callbacks(execute=True):
        conversation_transfer(conversation=conv, actor=bob, to_agent=alice)
    with django_capture_on_commit_callbacks(execute=True):
        conversation_close(conversation=conv, actor=alice)
    notes = Message.objects.filter(conversation=conv, is_internal=True, metadata__event="summary")
    assert [n.metadata["trigger"] for n in notes] == ["transferred"]
