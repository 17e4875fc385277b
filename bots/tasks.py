"""Celery entry points of the bots: ids in, one service call, transient errors retried."""

from __future__ import annotations

import logging
import random
import time

from django.conf import settings

from kefu.celery import app
from kefu.tasking import KefuTask

logger = logging.getLogger(__name__)


@app.task(name="bots.turn_run", acks_late=True, max_retries=2, default_retry_delay=1)
def turn_run_task(turn_id: int) -> str:
    from bots.pipeline import DEFERRED, turn_run

    status = turn_run(turn_id=turn_id)
    if status == DEFERRED:
        # The tenant has its share of this worker's turns running: back on the queue, so
        # this thread serves other tenants meanwhile. The turn's deadline ends the wait.
        delay = 0.2 + random.random() * 0.3
        if settings.KEFU_TASKS_MODE != "celery":
            time.sleep(delay)  # the in-process pool has no countdown
        turn_run_task.apply_async((turn_id,), countdown=delay)
    return status


@app.task(name="bots.turns_resume_stale")
def turns_resume_stale_task(older_than_seconds: int = 180) -> int:
    """Re-run turns whose worker died mid-way; the reply's client id keeps it single."""
    from datetime import timedelta

    from django.utils import timezone

    from bots.models import BotTurn, TurnStatus

    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    stale = list(
        BotTurn.objects.filter(
            status__in=[TurnStatus.PENDING, TurnStatus.RUNNING], created_at__lt=cutoff, attempts__lt=3
        ).values_list("pk", flat=True)[:200]
    )
    for turn_id in stale:
        turn_run_task.delay(turn_id)
    return len(stale)


@app.task(name="bots.conversation_summarize", acks_late=True)
def conversation_summarize_task(conversation_id: int, trigger: str) -> str:
    """An internal note summarising the conversation for the next agent (transfer, close)."""
    from bots.assist import conversation_summary
    from kefu import system_texts
    from kefu.models import Conversation, Message, SenderType
    from kefu.services.messages import message_send

    conversation = Conversation.objects.filter(pk=conversation_id).first()
    if conversation is None:
        return "missing"
    summary, provider = conversation_summary(conversation)
    if not summary:
        return "empty"
    # One summary per event, and none that repeats the last one (a close right after a
    # transfer, or a handoff note, has nothing new to say).
    previous = (
        Message.objects.filter(conversation=conversation, is_internal=True, metadata__params__has_key="summary")
        .order_by("-seq")
        .values_list("metadata", flat=True)
        .first()
    )
    if previous is not None and previous["params"]["summary"].strip() == summary.strip():
        return "unchanged"
    last_seq = Message.objects.filter(conversation=conversation).order_by("-seq").values_list("seq", flat=True).first()
    code = f"summary_{trigger}" if f"summary_{trigger}" in system_texts.TEXTS else "summary_transferred"
    params = {"summary": summary}
    message_send(
        conversation=conversation,
        sender_type=SenderType.SYSTEM,
        is_internal=True,
        body=system_texts.render(code, params),
        # One summary per trigger event: a re-run of the task stores nothing new.
        client_msg_id=f"summary-{trigger}-{last_seq}",
        metadata=system_texts.metadata(code, params, event="summary", trigger=trigger, provider=provider),
    )
    return "stored"


@app.task(name="bots.hooks_on_close", acks_late=True, bind=True, max_retries=3, default_retry_delay=5)
def hooks_on_close_task(self: KefuTask, conversation_id: int) -> list[str]:
    """Tell the tenant's on-close hooks; a fail-closed one that failed is asked again."""
    from bots.hooks.points import notify_close

    failed = notify_close(conversation_id)
    retries_left = self.max_retries is not None and self.request.retries < self.max_retries
    if failed and retries_left and settings.KEFU_TASKS_MODE == "celery":
        raise self.retry()
    return failed
