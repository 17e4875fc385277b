"""A real Celery worker answers a visitor through the broker; killing it mid-turn loses nothing."""

from __future__ import annotations

import time

import pytest

from bots.models import Bot, BotTurn, ProviderKind, TurnStatus
from kefu.models import Message, SenderType
from kefu.services.conversations import conversation_open
from kefu.services.messages import message_send
from tests.factories import TenantFactory, VisitorFactory
from tests.fakes.http import Behaviour
from tests.fakes.openai_server import FakeOpenAI
from tests.worker import running_worker

pytestmark = [pytest.mark.redis, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _wait_for(predicate, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    return predicate()


def test_worker_streams_an_openai_answer_and_stores_it_once(settings):
    settings.KEFU_TASKS_MODE = "celery"
    with (
        FakeOpenAI(Behaviour(chunks=["您好", ",我是", "机器人。"])) as fake,
        running_worker(KEFU_OUTBOUND_ALLOWLIST="127.0.0.1") as worker,
    ):
        tenant = TenantFactory()
        Bot.objects.create(
            tenant=tenant, name="GPT", provider=ProviderKind.OPENAI, base_url=f"{fake.url}/v1", model="m"
        )
        conv, _ = conversation_open(tenant=tenant, visitor=VisitorFactory(tenant=tenant))
        trigger = message_send(conversation=conv, sender_type=SenderType.VISITOR, body="你好,你是谁?").message
        reply = _wait_for(lambda: Message.objects.filter(conversation=conv, sender_type=SenderType.BOT).first())
        # The worker loads the retrieval dictionaries at start, not on a visitor's first question.
        warmed = _wait_for(lambda: b"retrieval dictionaries loaded" in worker.log_path.read_bytes())
    assert reply is not None and reply.body == "您好,我是机器人。"
    turn = BotTurn.objects.get(trigger=trigger)
    assert turn.status == TurnStatus.DONE and turn.attempts == 1
    assert warmed


def test_a_turn_interrupted_by_a_dead_worker_is_resumed_without_duplicates(settings):
    settings.KEFU_TASKS_MODE = "celery"
    # The first worker is killed while the provider is still "thinking".
    with FakeOpenAI(Behaviour(chunks=["第一", "条"], first_token_delay=3.0)) as fake:
        tenant = TenantFactory()
        Bot.objects.create(
            tenant=tenant, name="GPT", provider=ProviderKind.OPENAI, base_url=f"{fake.url}/v1", model="m"
        )
        with running_worker(KEFU_OUTBOUND_ALLOWLIST="127.0.0.1", KEFU_BOT_FIRST_TOKEN_TIMEOUT="10") as worker:
            conv, _ = conversation_open(tenant=tenant, visitor=VisitorFactory(tenant=tenant))
            trigger = message_send(conversation=conv, sender_type=SenderType.VISITOR, body="在吗").message
            assert _wait_for(lambda: BotTurn.objects.filter(trigger=trigger, status=TurnStatus.RUNNING).exists(), 20)
            worker.kill()
        assert not Message.objects.filter(conversation=conv, sender_type=SenderType.BOT).exists()
        # The worker died mid-turn; the turn is still RUNNING in the database.
        fake.behaviour.first_token_delay = 0.0
        from bots.tasks import turns_resume_stale_task

        with running_worker(KEFU_OUTBOUND_ALLOWLIST="127.0.0.1"):
            turns_resume_stale_task.delay(older_than_seconds=0)
            assert _wait_for(lambda: BotTurn.objects.filter(trigger=trigger, status=TurnStatus.DONE).exists(), 30)
            time.sleep(1.0)  # let any redelivered copy finish too
    replies = list(Message.objects.filter(conversation=conv, sender_type=SenderType.BOT))
    assert [r.body for r in replies] == ["第一条"]
