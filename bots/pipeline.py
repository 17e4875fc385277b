"""One bot turn, end to end: load, filter, answer (streamed), store, or hand off.

Runs in a worker thread. Database work happens here, synchronously; the streaming part
runs on the shared bot loop (bots.runtime). The stored reply carries the client message
id `bot-turn-<id>`, so a task that is run twice stores one reply.

A tenant's bots, business hooks and knowledge-base links are read once per process and
kept until a version token in the shared cache changes (every save or delete of those
rows replaces it, see bots.receivers), so a turn runs 5 statements of its own instead
of 13 (bench.bots).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from bots import runtime
from bots.admission import turn_slots
from bots.context import context_for_prompt
from bots.engine import KbResult, TurnOutcome, TurnPlan, answer_turn, dataset_searcher, gather_hooks
from bots.handoff import handoff_to_human
from bots.hooks.runner import hooks_for, screen
from bots.hooks.spec import Action, HookCall, HookPoint, HookSpec
from bots.interface import BotRequest, MediaInput, ProviderConfig, Timeouts
from bots.media import MEDIA_KINDS, fallback_text, handoff_apology, plan_media, transcribe
from bots.models import Bot, BotTurn, BusinessHook, ConversationBotState, MediaFallback, ProviderKind, TurnStatus
from bots.providers.base import Provider, build_provider
from bots.streaming import DeltaPublisher
from bots.turn_filters import TurnFilters
from kefu import events, outbound
from kefu.fastsql import column_field
from kefu.models import Conversation, Message, SenderType, Status
from kefu.payloads import message_payload
from kefu.services.messages import message_send

logger = logging.getLogger(__name__)


def turn_deadline() -> float:
    """Seconds one turn may take from its start, whatever it waits on (KEFU_BOT_TURN_DEADLINE)."""
    return float(settings.KEFU_BOT_TURN_DEADLINE)


# --- the tenant's bot configuration, cached per process ----------------------------------

CONFIG_MAX_AGE = 300.0  # bounds staleness after writes that bypass model signals (queryset.update)
_CONFIG_TENANTS = 10_000
_VERSION_TTL = 7 * 24 * 3600


@dataclass(frozen=True)
class TenantBots:
    """What a turn needs to know about its tenant's bots. Shared across threads: read only."""

    token: str
    loaded_at: float
    bots: dict[int, Bot]  # every bot of the tenant (a backup may be disabled), backups resolved
    by_channel: dict[str, Bot]  # the enabled bot of each channel
    kb_ids: dict[int, tuple[int, ...]]  # the knowledge bases each bot draws on
    hooks: tuple[HookSpec, ...]  # the tenant's enabled business hooks


_tenant_bots: dict[int, TenantBots] = {}
_tenant_bots_lock = threading.Lock()


def _version_key(tenant_id: int) -> str:
    return f"bots:config:{tenant_id}"


def _version_token(tenant_id: int) -> str | None:
    """The tenant's current config version; None when the shared cache is unreachable."""
    key = _version_key(tenant_id)
    try:
        token = cache.get(key)
        if token is None:
            # A fresh random token, so a flushed cache can never match a stale local copy.
            cache.add(key, uuid.uuid4().hex[:16], _VERSION_TTL)
            token = cache.get(key)
    except Exception:
        logger.warning("bot config version unavailable for tenant %s", tenant_id, exc_info=True)
        return None
    return None if token is None else str(token)


def bots_changed(tenant_id: int) -> None:
    """Called on every save or delete of a tenant's bots, hooks, knowledge bases and their links.

    Now, so this connection's next turn (in the same transaction) sees the change, and
    again after commit, so no process keeps a copy read before the commit.
    """

    def bump() -> None:
        try:
            cache.set(_version_key(tenant_id), uuid.uuid4().hex[:16], _VERSION_TTL)
        except Exception:  # CONFIG_MAX_AGE still bounds staleness
            logger.warning("could not bump the bot config version of tenant %s", tenant_id, exc_info=True)

    bump()
    transaction.on_commit(bump)


def _load_tenant_bots(tenant_id: int, token: str) -> TenantBots:
    from bots.knowledge.models import KnowledgeBase

    bots = {bot.pk: bot for bot in Bot.objects.filter(tenant_id=tenant_id).select_related("tenant")}
    for bot in bots.values():
        if bot.backup_id is not None:
            # Another tenant's bot is never a backup (_chain skips it), so it is not loaded.
            Bot.backup.field.set_cached_value(bot, bots.get(bot.backup_id))
    links: dict[int, list[int]] = {}
    through = Bot.knowledge_bases.through
    pairs = (
        through.objects.filter(bot__tenant_id=tenant_id)
        .order_by("knowledgebase__name", "knowledgebase_id")
        .values_list("bot_id", "knowledgebase_id")
    )
    for bot_id, kb_id in pairs:
        links.setdefault(bot_id, []).append(kb_id)
    # A bot with no knowledge base of its own draws on all of the tenant's.
    everything = tuple(KnowledgeBase.objects.filter(tenant_id=tenant_id).values_list("pk", flat=True))
    hooks = tuple(
        HookSpec(
            name=h.name,
            url=h.url,
            secret=h.secret,
            timeout=h.timeout_ms / 1000,
            point=h.point,
            transport=h.transport,
            fail_closed=h.fail_closed,
            keywords=tuple(h.keywords or ()),
            bot_id=h.bot_id,
            hook_id=h.pk,
        )
        for h in BusinessHook.objects.filter(tenant_id=tenant_id, enabled=True)
    )
    return TenantBots(
        token=token,
        loaded_at=time.monotonic(),
        bots=bots,
        by_channel={bot.channel: bot for bot in sorted(bots.values(), key=lambda b: b.name) if bot.enabled},
        kb_ids={pk: tuple(links.get(pk, ())) or everything for pk in bots},
        hooks=hooks,
    )


def tenant_bots(tenant_id: int, *, refresh: bool = False) -> TenantBots:
    """The tenant's bot configuration: one cache read when nothing changed."""
    token = _version_token(tenant_id)
    cached = _tenant_bots.get(tenant_id)
    if (
        not refresh
        and cached is not None
        and token is not None
        and cached.token == token
        and time.monotonic() - cached.loaded_at < CONFIG_MAX_AGE
    ):
        return cached
    # Read the token before the rows: a change committed in between replaces the token
    # again, so a copy that may have missed it is never served under the new token.
    config = _load_tenant_bots(tenant_id, token or "")
    if token is not None and not connection.in_atomic_block:
        # Rows read inside a transaction may never commit: such a copy is not kept.
        with _tenant_bots_lock:
            if len(_tenant_bots) >= _CONFIG_TENANTS:
                _tenant_bots.pop(next(iter(_tenant_bots)))
            _tenant_bots[tenant_id] = config
    return config


def bot_for_conversation(conversation: Conversation) -> Bot | None:
    return tenant_bots(conversation.tenant_id).by_channel.get(conversation.channel)


def provider_config(bot: Bot, role: str) -> ProviderConfig:
    return ProviderConfig(
        kind=bot.provider,
        base_url=bot.base_url,
        api_key=bot.api_key,
        model=bot.model,
        temperature=bot.temperature,
        max_tokens=bot.max_tokens,
        system_prompt=bot.system_prompt,
        extra=dict(bot.extra or {}),
        timeouts=Timeouts(**getattr(settings, "KEFU_BOT_TIMEOUTS", {})),
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
    """Refuse a tenant-chosen URL that is unusable on its face (scheme, credentials, a private
    address literal) before building a provider. No DNS lookup here: the guarded client
    resolves and checks each connection itself (kefu.outbound)."""
    if not url:
        return
    outbound.check_url(url, allowlist=settings.KEFU_OUTBOUND_ALLOWLIST, resolve=False)


def _kb_lookup(bot: Bot, kb_ids: tuple[int, ...], question: str) -> KbResult | None:
    from bots.knowledge.answer import kb_answer

    if not kb_ids:
        return None
    try:
        result = kb_answer(tenant=bot.tenant, knowledge_base_ids=kb_ids, question=question)
    except Exception:  # retrieval trouble must not cost the visitor the provider's answer
        logger.exception("knowledge-base lookup failed for bot %s", bot.pk)
        return None
    return KbResult(
        text=result.text,
        sources=list(result.sources),
        confidence=float(result.confidence),
        matched=bool(result.matched),
        why=dict(result.why),
        suggestions=[s["title"] for s in result.suggestions],
    )


def _breaker() -> Any:
    if not settings.REDIS_URL:
        return None
    from bots.alerts_hub import breaker_for_workers

    return breaker_for_workers()


def _store_reply(turn: BotTurn, conversation: Conversation, outcome: TurnOutcome, text: str, model: str) -> Any:
    metadata = {
        "provider": outcome.provider,
        "model": model,
        "latency_ms": round(outcome.latency_ms, 1),
        "first_token_ms": round(outcome.first_token_ms, 1) if outcome.first_token_ms is not None else None,
        "tokens": {
            "prompt": outcome.usage.prompt_tokens,
            "completion": outcome.usage.completion_tokens,
            "total": outcome.usage.total_tokens,
        },
        "sources": outcome.sources[:5],
        "candidates": outcome.candidates,
        "confidence": outcome.confidence,
        "bot_id": turn.bot_id,
    }
    if outcome.quick_replies:
        metadata["quick_replies"] = outcome.quick_replies[:6]
    if outcome.cards:
        metadata["cards"] = outcome.cards
    result = message_send(
        conversation=conversation,
        sender_type=SenderType.BOT,
        body=text,
        client_msg_id=f"bot-turn-{turn.pk}",
        metadata=metadata,
    )
    return result.message


# The turn, its conversation, the visitor's message and the conversation's bot state in
# one hand-written join: the equivalent select_related query cost more CPU to compile
# (~1 ms) than to run.
_TURN_PARTS: tuple[tuple[type[Any], str], ...] = (
    (BotTurn, "t"),
    (Conversation, "c"),
    (Message, "m"),
    (ConversationBotState, "s"),
)
_Part = list[tuple[Any, Any, list[Any]]]  # (field, column expression, converters) per column
_turn_sql: dict[str, tuple[str, list[_Part]]] = {}


def _turn_query() -> tuple[str, list[_Part]]:
    """The SQL and, per part, each column's field with its converters (as the ORM applies them)."""
    cached = _turn_sql.get(connection.vendor)
    if cached is not None:
        return cached
    q = connection.ops.quote_name
    columns, converters = [], []
    for model, alias in _TURN_PARTS:
        part = []
        for field in model._meta.concrete_fields:
            columns.append(f"{alias}.{q(field.column)}")
            col = field.get_col(alias)
            part.append((field, col, connection.ops.get_db_converters(col) + col.get_db_converters(connection)))
        converters.append(part)
    turn, state = BotTurn._meta, ConversationBotState._meta
    sql = (
        f"SELECT {', '.join(columns)} FROM {q(turn.db_table)} t "  # noqa: S608
        f"JOIN {q(Conversation._meta.db_table)} c ON c.id = t.{q(turn.get_field('conversation').column)} "
        f"JOIN {q(Message._meta.db_table)} m ON m.id = t.{q(turn.get_field('trigger').column)} "
        f"LEFT JOIN {q(state.db_table)} s ON s.{q(state.get_field('conversation').column)} = c.id "
        "WHERE t.id = %s"
    )
    _turn_sql[connection.vendor] = (sql, converters)
    return sql, converters


def _load_turn(turn_id: int) -> tuple[BotTurn, Conversation, Message, ConversationBotState | None] | None:
    sql, converters = _turn_query()
    with connection.cursor() as cursor:
        cursor.execute(sql, [turn_id])
        row = cursor.fetchone()
    if row is None:
        return None
    objects: list[Any] = []
    offset = 0
    for (model, _alias), part in zip(_TURN_PARTS, converters, strict=True):
        values = list(row[offset : offset + len(part)])
        offset += len(part)
        for index, (_field, col, convs) in enumerate(part):
            for convert in convs:
                values[index] = convert(values[index], col, connection)
        # No state row yet: the LEFT JOIN gave NULLs.
        objects.append(
            None
            if values[0] is None
            else model.from_db(connection.alias, [field.attname for field, _col, _convs in part], values)
        )
    turn, conversation, trigger, state = objects
    # Wired as select_related would, so turn.conversation and friends cost no query.
    BotTurn.conversation.field.set_cached_value(turn, conversation)
    BotTurn.trigger.field.set_cached_value(turn, trigger)
    return turn, conversation, trigger, state


_STATE_COLUMNS = ("conversation", "provider_state", "unsure_streak", "updated_at")


def _save_state(
    conversation_id: int, state: ConversationBotState | None, *, streak: int, provider_state: dict[str, Any]
) -> None:
    """Insert or update the conversation's bot state in one statement, and only when it changed."""
    if state is None and streak == 0 and not provider_state:
        return  # a missing row reads as these defaults
    if state is not None and state.unsure_streak == streak and state.provider_state == provider_state:
        return
    meta = ConversationBotState._meta
    fields = [column_field(ConversationBotState, name) for name in _STATE_COLUMNS]
    values = [conversation_id, provider_state, streak, timezone.now()]
    quote = connection.ops.quote_name
    columns = [quote(field.column) for field in fields]
    updates = ", ".join(f"{column} = EXCLUDED.{column}" for column in columns[1:])
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(meta.db_table)} ({', '.join(columns)}) VALUES (%s, %s, %s, %s) "  # noqa: S608
            f"ON CONFLICT ({columns[0]}) DO UPDATE SET {updates}",
            [field.get_db_prep_save(value, connection) for field, value in zip(fields, values, strict=True)],
        )


DEFERRED = "deferred"


def turn_run(*, turn_id: int) -> str:
    """Answer one visitor message. Returns the final turn status (for tests and logs), or
    DEFERRED when the tenant already has its share of this process's turns running (the
    task puts the turn back on the queue)."""
    loaded = _load_turn(turn_id)
    if loaded is None:
        logger.warning("bot turn %s is gone", turn_id)
        return "missing"
    turn, conversation, trigger, state = loaded
    if turn.status in (TurnStatus.DONE, TurnStatus.HANDOFF, TurnStatus.FAILED):
        return turn.status
    waited = (timezone.now() - trigger.created_at).total_seconds()
    if waited > turn_deadline():
        # Deferred (or queued) past its deadline: the visitor gets a human, not silence.
        return _rescue(turn, conversation, f"not started within {turn_deadline():.0f}s")
    if not turn_slots.try_enter(conversation.tenant_id):
        return DEFERRED
    try:
        BotTurn.objects.filter(pk=turn.pk).update(
            status=TurnStatus.RUNNING, attempts=F("attempts") + 1, started_at=timezone.now()
        )
        return _answer(turn, conversation, trigger, state)
    except Exception as exc:
        # No turn may end without an outcome (issue 13, item 4): whatever broke, the
        # visitor is told and handed to a human, and the turn records why.
        logger.exception("bot turn %s failed", turn.pk)
        return _rescue(turn, conversation, f"{type(exc).__name__}: {exc}")
    finally:
        turn_slots.leave(conversation.tenant_id)


def _rescue(turn: BotTurn, conversation: Conversation, error: str) -> str:
    """The last resort of a turn: an apology and a handoff. Database trouble here raises,
    so the task is retried (acks_late) rather than acked with nothing done."""
    conversation.refresh_from_db(fields=["status", "assignee", "team", "last_seq"])
    if conversation.status == Status.BOT:
        handoff_to_human(
            conversation=conversation,
            reason="failure",
            apology="handoff_apology_failure",
        )
    return _finish(turn, TurnStatus.HANDOFF, provider="rescue", error=error[:2000])


def _history(conversation: Conversation, trigger: Message, limit: int) -> list[Any]:
    return context_for_prompt(conversation_id=conversation.pk, up_to_seq=trigger.seq - 1, limit=limit)


def _hook_call(point: str, conversation: Conversation, bot: Bot, text: str, **extra: Any) -> HookCall:
    return HookCall(
        point=point,
        tenant_id=conversation.tenant_id,
        conversation_id=conversation.pk,
        bot_id=bot.pk,
        visitor=_visitor_identity(conversation),
        text=text,
        **extra,
    )


def _run_async(coro: Any, deadline: float) -> Any:
    """Run on the bot loop, waiting no longer than the turn's deadline (plus a moment to
    finish what it was doing); the coroutine is cancelled when the deadline passes."""
    future = asyncio.run_coroutine_threadsafe(coro, runtime.bot_loop())
    try:
        return future.result(timeout=max(0.0, deadline - time.monotonic()) + 1.0)
    except BaseException:
        future.cancel()
        raise


def _media_reply(turn: BotTurn, conversation: Conversation, bot: Bot, kind: str) -> str:
    """An attachment the bot cannot read: an immediate reply, never silence."""
    if bot.media_fallback == MediaFallback.HANDOFF:
        handoff_to_human(conversation=conversation, reason="media", apology=handoff_apology(kind))
        return _finish(turn, TurnStatus.HANDOFF, provider="media:handoff")
    message = message_send(
        conversation=conversation,
        sender_type=SenderType.BOT,
        body=fallback_text(kind),
        client_msg_id=f"bot-turn-{turn.pk}",
        metadata={"event": "media_unsupported", "bot_id": bot.pk},
    ).message
    return _finish(turn, TurnStatus.DONE, provider="media:ask_text", reply=message)


def _store_transcript(trigger: Message, text: str, model: str) -> None:
    metadata = {**(trigger.metadata or {}), "transcript": text, "transcribed_by": model}
    Message.objects.filter(pk=trigger.pk).update(metadata=metadata)
    trigger.metadata = metadata
    events.broadcast(
        [events.conversation_group(trigger.conversation_id)],
        {
            "type": "kefu.message.transcript",
            "conversation_id": trigger.conversation_id,
            "message_id": trigger.pk,
            "seq": trigger.seq,
            "transcript": text,
        },
    )


def _answer(turn: BotTurn, conversation: Conversation, trigger: Message, state: ConversationBotState | None) -> str:
    deadline = time.monotonic() + turn_deadline()
    config = tenant_bots(conversation.tenant_id)
    if turn.bot_id is not None and turn.bot_id not in config.bots:
        config = tenant_bots(conversation.tenant_id, refresh=True)  # a bot newer than this copy
    bot = config.bots.get(turn.bot_id) if turn.bot_id is not None else None
    bot = bot or config.by_channel.get(conversation.channel)
    if conversation.status != Status.BOT or bot is None:
        return _finish(turn, TurnStatus.DONE, provider="skipped")

    question = trigger.body
    media: tuple[MediaInput, ...] = ()
    if trigger.kind in MEDIA_KINDS:
        media_plan = plan_media(bot, trigger)
        if media_plan.action == "fallback":
            return _media_reply(turn, conversation, bot, trigger.kind)
        if media_plan.action == "transcribe" and media_plan.transcriber is not None and media_plan.media is not None:
            speaker = media_plan.transcriber
            guard_url(speaker.base_url)
            try:
                question = _run_async(
                    transcribe(
                        provider_config(speaker, "transcription"), speaker.transcription_model, media_plan.media
                    ),
                    deadline,
                )
            except Exception as exc:
                logger.warning("transcription failed for turn %s: %s", turn.pk, exc)
                return _media_reply(turn, conversation, bot, trigger.kind)
            _store_transcript(trigger, question, speaker.transcription_model)
        elif media_plan.media is not None:
            media = (media_plan.media,)

    guard_hooks = hooks_for(config.hooks, HookPoint.MESSAGE_IN, bot.pk)
    if guard_hooks:
        verdict = _run_async(
            screen(
                guard_hooks,
                _hook_call(HookPoint.MESSAGE_IN, conversation, bot, question, sender="visitor", kind=trigger.kind),
                deadline=deadline,
                guard=guard_url,
            ),
            deadline,
        )
        if verdict.action == Action.BLOCK:
            return _blocked(turn, conversation, verdict.name, verdict.reason)
        question = verdict.text

    filters = TurnFilters.for_bot(bot)
    incoming = filters.inbound(question)
    if incoming.intent in ("human_request", "complaint"):
        reason = "requested" if incoming.intent == "human_request" else "complaint"
        handoff_to_human(conversation=conversation, reason=reason, apology="handoff_apology_requested")
        return _finish(turn, TurnStatus.HANDOFF, provider=f"intent:{incoming.intent}")

    history = _history(conversation, trigger, bot.history_messages)
    request = BotRequest(
        question=incoming.provider_text,
        conversation_key=f"t{conversation.tenant_id}-c{conversation.pk}",
        visitor_id=str(conversation.visitor_id),
        history=history,
        system_prompt=bot.system_prompt,
        provider_state=dict(state.provider_state) if state is not None else {},
        language=incoming.language,
        deadline=deadline,
        media=media,
    )
    try:
        chain = _chain(bot)
    except Exception as exc:  # a misconfigured or forbidden provider: fall back to the knowledge base
        logger.warning("bot %s provider unusable: %s", bot.pk, exc)
        chain = []
    answer_hooks = hooks_for(config.hooks, HookPoint.ANSWER, bot.pk)
    plan = TurnPlan(
        request=request,
        chain=chain,
        hooks=answer_hooks,
        # The answer hook sees the recent history as well as the question.
        hook_call=_hook_call(
            HookPoint.ANSWER,
            conversation,
            bot,
            question,
            sender="visitor",
            kind=trigger.kind,
            history=[{"role": m.role, "text": m.content} for m in history[-10:]],
        )
        if answer_hooks
        else None,
        faq_direct_threshold=bot.faq_direct_threshold,
        breaker=_breaker(),
    )
    publisher = DeltaPublisher(conversation_id=conversation.pk, output_filter=filters.stream_filter)
    started = time.monotonic()
    hooks_future = None
    if answer_hooks or dataset_searcher(plan) is not None:
        # Business hooks run on the bot loop while this thread searches the knowledge base.
        hooks_future = asyncio.run_coroutine_threadsafe(gather_hooks(plan), runtime.bot_loop())
    kb = _kb_lookup(bot, config.kb_ids.get(bot.pk, ()), incoming.provider_text) if not media else None
    hook_results = []
    if hooks_future is not None:
        try:
            hook_results = hooks_future.result(timeout=max(0.0, deadline - time.monotonic()) + 1.0)
        except concurrent.futures.TimeoutError:
            # The loop did not get to the hooks in time (it was saturated): answer without them.
            hooks_future.cancel()
            logger.warning("turn %s: business hooks did not finish by the deadline", turn.pk)
    outcome = _run_async(answer_turn(plan, publisher, kb=kb, hooks=hook_results, started=started), deadline)

    if outcome.handoff_reason or (not outcome.text.strip()):
        handoff_to_human(
            conversation=conversation,
            reason="failure",
            apology="handoff_apology_failure",
        )
        return _finish(
            turn,
            TurnStatus.HANDOFF,
            provider=outcome.provider or "none",
            error="; ".join(outcome.errors)[:2000],
            flagged=outcome.partial,
        )

    text = filters.outbound(outcome.text)
    send_hooks = hooks_for(config.hooks, HookPoint.BEFORE_SEND, bot.pk)
    if send_hooks:
        verdict = _run_async(
            screen(
                send_hooks,
                _hook_call(HookPoint.BEFORE_SEND, conversation, bot, text, sender="bot"),
                deadline=deadline,
                guard=guard_url,
            ),
            deadline,
        )
        if verdict.action == Action.BLOCK:
            # The streamed bubble is withdrawn; the visitor never keeps the blocked text.
            _run_async(publisher.failed(), deadline)
            return _blocked(turn, conversation, verdict.name, verdict.reason)
        if verdict.action == Action.MASK:
            text = verdict.text
            outcome.errors.append(f"masked by hook {verdict.name}")
    models = {provider.name: provider.config.model for provider in chain}
    message = _store_reply(turn, conversation, outcome, text, models.get(outcome.provider, ""))
    events.broadcast([events.conversation_group(conversation.pk)], publisher.done_event(message_payload(message)))
    unsure = not outcome.matched
    streak = (state.unsure_streak if state is not None else 0) + 1 if unsure else 0
    handoff = unsure and streak >= bot.unsure_handoff_after
    _save_state(
        conversation.pk,
        state,
        streak=0 if handoff else streak,
        provider_state=outcome.provider_state or (state.provider_state if state is not None else {}),
    )
    if handoff:
        handoff_to_human(conversation=conversation, reason="unsure")
        return _finish(turn, TurnStatus.HANDOFF, provider=outcome.provider, flagged=outcome.partial, reply=message)
    return _finish(
        turn,
        TurnStatus.DONE,
        provider=outcome.provider,
        error="; ".join(outcome.errors)[:2000],
        flagged=outcome.partial,
        reply=message,
    )


def _blocked(turn: BotTurn, conversation: Conversation, hook: str, reason: str) -> str:
    """A hook blocked the visitor's message or the bot's reply: say so politely, and a
    human reviews it (the reason goes to the agents' note, not to the visitor)."""
    handoff_to_human(
        conversation=conversation,
        reason="blocked",
        apology="handoff_apology_blocked",
    )
    return _finish(turn, TurnStatus.HANDOFF, provider=f"hook:{hook}"[:40], error=f"blocked: {reason}", flagged=True)


def _visitor_identity(conversation: Conversation) -> dict[str, Any]:
    visitor = conversation.visitor
    return {
        "id": visitor.pk,
        "verified": visitor.identity_verified,
        "external_id": visitor.external_id if visitor.identity_verified else None,
        "name": visitor.name,
        "email": visitor.email,
    }


def _finish(
    turn: BotTurn, status: str, *, provider: str = "", error: str = "", flagged: bool = False, reply: Any = None
) -> str:
    fields: dict[str, Any] = {"reply": reply} if reply is not None else {}
    BotTurn.objects.filter(pk=turn.pk).update(
        status=status, provider=provider[:40], error=error, flagged=flagged, finished_at=timezone.now(), **fields
    )
    return status
