"""The hybrid engine asks business systems in parallel; breakers alert the tenant's channels."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import redis

from bots.alerts_hub import _breakers
from bots.knowledge.services import faq_create, knowledge_base_create
from bots.models import AlertChannel, Bot, BusinessHook, ProviderKind
from kefu.models import Message, SenderType
from kefu.services.conversations import conversation_open
from kefu.services.messages import message_send
from tests.factories import TenantFactory, VisitorFactory
from tests.fakes.fastgpt_server import DATASET_ID, FakeFastGPT
from tests.fakes.hook_server import FakeHookGRPC, FakeHookHTTP
from tests.fakes.http import Behaviour
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.redirect_server import FakeRedirect
from tests.fakes.webhook_server import FakeWebhooks

pytestmark = pytest.mark.django_db


ORDER_ANSWER = {"answer": "订单 A123 已于昨天发货,顺丰单号 SF1001。", "score": 0.95, "title": "订单系统"}


@pytest.fixture(autouse=True)
def _loopback(settings, django_capture_on_commit_callbacks):
    settings.KEFU_OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    settings.KEFU_BOT_TIMEOUTS = {"connect": 1.0, "first_token": 1.0, "idle": 1.0, "total": 5.0}
    global _capture
    _capture = django_capture_on_commit_callbacks


def ask(tenant, text):
    with _capture(execute=True):
        conv, _ = conversation_open(tenant=tenant, visitor=VisitorFactory(tenant=tenant))
        message_send(conversation=conv, sender_type=SenderType.VISITOR, body=text)
    return Message.objects.filter(conversation=conv, sender_type=SenderType.BOT).first()


def test_a_sure_business_system_answers_and_the_request_is_signed():
    tenant = TenantFactory()
    Bot.objects.create(tenant=tenant, name="bot")
    with FakeHookHTTP({"answer": ORDER_ANSWER}) as orders:
        BusinessHook.objects.create(
            tenant=tenant, name="orders", url=f"{orders.url}/lookup", secret="hook-secret", keywords=["订单"]
        )
        reply = ask(tenant, "我的订单到哪了?")
        sent = orders.calls[0]
        assert orders.hook.bad_signatures == 0
    assert reply.body.startswith("订单 A123")
    assert reply.metadata["provider"] == "hook:orders"
    assert sent["question"] == "我的订单到哪了?" and "visitor" in sent
    assert {"source": "hook:orders", "score": 0.95} in reply.metadata["candidates"]


def test_hook_keywords_gate_the_call_and_a_slow_hook_does_not_hold_the_answer():
    tenant = TenantFactory()
    kb = knowledge_base_create(tenant=tenant, name="kb")
    faq_create(knowledge_base=kb, question="支持哪些支付方式?", answer="支持微信和支付宝。")
    Bot.objects.create(tenant=tenant, name="bot")
    with FakeHookHTTP({"answer": ORDER_ANSWER}) as orders:
        BusinessHook.objects.create(
            tenant=tenant, name="gated", url=f"{orders.url}/gated", secret="hook-secret", keywords=["订单"]
        )
        ask(tenant, "支持哪些支付方式?")
        assert orders.calls == []  # the question has none of its keywords
        # A hook that never answers (held until the end of the test) past its 300 ms timeout.
        orders.hook.hold = threading.Event()
        BusinessHook.objects.create(
            tenant=tenant, name="orders", url=f"{orders.url}/lookup", secret="hook-secret", timeout_ms=300
        )
        try:
            reply = ask(tenant, "支持哪些支付方式?")
            assert len(orders.calls) == 1  # it was asked, and the answer did not wait for it
        finally:
            orders.hook.hold.set()
    assert reply.body == "支持微信和支付宝。" and reply.metadata["provider"] == "local-kb"
    assert not any(c["source"].startswith("hook:") for c in reply.metadata["candidates"])


def test_a_hook_pointing_at_a_private_address_is_not_called(settings):
    settings.KEFU_OUTBOUND_ALLOWLIST = []
    tenant = TenantFactory()
    Bot.objects.create(tenant=tenant, name="bot")
    with FakeHookHTTP({"answer": ORDER_ANSWER}) as orders:
        BusinessHook.objects.create(tenant=tenant, name="orders", url=f"{orders.url}/lookup", secret="hook-secret")
        ask(tenant, "我的订单到哪了?")
        assert orders.requests == []


@pytest.mark.parametrize("transport", ["http", "grpc"])
def test_a_hook_whose_name_resolves_to_a_private_address_is_not_called(settings, transport):
    settings.KEFU_OUTBOUND_ALLOWLIST = []
    tenant = TenantFactory()
    Bot.objects.create(tenant=tenant, name="bot")
    fake = FakeHookHTTP({"answer": ORDER_ANSWER}) if transport == "http" else FakeHookGRPC({"answer": ORDER_ANSWER})
    with fake:
        url = f"http://localhost:{fake.port}/lookup" if transport == "http" else f"localhost:{fake.port}"
        BusinessHook.objects.create(tenant=tenant, name="orders", transport=transport, url=url, secret="hook-secret")
        reply = ask(tenant, "我的订单到哪了?")
        assert fake.calls == []
    assert reply is None or reply.metadata.get("provider") != "hook:orders"


@pytest.mark.parametrize("transport", ["http", "grpc"])
def test_a_hook_whose_dns_answer_changes_after_the_check_reaches_nothing(settings, monkeypatch, transport):
    """DNS rebinding: the first answer is an allowed address where nothing listens, later
    ones the order system on 127.0.0.1. A check followed by a second lookup to connect
    would reach it; the guarded client dials the address it checked."""
    settings.KEFU_OUTBOUND_ALLOWLIST = ["127.0.0.2"]
    real_getaddrinfo = socket.getaddrinfo
    answers = iter(["127.0.0.2"])

    def rebinding(host, port, *args, **kwargs):
        if host != "orders.rebind.test":
            return real_getaddrinfo(host, port, *args, **kwargs)
        address = next(answers, "127.0.0.1")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port or 80)))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    tenant = TenantFactory()
    Bot.objects.create(tenant=tenant, name="bot")
    fake = FakeHookHTTP({"answer": ORDER_ANSWER}) if transport == "http" else FakeHookGRPC({"answer": ORDER_ANSWER})
    with fake:
        host = f"orders.rebind.test:{fake.port}"
        url = f"http://{host}/lookup" if transport == "http" else host
        BusinessHook.objects.create(
            tenant=tenant, name="orders", transport=transport, url=url, secret="hook-secret", timeout_ms=500
        )
        ask(tenant, "我的订单到哪了?")
        assert fake.calls == []


def test_a_hook_redirect_to_loopback_is_not_followed(settings):
    settings.KEFU_OUTBOUND_ALLOWLIST = ["localhost"]  # the hook's host is allowed, 127.0.0.1 is not
    tenant = TenantFactory()
    Bot.objects.create(tenant=tenant, name="bot")
    with FakeHookHTTP({"answer": ORDER_ANSWER}) as orders, FakeRedirect(f"{orders.url}/lookup") as hop:
        BusinessHook.objects.create(
            tenant=tenant, name="orders", url=f"http://localhost:{hop.port}/lookup", secret="hook-secret"
        )
        ask(tenant, "我的订单到哪了?")
        assert len(hop.requests) == 1
        assert orders.calls == []


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_breaker_opens_after_repeated_failures_and_alerts_once(settings):
    settings.KEFU_BREAKER_THRESHOLD = 2
    settings.KEFU_BREAKER_PAUSE = 30.0
    client = redis.Redis.from_url(settings.REDIS_URL)
    for key in client.scan_iter("kefu:cb:*"):
        client.delete(key)
    for key in client.scan_iter("kefu:alert:*"):
        client.delete(key)
    _breakers.clear()
    tenant = TenantFactory()
    with FakeOpenAI(Behaviour(fail_status=500)) as broken, FakeWebhooks() as hooks:
        AlertChannel.objects.create(tenant=tenant, name="ops", kind="generic", url=f"{hooks.url}/generic")
        Bot.objects.create(
            tenant=tenant, name="bot", provider=ProviderKind.OPENAI, base_url=f"{broken.url}/v1", model="m"
        )
        for i in range(4):
            ask(tenant, f"问题 {i}")
        calls_to_provider = len(broken.requests)
        deadline = time.monotonic() + 5
        while not hooks.requests and time.monotonic() < deadline:
            time.sleep(0.05)
        alerts = [r.json() for r in hooks.requests]
    assert calls_to_provider == 2  # then the breaker fails fast without calling out
    assert len(alerts) == 1 and "opened" in str(alerts[0])


# --- a FastGPT dataset searched alongside the local knowledge base ---------------------------

DATASET_SOURCE = f"fastgpt:{DATASET_ID}"


def fastgpt_bot(tenant, server, **fields):
    values = {
        "tenant": tenant,
        "name": "bot",
        "provider": ProviderKind.FASTGPT,
        "base_url": f"{server.url}/api/v1",
        "api_key": "fastgpt-test",
        "extra": {"dataset_id": DATASET_ID},
    }
    values.update(fields)
    return Bot.objects.create(**values)


def _searches(server):
    return [r for r in server.requests if r.path == "/api/core/dataset/searchTest"]


def _chats(server):
    return [r for r in server.requests if r.path == "/api/v1/chat/completions"]


def test_dataset_passages_ground_the_answer_and_are_stored_with_scores_and_names():
    tenant = TenantFactory()
    with FakeFastGPT(Behaviour(api_key="fastgpt-test")) as server:
        fastgpt_bot(tenant, server)
        reply = ask(tenant, "How long do refunds take?")
    assert reply.body == "Your order shipped yesterday." and reply.metadata["provider"].endswith(":fastgpt:primary")
    assert _searches(server)[0].json()["text"] == "How long do refunds take?"
    prompt = _chats(server)[0].json()["variables"]["kefu_system_prompt"]
    assert "[1] refunds-faq.csv: How long do refunds take?\nRefunds reach the card in 5 working days." in prompt
    assert "[2] 售后手册.pdf: 退货政策" in prompt and "shipping.md" not in prompt  # under the similarity floor
    assert {"source": DATASET_SOURCE, "score": 0.91, "passages": 2} in reply.metadata["candidates"]
    sources = reply.metadata["sources"]
    assert [(s["type"], s["title"], s["score"]) for s in sources] == [
        ("fastgpt", "refunds-faq.csv", 0.91),
        ("fastgpt", "售后手册.pdf", 0.82),
    ]


def test_a_backup_fastgpt_dataset_grounds_the_primary_model_next_to_the_local_knowledge_base():
    tenant = TenantFactory()
    kb = knowledge_base_create(tenant=tenant, name="kb")
    faq_create(knowledge_base=kb, question="退款多久到账?", answer="退款 3 个工作日内原路退回。")
    with FakeFastGPT() as fastgpt, FakeOpenAI() as openai:
        backup = fastgpt_bot(tenant, fastgpt, name="fastgpt backup", enabled=False)
        Bot.objects.create(
            tenant=tenant,
            name="bot",
            provider=ProviderKind.OPENAI,
            base_url=f"{openai.url}/v1",
            model="m",
            backup=backup,
            faq_direct_threshold=1.0,
        )
        reply = ask(tenant, "退款一般多久能到账呢?")
    assert reply.metadata["provider"].endswith(":openai:primary") and _chats(fastgpt) == []
    system = openai.requests[0].json()["messages"][0]
    assert system["role"] == "system"
    assert "退款 3 个工作日内原路退回" in system["content"] and "refunds-faq.csv: How long" in system["content"]
    candidates = {c["source"]: c for c in reply.metadata["candidates"]}
    assert candidates.keys() == {"kb", DATASET_SOURCE} and candidates["kb"]["matched"]
    assert [s["type"] for s in reply.metadata["sources"]][:2] == ["faq", "fastgpt"]


def test_a_failing_dataset_search_costs_only_its_passages():
    tenant = TenantFactory()
    server = FakeFastGPT()
    server.search_failure = {"code": 500, "message": "vector store unavailable"}
    with server:
        fastgpt_bot(tenant, server)
        reply = ask(tenant, "How long do refunds take?")
    assert reply.body == "Your order shipped yesterday."
    assert {"source": DATASET_SOURCE, "status": "error"} in reply.metadata["candidates"]
    assert reply.metadata["sources"] == []
    assert "kefu_system_prompt" not in _chats(server)[0].json()["variables"]


def test_a_slow_dataset_search_is_skipped_at_the_sources_deadline():
    tenant = TenantFactory()
    server = FakeFastGPT()
    server.search_delay = 5.0
    with server:
        fastgpt_bot(tenant, server)
        started = time.monotonic()
        reply = ask(tenant, "How long do refunds take?")
        elapsed = time.monotonic() - started
    assert reply.body == "Your order shipped yesterday."
    assert {"source": DATASET_SOURCE, "status": "timeout"} in reply.metadata["candidates"]
    # The default sources deadline is 1.5 s; the search would have taken 5.
    assert 1.4 <= elapsed < 4.0
