"""Celery entry points of the bots: ids in, one service call, transient errors retried."""

from __future__ import annotations

import logging

from kefu.celery import app

logger = logging.getLogger(__name__)


@app.task(name="bots.turn_run", acks_late=True, max_retries=2, default_retry_delay=1)
def turn_run_task(turn_id: int) -> str:
    from bots.pipeline import turn_run

    return turn_run(turn_id=turn_id)


@app.task(name="bots.turns_resume_stale")
def turns_resume_stale_task(older_than_seconds: int = 180) -> int:
    """Re-run turns whose worker died mid-way; the reply's client id keeps it single."""
    from datetime import timedelta

    from django.utils import timezone

    from bots.models import BotTurn, TurnStatus

    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    stale = list(
        BotTurn.objects.filter(status__in=[TurnStatus.PENDING, TurnStatus.RUNNING], created_at__lt=cutoff,
                               attempts__lt=3).values_list("pk", flat=True)[:200]
    )
    for turn_id in stale:
        turn_run_task.delay(turn_id)
    return len(stale)
