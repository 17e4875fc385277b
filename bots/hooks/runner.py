"""Calling hooks: each under its own timeout, the turn's deadline and the tenant's bound.

Whatever goes wrong (refused address, timeout, waiting for a tenant slot, a status, a
reply that makes no sense) becomes a failed reply; the hook's failure mode then says
what it means: fail-open lets the message through (or gives no answer), fail-closed
blocks it with a reason. No exception leaves this module, so a hook can never leave a
turn without an outcome (issue 13, item 4).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from bots import admission
from bots.hooks.spec import Action, HookCall, HookPoint, HookReply, HookSpec, parse_reply
from bots.hooks.transport import call_transport

logger = logging.getLogger(__name__)

Guard = Callable[[str], None] | None


def _budget(spec: HookSpec, deadline: float | None) -> float:
    if deadline is None:
        return spec.timeout
    return max(0.0, min(spec.timeout, deadline - time.monotonic()))


async def call_hook(spec: HookSpec, call: HookCall, *, deadline: float | None = None, guard: Guard = None) -> HookReply:
    """One hook, its reply parsed; never raises."""
    timeout = _budget(spec, deadline)
    if timeout <= 0:
        return HookReply(name=spec.name, failed=True, error="the turn's deadline has passed")
    try:
        async with asyncio.timeout(timeout):
            # Waiting for one of the tenant's slots spends this hook's own time.
            async with admission.hook_slot(call.tenant_id, timeout):
                raw = await call_transport(spec, call, timeout, guard)
    except TimeoutError:
        logger.warning("hook %s (%s) gave no reply within %.2fs", spec.name, spec.point, timeout)
        return HookReply(name=spec.name, failed=True, error=f"no reply within {timeout:.2f}s")
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        logger.warning("hook %s (%s) failed: %s", spec.name, spec.point, exc)
        return HookReply(name=spec.name, failed=True, error=str(exc)[:300])
    reply = parse_reply(spec.name, spec.point, raw)
    if reply.failed:
        logger.warning("hook %s (%s) replied badly: %s", spec.name, spec.point, reply.error)
    return reply


def effective(spec: HookSpec, reply: HookReply) -> HookReply:
    """A failed reply as the hook's failure mode has it: allow (open) or block (closed)."""
    if not reply.failed:
        return reply
    if spec.fail_closed:
        return HookReply(name=spec.name, action=Action.BLOCK, reason="hook_unavailable", failed=True, error=reply.error)
    return HookReply(name=spec.name, action=Action.ALLOW, failed=True, error=reply.error)


def hooks_for(hooks: Sequence[HookSpec], point: str, bot_id: int | None = None) -> list[HookSpec]:
    return [spec for spec in hooks if spec.applies_to(point, bot_id)]


async def screen(
    hooks: Sequence[HookSpec], call: HookCall, *, deadline: float | None = None, guard: Guard = None
) -> HookReply:
    """message_in / before_send: the hooks in turn, each seeing the text the previous one
    masked; the first block wins. Returns allow, mask (with the final text) or block."""
    text = call.text
    masked_by: list[str] = []
    for spec in hooks:
        reply = effective(spec, await call_hook(spec, _with_text(call, text), deadline=deadline, guard=guard))
        if reply.action == Action.BLOCK:
            return reply
        if reply.action == Action.MASK:
            text = reply.text
            masked_by.append(spec.name)
    if masked_by:
        return HookReply(name=",".join(masked_by), action=Action.MASK, text=text)
    return HookReply(name="", action=Action.ALLOW, text=text)


def _with_text(call: HookCall, text: str) -> HookCall:
    if text == call.text:
        return call
    return HookCall(**{**call.__dict__, "text": text})


async def gather_answers(
    hooks: Sequence[HookSpec], call: HookCall, *, deadline: float | None = None, guard: Guard = None
) -> tuple[list[HookReply], HookReply | None]:
    """The answer point: every hook that wants the question, in parallel. Returns the
    usable answers, and a block when a fail-closed hook failed (its system is required)."""
    wanted = [spec for spec in hooks if spec.point == HookPoint.ANSWER and spec.wanted_for(call.text)]
    if not wanted:
        return [], None
    replies = await asyncio.gather(*(call_hook(spec, call, deadline=deadline, guard=guard) for spec in wanted))
    answers, blocked = [], None
    for spec, reply in zip(wanted, replies, strict=True):
        reply = effective(spec, reply)
        if reply.action == Action.BLOCK and blocked is None:
            blocked = reply
        elif not reply.failed and (reply.text or reply.cards):
            answers.append(reply)
    return answers, blocked


async def choose_assignee(
    hooks: Sequence[HookSpec], call: HookCall, *, deadline: float | None = None, guard: Guard = None
) -> HookReply:
    """before_assign: the first hook that chooses a team or agent wins; a fail-closed hook
    that failed blocks automatic assignment (the conversation waits in the queue)."""
    for spec in hooks:
        reply = effective(spec, await call_hook(spec, call, deadline=deadline, guard=guard))
        if reply.action == Action.BLOCK or reply.team_id or reply.agent_id:
            return reply
    return HookReply(name="", action=Action.ALLOW)
