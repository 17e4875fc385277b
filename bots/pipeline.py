"""One bot turn, end to end: load, filter, answer (streamed), store, or hand off.

Runs in a worker thread. Database work happens here, synchronously; the streaming part
runs on the shared bot loop (bots.runtime). The stored reply carries the client message
id `bot-turn-<id>`, so a task that is run twice stores one reply.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from django.conf import settings
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from bots import runtime
from bots.context import context_for_prompt
from bots.engine import HookSpec, KbResult, TurnOutcome, TurnPlan, answer_turn, gather_hooks
from bots.handoff import handoff_to_human
from bots.interface import BotRequest, ProviderConfig, Timeouts
from bots.models import Bot, BotTurn, BusinessHook, ConversationBotState, ProviderKind, TurnStatus
from bots.providers.base import Provider, build_provider
from bots.streaming import DeltaPublisher
from bots.turn_filters import TurnFilters
from kefu import events
from kefu.models import Conversation, SenderType, Status
from kefu.payloads import message_payload
from kefu.services.messages import message_send

logger = logging.getLogger(__name__)

TURN_TIMEOUT = 120.0


def bot_for_conversation(conversation: Conversation) -> Bot | None:
    return (
        Bot.objects.filter(tenant_id=conversation.tenant_id, enabled=True, channel=conversation.channel)
        .select_related("backup", "tenant")
        .first()
    )


def provider_config(bot: Bot, role: str) -> ProviderConfig:
    return ProviderConfig(
        kind=bot.provider, base_url=bot.base_url, api_key=bot.api_key, model=bot.model,
        temperature=bot.temperature, max_tokens=bot.max_tokens, system_prompt=bot.system_prompt,
        extra=dict(bot.extra or {}), timeouts=Timeouts(**getattr(settings, "KEFU_BOT_TIMEOUTS", {})),
        name=f"t{bot.tenant_id}:bot{bot.pk}:{bot.provider}:{role}",
    )


_providers: dict[str, Provider] = {}
_PROVIDER_CACHE_SIZE = 512


def _provider(config: ProviderConfig) -> Provider:
    """Providers (and their SDK clients) are reused across turns while the config is the same."""
    key = repr(config)
    provider = _providers.get(key)
    if provider is None:
        if len(_providers) >= _PROVIDER_CACHE_SIZE:
            _providers.pop(next(iter(_providers)))
        provider = _providers[key] = build_provider(config)
    return provider


def _chain(bot: Bot) -> list[Provider]:
    steps: list[Provider] = []
    for role, candidate in (("primary", bot), ("backup", bot.backup)):
        if candidate is None or candidate.provider == ProviderKind.LOCAL:
            continue
        if candidate.tenant_id != bot.tenant_id:
            continue
        guard_url(candidate.base_url)
        steps.append(_provider(provider_config(candidate, role)))
    return steps


def guard_url(url: str) -> None:
    """Tenant-chosen URLs may not reach private networks unless the operator allows it."""
    if not url:
        return
    from bots.netguard import check_url

    check_url(url, allowlist=settings.KEFU_OUTBOUND_ALLOWLIST)


def _kb_lookup(bot: Bot, question: str) -> KbResult | None:
    from bots.knowledge.answer import kb_answer
    from bots.knowledge.models import KnowledgeBase

    # A bot with no knowledge base of its own draws on all of the tenant's.
    kb_ids = list(bot.knowledge_bases.values_list("pk", flat=True)) or list(
        KnowledgeBase.objects.filter(tenant_id=bot.tenant_id).values_list("pk", flat=True)
    )
    if not kb_ids:
        return None
    try:
        result = kb_answer(tenant=bot.tenant, knowledge_base_ids=kb_ids, question=question)
    except Exception:  # retrieval trouble must not cost the visitor the provider's answer
        logger.exception("knowledge-base lookup failed for bot %s", bot.pk)
        return None
    return KbResult(text=result.text, sources=list(result.sources), confidence=float(result.confidence),
                    matched=bool(result.matched))


def _breaker() -> Any:
    if not settings.REDIS_URL:
        return None
    from bots.alerts_hub import breaker_for_workers

    return breaker_for_workers()


def _store_reply(turn: BotTurn, conversation: Conversation, outcome: TurnOutcome, text: str, model: str) -> Any:
    metadata = {
        "provider": outcome.provider, "model": model, "latency_ms": round(outcome.latency_ms, 1),
        "first_token_ms": round(outcome.first_token_ms, 1) if outcome.first_token_ms is not None else None,
        "tokens": {"prompt": outcome.usage.prompt_tokens, "completion": outcome.usage.completion_tokens,
                   "total": outcome.usage.total_tokens},
        "sources": outcome.sources[:5], "candidates": outcome.candidates,
        "confidence": outcome.confidence, "bot_id": turn.bot_id,
    }
    if outcome.quick_replies:
        metadata["quick_replies"] = outcome.quick_replies[:6]
    result = message_send(
        conversation=conversation, sender_type=SenderType.BOT, body=text,
        client_msg_id=f"bot-turn-{turn.pk}", metadata=metadata,
    )
    return result.message


def turn_run(*, turn_id: int) -> str:
    """Answer one visitor message. Returns the final turn status (for tests and logs)."""
    turn = (
        BotTurn.objects.select_related("conversation__visitor", "trigger", "bot__tenant", "bot__backup")
        .filter(pk=turn_id)
        .first()
    )
    if turn is None:
        logger.warning("bot turn %s is gone", turn_id)
        return "missing"
    if turn.status in (TurnStatus.DONE, TurnStatus.HANDOFF):
        return turn.status
    BotTurn.objects.filter(pk=turn.pk).update(
        status=TurnStatus.RUNNING, attempts=F("attempts") + 1, started_at=timezone.now()
    )
    conversation = turn.conversation
    bot = turn.bot or bot_for_conversation(conversation)
    if conversation.status != Status.BOT or bot is None:
        return _finish(turn, TurnStatus.DONE, provider="skipped")
    state, _created = ConversationBotState.objects.get_or_create(conversation=conversation)

    filters = TurnFilters.for_bot(bot)
    incoming = filters.inbound(turn.trigger.body)
    if incoming.intent in ("human_request", "complaint"):
        reason = "requested" if incoming.intent == "human_request" else "complaint"
        handoff_to_human(conversation=conversation, reason=reason,
                         apology=_("Sure, I am connecting you to a human agent now."))
        return _finish(turn, TurnStatus.HANDOFF, provider=f"intent:{incoming.intent}")

    request = BotRequest(
        question=incoming.provider_text,
        conversation_key=f"t{conversation.tenant_id}-c{conversation.pk}",
        visitor_id=str(conversation.visitor_id),
        history=context_for_prompt(
            conversation_id=conversation.pk, up_to_seq=turn.trigger.seq - 1, limit=bot.history_messages
        ),
        system_prompt=bot.system_prompt,
        provider_state=dict(state.provider_state),
        language=incoming.language,
        deadline=time.monotonic() + TURN_TIMEOUT,
    )
    try:
        chain = _chain(bot)
    except Exception as exc:  # a misconfigured or forbidden provider: fall back to the knowledge base
        logger.warning("bot %s provider unusable: %s", bot.pk, exc)
        chain = []
    hooks = [
        HookSpec(name=h.name, url=h.url, secret=h.secret, timeout=h.timeout_ms / 1000, keywords=tuple(h.keywords or ()))
        for h in BusinessHook.objects.filter(tenant_id=bot.tenant_id, enabled=True)
    ]
    plan = TurnPlan(
        request=request, chain=chain, hooks=hooks,
        hook_payload={"question": turn.trigger.body, "conversation_id": conversation.pk,
                      "visitor": _visitor_identity(conversation)} if hooks else {},
        faq_direct_threshold=bot.faq_direct_threshold, breaker=_breaker(), hook_guard=guard_url,
    )
    publisher = DeltaPublisher(conversation_id=conversation.pk, output_filter=filters.stream_filter)
    started = time.monotonic()
    # Business hooks run on the bot loop while this thread searches the knowledge base.
    hooks_future = asyncio.run_coroutine_threadsafe(gather_hooks(plan), runtime.bot_loop())
    kb = _kb_lookup(bot, incoming.provider_text)
    hook_results = hooks_future.result(timeout=plan.sources_deadline + 1)
    outcome = runtime.run_on_bot_loop(
        answer_turn(plan, publisher, kb=kb, hooks=hook_results, started=started), timeout=TURN_TIMEOUT + 10
    )

    if outcome.handoff_reason or (not outcome.text.strip()):
        handoff_to_human(conversation=conversation, reason="failure",
                         apology=_("Sorry, I cannot answer right now. A human agent will help you shortly."))
        return _finish(turn, TurnStatus.HANDOFF, provider=outcome.provider or "none",
                       error="; ".join(outcome.errors)[:2000], flagged=outcome.partial)

    text = filters.outbound(outcome.text)
    models = {provider.name: provider.config.model for provider in chain}
    message = _store_reply(turn, conversation, outcome, text, models.get(outcome.provider, ""))
    events.broadcast([events.conversation_group(conversation.pk)], publisher.done_event(message_payload(message)))
    unsure = not outcome.matched
    streak = state.unsure_streak + 1 if unsure else 0
    ConversationBotState.objects.filter(pk=state.pk).update(
        unsure_streak=streak, provider_state=outcome.provider_state or state.provider_state
    )
    if unsure and streak >= bot.unsure_handoff_after:
        ConversationBotState.objects.filter(pk=state.pk).update(unsure_streak=0)
        handoff_to_human(conversation=conversation, reason="unsure")
        return _finish(turn, TurnStatus.HANDOFF, provider=outcome.provider, flagged=outcome.partial, reply=message)
    return _finish(turn, TurnStatus.DONE, provider=outcome.provider, error="; ".join(outcome.errors)[:2000],
                   flagged=outcome.partial, reply=message)


def _visitor_identity(conversation: Conversation) -> dict[str, Any]:
    visitor = conversation.visitor
    return {
        "id": visitor.pk, "verified": visitor.identity_verified,
        "external_id": visitor.external_id if visitor.identity_verified else None,
        "name": visitor.name, "email": visitor.email,
    }


def _finish(
    turn: BotTurn, status: str, *, provider: str = "", error: str = "", flagged: bool = False, reply: Any = None
) -> str:
    fields: dict[str, Any] = {"reply": reply} if reply is not None else {}
    BotTurn.objects.filter(pk=turn.pk).update(
        status=status, provider=provider[:40], error=error, flagged=flagged, finished_at=timezone.now(), **fields
    )
    return status
