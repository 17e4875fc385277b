"""The hook points outside a bot turn: before assignment (a routing pass) and on close.

Both read the tenant's hooks from the pipeline's per-process copy of its configuration,
so a tenant without such hooks costs nothing more than that lookup.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.core.cache import cache

from bots import runtime
from bots.hooks.runner import call_hook, choose_assignee, hooks_for
from bots.hooks.spec import Action, HookCall, HookPoint, HookSpec

logger = logging.getLogger(__name__)

ADVICE_TTL = 600  # a conversation's advice is asked once, not on every routing pass
ADVICE_BATCH = 50  # conversations asked per routing pass (the rest on the next pass)


def _hooks(tenant_id: int, point: str) -> list[HookSpec]:
    from bots.pipeline import tenant_bots

    # Tenant-wide hooks only: a queued or closed conversation is no longer the bot's.
    return [spec for spec in hooks_for(tenant_bots(tenant_id).hooks, point) if spec.bot_id is None]


def _visitor(conversation: Any) -> dict[str, Any]:
    from bots.pipeline import _visitor_identity

    return _visitor_identity(conversation)


def _advice_key(conversation_id: int) -> str:
    return f"bots:assign-advice:{conversation_id}"


def assignment_advisor(tenant_id: int, conversations: list[Any]) -> dict[int, dict[str, Any]]:
    """kefu.signals advisor: the before-assignment hooks' choice per queued conversation."""
    hooks = _hooks(tenant_id, HookPoint.BEFORE_ASSIGN)
    if not hooks:
        return {}
    keys = {_advice_key(conv.pk): conv for conv in conversations}
    try:
        known = cache.get_many(list(keys))
    except Exception:
        known = {}
    advice = {keys[key].pk: value for key, value in known.items() if value}
    todo = [conv for key, conv in keys.items() if key not in known][:ADVICE_BATCH]
    if not todo:
        return advice
    deadline = time.monotonic() + max(spec.timeout for spec in hooks)

    # Built here, in the thread: the visitor rows are read from the database.
    calls = [
        HookCall(
            point=HookPoint.BEFORE_ASSIGN,
            tenant_id=tenant_id,
            conversation_id=conv.pk,
            visitor=_visitor(conv),
            data={"channel": conv.channel, "priority": conv.priority, "team_id": conv.team_id},
        )
        for conv in todo
    ]

    async def ask_all() -> list[Any]:
        import asyncio

        return await asyncio.gather(*(choose_assignee(hooks, call, deadline=deadline, guard=_guard) for call in calls))

    replies = runtime.run_on_bot_loop(ask_all(), timeout=max(0.0, deadline - time.monotonic()) + 2.0)
    fresh: dict[str, Any] = {}
    for conv, reply in zip(todo, replies, strict=True):
        choice: dict[str, Any] = {}
        if reply.action == Action.BLOCK:
            choice = {"hold": True}
        elif reply.agent_id or reply.team_id:
            choice = {"agent_id": reply.agent_id, "team_id": reply.team_id}
        fresh[_advice_key(conv.pk)] = choice
        if choice:
            advice[conv.pk] = choice
    try:
        cache.set_many(fresh, ADVICE_TTL)
    except Exception:
        logger.warning("could not keep the assignment advice", exc_info=True)
    return advice


def _guard(url: str) -> None:
    from bots.pipeline import guard_url

    guard_url(url)


def notify_close(conversation_id: int) -> list[str]:
    """Tell the tenant's on-close hooks, with the transcript; returns the names that failed."""
    from kefu.models import Conversation, Message, SenderType

    conversation = Conversation.objects.select_related("visitor").filter(pk=conversation_id).first()
    if conversation is None:
        return []
    hooks = _hooks(conversation.tenant_id, HookPoint.ON_CLOSE)
    if not hooks:
        return []
    rows = list(
        Message.objects.filter(conversation_id=conversation_id, is_internal=False)
        .exclude(sender_type=SenderType.SYSTEM)
        .order_by("-seq")
        .values_list("sender_type", "body")[:50]
    )
    call = HookCall(
        point=HookPoint.ON_CLOSE,
        tenant_id=conversation.tenant_id,
        conversation_id=conversation_id,
        visitor=_visitor(conversation),
        history=[{"role": sender, "text": body} for sender, body in reversed(rows)],
        data={"closed_at": conversation.closed_at.isoformat() if conversation.closed_at else None},
    )
    deadline = time.monotonic() + max(spec.timeout for spec in hooks)

    async def tell_all() -> list[Any]:
        import asyncio

        return await asyncio.gather(*(call_hook(spec, call, deadline=deadline, guard=_guard) for spec in hooks))

    replies = runtime.run_on_bot_loop(tell_all(), timeout=max(0.0, deadline - time.monotonic()) + 2.0)
    # A fail-closed on-close hook must hear about the close: its failure is retried.
    return [spec.name for spec, reply in zip(hooks, replies, strict=True) if reply.failed and spec.fail_closed]
