"""Celery entry points of the live chat: each takes ids, loads rows and calls one service."""

from __future__ import annotations

import logging

from kefu.celery import app
from kefu.models import Tenant

logger = logging.getLogger(__name__)


@app.task(name="kefu.route_tenant", ignore_result=True)
def route_tenant(tenant_id: int) -> list[int]:
    from kefu.services.routing import routing_assign_queued

    return routing_assign_queued(tenant_id=tenant_id)


@app.task(name="kefu.route_all_queues", ignore_result=True)
def route_all_queues() -> int:
    """Safety net for missed events: every tenant with someone queued is routed again."""
    from kefu.services.routing import routing_assign_queued

    tenant_ids = Tenant.objects.filter(is_active=True, conversations__status="queued").values_list("pk", flat=True)
    count = 0
    for tenant_id in set(tenant_ids):
        count += len(routing_assign_queued(tenant_id=tenant_id))
    return count


@app.task(name="kefu.reassign_unanswered", ignore_result=True)
def reassign_unanswered() -> int:
    from kefu.services.routing import routing_reassign_unanswered

    return len(routing_reassign_unanswered())


@app.task(name="kefu.close_inactive", ignore_result=True)
def close_inactive() -> int:
    from kefu.services.routing import routing_close_inactive

    return len(routing_close_inactive())


@app.task(name="kefu.presence_sweep", ignore_result=True)
def presence_sweep() -> int:
    from kefu.services.presence import presence_sweep as sweep

    return sweep()


@app.task(name="kefu.presence_check_offline", ignore_result=True)
def presence_check_offline(agent_id: int) -> bool:
    from kefu.services.presence import presence_check_offline as check

    return check(agent_id=agent_id)


@app.task(
    name="kefu.notify_offline_message",
    ignore_result=True,
    autoretry_for=(ConnectionError, TimeoutError),
    retry_backoff=True,
    max_retries=5,
)
def notify_offline_message(conversation_id: int) -> bool:
    from kefu.services.routing import routing_notify_offline

    return routing_notify_offline(conversation_id=conversation_id)


@app.task(name="kefu.webhook_deliver", ignore_result=True, acks_late=True)
def webhook_deliver(delivery_id: int) -> str | None:
    """Retries are scheduled by the service itself (it records each attempt in the row)."""
    from kefu.services.webhooks import webhook_deliver as deliver

    return deliver(delivery_id=delivery_id)


@app.task(name="kefu.webhook_sweep", ignore_result=True)
def webhook_sweep() -> int:
    from kefu.services.webhooks import webhook_sweep as sweep

    return sweep()
