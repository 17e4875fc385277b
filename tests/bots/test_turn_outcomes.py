"""No bot turn ends without an outcome, and one tenant's hooks cannot starve another's turns (issue 13, item 4)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest

from bots import runtime
from bots.knowledge.services import faq_create, knowledge_base_create
from bots.models import Bot, BotTurn, BusinessHook, TurnStatus
from bots.pipeline import turn_run
from kefu.models import Message, SenderType, Status
from kefu.services.conversations import conversation_open
from kefu.services.messages import message_send
from tests.factories import TenantFactory, VisitorFactory
from tests.fakes.hook_server import FakeHookHTTP
from tests.worker import running_worker

APOLOGY = "Sorry, I cannot answer right now. A human agent will help you shortly."


@pytest.fixture
def tenant_with_faq():
    tenant = TenantFactory()
    kb = knowledge_base_create(tenant=tenant, name="FAQ")
    faq_create(knowledge_base=kb, question="支持哪些支付方式?", answer="支持微信支付和支付宝。")
    Bot.objects.create(tenant=tenant, name="local")
    return tenant


def _turn_for(tenant, text: str) -> tuple[BotTurn, object]:
    """A stored visitor message and its pending turn, not yet run (in a test transaction
    the after-commit signal that would run it never fires)."""
    conv, _ = conversation_open(tenant=tenant, visitor=VisitorFactory(tenant=tenant))
    message = message_send(conversation=conv, sender_type=SenderType.VISITOR, body=text).message
    turn = BotTurn.objects.create(tenant=tenant, conversation=conv, bot=Bot.objects.get(tenant=tenant), trigger=message)
    return turn, conv


@pytest.mark.django_db
def test_a_saturated_bot_loop_ends_the_turn_with_a_handoff_not_a_running_turn(tenant_with_faq, settings):
    settings.KEFU_OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    settings.KEFU_BOT_TURN_DEADLINE = 0.5
    with FakeHookHTTP({"answer": {"answer": "x", "score": 0.1}}) as hooks:
        BusinessHook.objects.create(tenant=tenant_with_faq, name="orders", url=f"{hooks.url}/h", secret="hook-secret")
        turn, conv = _turn_for(tenant_with_faq, "支持哪些支付方式?")
        # The bot loop is busy with something else for longer than the turn may take
        # (as with thousands of hook calls at once): the turn cannot get onto it.
        blocker = threading.Event()
        runtime.bot_loop().call_soon_threadsafe(blocker.wait, 30)
        try:
            status = turn_run(turn_id=turn.pk)
        finally:
            blocker.set()
    turn.refresh_from_db()
    conv.refresh_from_db()
    assert status == TurnStatus.HANDOFF == turn.status
    assert turn.provider == "rescue" and "TimeoutError" in turn.error
    assert conv.status == Status.QUEUED
    assert Message.objects.filter(conversation=conv, sender_type=SenderType.BOT, body=APOLOGY).exists()


@pytest.mark.django_db
def test_a_turn_still_queued_past_its_deadline_is_handed_off(tenant_with_faq, settings):
    settings.KEFU_BOT_TURN_DEADLINE = 30
    turn, conv = _turn_for(tenant_with_faq, "支持哪些支付方式?")
    Message.objects.filter(pk=turn.trigger_id).update(created_at=turn.trigger.created_at - timedelta(seconds=31))
    assert turn_run(turn_id=turn.pk) == TurnStatus.HANDOFF
    conv.refresh_from_db()
    assert conv.status == Status.QUEUED
    assert "not started within 30s" in BotTurn.objects.get(pk=turn.pk).error


def _wait_for(predicate, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    return predicate()


@pytest.mark.redis
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_one_tenants_hanging_hooks_do_not_starve_another_tenants_turns(settings):
    settings.KEFU_TASKS_MODE = "celery"
    noisy = TenantFactory()
    Bot.objects.create(tenant=noisy, name="noisy")
    quiet = TenantFactory()
    kb = knowledge_base_create(tenant=quiet, name="FAQ")
    faq_create(knowledge_base=kb, question="支持哪些支付方式?", answer="支持微信支付和支付宝。")
    Bot.objects.create(tenant=quiet, name="quiet")
    with (
        FakeHookHTTP({"answer": {"answer": "稍等", "score": 0.1}}) as hooks,
        running_worker(
            concurrency=4,
            KEFU_OUTBOUND_ALLOWLIST="127.0.0.1",
            KEFU_BOT_TURNS_PER_TENANT="2",
            KEFU_HOOK_CALLS_PER_TENANT="2",
        ),
    ):
        hooks.hook.hold = threading.Event()  # the noisy tenant's business system hangs
        for name in ("a", "b", "c"):
            BusinessHook.objects.create(tenant=noisy, name=name, url=f"{hooks.url}/{name}", secret="hook-secret")
        try:
            noisy_turns = []
            for i in range(12):
                conv, _ = conversation_open(tenant=noisy, visitor=VisitorFactory(tenant=noisy))
                noisy_turns.append(message_send(conversation=conv, sender_type=SenderType.VISITOR, body=f"订单 {i}"))
            conv, _ = conversation_open(tenant=quiet, visitor=VisitorFactory(tenant=quiet))
            message_send(conversation=conv, sender_type=SenderType.VISITOR, body="支持哪些支付方式?")
            answered = _wait_for(
                lambda: Message.objects.filter(conversation=conv, sender_type=SenderType.BOT).first(), 30
            )
            noisy_done = BotTurn.objects.filter(tenant=noisy, status__in=[TurnStatus.DONE, TurnStatus.HANDOFF]).count()
            calls_meanwhile = len(hooks.calls)
        finally:
            hooks.hook.hold.set()
        # Every noisy turn still ends with an outcome once its hooks answer.
        finished = _wait_for(
            lambda: (
                BotTurn.objects.filter(tenant=noisy, status__in=[TurnStatus.DONE, TurnStatus.HANDOFF]).count() == 12
            ),
            60,
        )
    assert answered is not None and answered.body == "支持微信支付和支付宝。"
    # The quiet tenant was answered while the noisy one's turns were still waiting on
    # their hooks (before the bounds, 4 threads served the 12 noisy turns first).
    assert noisy_done < 4, noisy_done
    # Its hooks were asked (their calls held) while the quiet tenant was answered.
    assert calls_meanwhile >= 1
    assert finished
    assert not BotTurn.objects.filter(status__in=[TurnStatus.PENDING, TurnStatus.RUNNING]).exists()
