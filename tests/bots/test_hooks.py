"""Business hooks at every key point, over signed HTTP (JSON) and gRPC, with their
timeouts and both failure modes (issue 17)."""

from __future__ import annotations

import threading

import pytest

from bots.models import Bot, BotTurn, BusinessHook, ProviderKind, TurnStatus
from kefu.models import Message, Presence, SenderType, Status
from kefu.payloads import message_payload
from kefu.services.conversations import conversation_close, conversation_open
from kefu.services.messages import message_send
from kefu.services.routing import routing_assign_queued
from tests.factories import AgentFactory, TenantFactory, VisitorFactory
from tests.fakes.hook_server import FakeHookGRPC, FakeHookHTTP
from tests.fakes.http import Behaviour
from tests.fakes.openai_server import FakeOpenAI

pytestmark = pytest.mark.django_db

SECRET = "hook-secret"


@pytest.fixture(autouse=True)
def _setup(settings, django_capture_on_commit_callbacks):
    settings.KEFU_OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    settings.KEFU_BOT_TIMEOUTS = {"connect": 1.0, "first_token": 2.0, "idle": 2.0, "total": 5.0}
    global _capture
    _capture = django_capture_on_commit_callbacks


@pytest.fixture(params=["http", "grpc"])
def hook_system(request):
    """A started fake business system and the transport it speaks; `.address` is what a tenant configures."""
    if request.param == "http":
        server = FakeHookHTTP(secret=SECRET)
        with server:
            server.address = f"{server.url}/hook"
            server.transport = "http"
            yield server
    else:
        server = FakeHookGRPC(secret=SECRET)
        with server:
            server.address = server.target
            server.transport = "grpc"
            yield server
    assert server.hook.bad_signatures == 0  # every call was signed as docs/hooks.md says


def add_hook(tenant, system, point: str, **kwargs) -> BusinessHook:
    hook = BusinessHook(
        tenant=tenant,
        name=kwargs.pop("name", point),
        point=point,
        transport=system.transport,
        url=system.address,
        secret=SECRET,
        **kwargs,
    )
    hook.full_clean()
    hook.save()
    return hook


def say(tenant, text: str, conversation=None):
    with _capture(execute=True):
        if conversation is None:
            conversation, _ = conversation_open(tenant=tenant, visitor=VisitorFactory(tenant=tenant))
        message = message_send(conversation=conversation, sender_type=SenderType.VISITOR, body=text).message
    conversation.refresh_from_db()
    return conversation, message


def bot_messages(conv) -> list[Message]:
    return list(Message.objects.filter(conversation=conv, sender_type=SenderType.BOT).order_by("seq"))


@pytest.fixture
def gpt():
    with FakeOpenAI(Behaviour(chunks=["好的,", "请拨打 13812345678 联系我们。"])) as fake:
        yield fake


def gpt_bot(tenant, fake) -> Bot:
    return Bot.objects.create(
        tenant=tenant, name="gpt", provider=ProviderKind.OPENAI, base_url=f"{fake.url}/v1", model="gpt-4o-mini"
    )


def test_message_in_masks_what_the_bot_and_its_provider_see(hook_system, gpt):
    tenant = TenantFactory()
    bot = gpt_bot(tenant, gpt)
    hook_system.hook.replies = {"message_in": {"action": "mask", "text": "我的卡号是 [卡号] 怎么办"}}
    add_hook(tenant, hook_system, "message_in", bot=bot)
    say(tenant, "我的卡号是 6222020000000000 怎么办")
    [call] = hook_system.calls
    assert call["point"] == "message_in" and call["message"]["text"] == "我的卡号是 6222020000000000 怎么办"
    assert gpt.requests[-1].json()["messages"][-1]["content"] == "我的卡号是 [卡号] 怎么办"


def test_message_in_block_stops_the_bot_and_hands_off_with_the_reason_for_agents(hook_system, gpt):
    tenant = TenantFactory()
    gpt_bot(tenant, gpt)
    hook_system.hook.replies = {"message_in": {"action": "block", "reason": "fraud pattern"}}
    add_hook(tenant, hook_system, "message_in")
    conv, message = say(tenant, "帮我刷单")
    assert gpt.requests == []
    turn = BotTurn.objects.get(trigger=message)
    assert turn.status == TurnStatus.HANDOFF and turn.flagged and "fraud pattern" in turn.error
    assert conv.status == Status.QUEUED
    assert [m.body for m in bot_messages(conv)] == [
        "Sorry, I can't help with that here. A human agent will take a look."
    ]


def test_a_hook_for_another_bot_is_not_asked(hook_system, gpt):
    tenant = TenantFactory()
    gpt_bot(tenant, gpt)
    other = Bot.objects.create(tenant=tenant, name="other", enabled=False)
    hook_system.hook.replies = {"message_in": {"action": "block", "reason": "x"}}
    add_hook(tenant, hook_system, "message_in", bot=other)
    conv, _ = say(tenant, "你好,请问营业时间")
    assert hook_system.calls == [] and bot_messages(conv)


def test_before_send_masks_the_bots_reply(hook_system, gpt):
    tenant = TenantFactory()
    gpt_bot(tenant, gpt)
    hook_system.hook.replies = lambda call: {
        "action": "mask",
        "text": call["message"]["text"].replace("13812345678", "***"),
    }
    add_hook(tenant, hook_system, "before_send")
    conv, _ = say(tenant, "怎么联系你们")
    [call] = hook_system.calls
    assert call["message"]["sender"] == "bot" and "13812345678" in call["message"]["text"]
    assert [m.body for m in bot_messages(conv)] == ["好的,请拨打 *** 联系我们。"]


def test_before_send_block_keeps_the_reply_from_the_visitor(hook_system, gpt):
    tenant = TenantFactory()
    gpt_bot(tenant, gpt)
    hook_system.hook.replies = {"before_send": {"action": "block", "reason": "contact details"}}
    add_hook(tenant, hook_system, "before_send")
    conv, message = say(tenant, "怎么联系你们")
    assert not any("13812345678" in m.body for m in Message.objects.filter(conversation=conv))
    assert BotTurn.objects.get(trigger=message).status == TurnStatus.HANDOFF


def test_the_answer_hook_sees_recent_history_and_answers_with_cards(hook_system):
    tenant = TenantFactory()
    Bot.objects.create(tenant=tenant, name="local")
    card = {
        "title": "订单 A123",
        "fields": [{"label": "状态", "value": "已发货"}, {"label": "快递", "value": "顺丰 SF1001"}],
        "buttons": [
            {"label": "查看物流", "url": "https://example.com/track/SF1001"},
            {"label": "bad", "url": "javascript:alert(1)"},
            {"label": "转人工", "reply": "转人工"},
        ],
    }

    def reply(call):
        if "订单" not in call["message"]["text"]:
            return {"answer": "您好!请问有什么可以帮您?", "score": 0.9}
        return {"answer": "这是您的订单:", "score": 0.9, "title": "订单系统", "cards": [card]}

    hook_system.hook.replies = reply
    add_hook(tenant, hook_system, "answer")
    conv, _ = say(tenant, "你好")
    conv, _ = say(tenant, "我的订单呢", conversation=conv)
    history = hook_system.calls[-1]["history"]
    assert history[-2:] == [
        {"role": "user", "text": "你好"},
        {"role": "assistant", "text": "您好!请问有什么可以帮您?"},
    ]
    answer = bot_messages(conv)[-1]
    assert answer.body == "这是您的订单:" and answer.metadata["provider"] == "hook:answer"
    [shown] = message_payload(answer)["meta"]["cards"]
    assert shown["title"] == "订单 A123" and shown["fields"][1] == {"label": "快递", "value": "顺丰 SF1001"}
    # A button that is neither an http(s) link nor a reply never reaches the page.
    assert [b["label"] for b in shown["buttons"]] == ["查看物流", "转人工"]


@pytest.mark.parametrize("fail_closed", [False, True])
def test_a_hook_that_times_out_follows_its_failure_mode(hook_system, gpt, fail_closed):
    tenant = TenantFactory()
    gpt_bot(tenant, gpt)
    hook_system.hook.hold = threading.Event()  # never answers within its timeout
    add_hook(tenant, hook_system, "message_in", timeout_ms=200, fail_closed=fail_closed)
    try:
        conv, message = say(tenant, "你好,我想问问价格")
    finally:
        hook_system.hook.hold.set()
    turn = BotTurn.objects.get(trigger=message)
    if fail_closed:
        assert turn.status == TurnStatus.HANDOFF and "hook_unavailable" in turn.error
        assert gpt.requests == []
    else:
        assert turn.status == TurnStatus.DONE
        assert gpt.requests[-1].json()["messages"][-1]["content"] == "你好,我想问问价格"


@pytest.mark.parametrize("fail_closed", [False, True])
def test_an_answer_hook_that_fails_follows_its_failure_mode(hook_system, gpt, fail_closed):
    tenant = TenantFactory()
    gpt_bot(tenant, gpt)
    hook_system.hook.fail_status = 503
    add_hook(tenant, hook_system, "answer", fail_closed=fail_closed)
    conv, message = say(tenant, "我的订单到哪了")
    turn = BotTurn.objects.get(trigger=message)
    assert len(hook_system.calls) == 1
    if fail_closed:  # the order system is required for this question: a human answers
        assert turn.status == TurnStatus.HANDOFF and conv.status == Status.QUEUED
    else:  # the model answers without it
        assert turn.status == TurnStatus.DONE and bot_messages(conv)[-1].body.startswith("好的")


def test_before_assignment_chooses_the_agent(hook_system):
    tenant = TenantFactory()
    first = AgentFactory(tenant=tenant, presence=Presence.ONLINE)
    chosen = AgentFactory(tenant=tenant, presence=Presence.ONLINE)
    hook_system.hook.replies = {"before_assign": {"agent_id": chosen.pk}}
    add_hook(tenant, hook_system, "before_assign")
    conv, _ = conversation_open(tenant=tenant, visitor=VisitorFactory(tenant=tenant))
    routing_assign_queued(tenant_id=tenant.pk)
    conv.refresh_from_db()
    assert conv.assignee_id == chosen.pk != first.pk
    assert hook_system.calls[0]["point"] == "before_assign" and hook_system.calls[0]["conversation_id"] == conv.pk


def test_before_assignment_fail_closed_keeps_the_conversation_queued(hook_system):
    tenant = TenantFactory()
    AgentFactory(tenant=tenant, presence=Presence.ONLINE)
    hook_system.hook.fail_status = 500
    add_hook(tenant, hook_system, "before_assign", fail_closed=True)
    conv, _ = conversation_open(tenant=tenant, visitor=VisitorFactory(tenant=tenant))
    routing_assign_queued(tenant_id=tenant.pk)
    conv.refresh_from_db()
    assert conv.status == Status.QUEUED and conv.assignee_id is None


def test_on_close_tells_the_hook_with_the_transcript(hook_system):
    tenant = TenantFactory()
    add_hook(tenant, hook_system, "on_close")
    conv, _ = conversation_open(tenant=tenant, visitor=VisitorFactory(tenant=tenant))
    message_send(conversation=conv, sender_type=SenderType.VISITOR, body="谢谢,没问题了")
    with _capture(execute=True):
        conversation_close(conversation=conv, by="agent")
    [call] = hook_system.calls
    assert call["point"] == "on_close" and call["conversation_id"] == conv.pk
    assert {"role": "visitor", "text": "谢谢,没问题了"} in call["history"]


def test_a_grpc_target_and_an_http_url_are_validated():
    from django.core.exceptions import ValidationError

    tenant = TenantFactory()
    with pytest.raises(ValidationError):
        BusinessHook(tenant=tenant, name="g", transport="grpc", url="http://x/").full_clean()
    with pytest.raises(ValidationError):
        BusinessHook(tenant=tenant, name="h", transport="http", url="risk:50051").full_clean()
    BusinessHook(tenant=tenant, name="ok", transport="grpc", url="risk.internal:50051").full_clean()


@pytest.mark.slow
def test_the_documented_grpc_example_server_works_with_the_product(tmp_path):
    """docs/examples/grpc_hook_server.py, run as its doc says, blocks, masks and answers with a card."""
    import subprocess
    import sys

    from bots.hooks.runner import call_hook
    from bots.hooks.spec import HookCall, HookSpec
    from tests.liveserver import ROOT

    process = subprocess.Popen(
        [sys.executable, "docs/examples/grpc_hook_server.py", "--port", "0", "--secret", "s3cret"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port = process.stdout.readline().rsplit(":", 1)[1].strip()
        spec = HookSpec(
            name="ex", url=f"127.0.0.1:{port}", secret="s3cret", timeout=5, point="message_in", transport="grpc"
        )
        from bots import runtime

        def ask(point: str, text: str):
            call = HookCall(point=point, tenant_id=1, text=text)
            return runtime.run_on_bot_loop(call_hook(HookSpec(**{**spec.__dict__, "point": point}), call), timeout=10)

        assert ask("message_in", "我们私下转账吧").action == "block"
        assert ask("message_in", "我的电话 13812345678").text == "我的电话 ***********"
        answer = ask("answer", "我的订单呢")
        assert answer.score == pytest.approx(0.9) and answer.cards[0].title == "订单 A123"
        wrong = runtime.run_on_bot_loop(
            call_hook(HookSpec(**{**spec.__dict__, "secret": "wrong"}), HookCall(point="message_in", tenant_id=1)),
            timeout=10,
        )
        assert wrong.failed and "UNAUTHENTICATED" in wrong.error
    finally:
        process.terminate()
        process.wait(10)
