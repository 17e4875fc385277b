"""AI assist for agents: reply suggestions grounded in the knowledge base, and a summary.

Suggestions come from knowledge-base retrieval on the visitor's latest question (each
with its source). When the tenant's bot has an LLM, one drafted reply grounded in the
same passages comes first, and the summary is written by the LLM; otherwise the summary
is extractive. Registered with the console from BotsConfig.ready().
"""

from __future__ import annotations

import logging
import time
from typing import Any

from bots import runtime
from bots.handoff import handoff_summary
from bots.interface import BotRequest, ChatMessage, Delta, Done, ProviderError
from bots.models import Bot, ProviderKind
from kefu.console.assist import AssistResult, AssistSource, AssistSuggestion, AssistUnavailable
from kefu.models import Conversation, Message, SenderType

logger = logging.getLogger(__name__)

ASSIST_TIMEOUT = 20.0


def _last_question(conversation: Conversation) -> str:
    return (
        Message.objects.filter(conversation=conversation, sender_type=SenderType.VISITOR, is_internal=False)
        .order_by("-seq")
        .values_list("body", flat=True)
        .first()
        or ""
    )


def _transcript(conversation: Conversation, limit: int = 30) -> list[ChatMessage]:
    rows = list(
        Message.objects.filter(
            conversation=conversation,
            is_internal=False,
            sender_type__in=[SenderType.VISITOR, SenderType.AGENT, SenderType.BOT],
        )
        .order_by("-seq")
        .values_list("sender_type", "body")[:limit]
    )
    return [
        ChatMessage(role="user" if who == SenderType.VISITOR else "assistant", content=body)
        for who, body in reversed(rows)
        if body
    ]


def _kb_suggestions(conversation: Conversation, question: str) -> list[AssistSuggestion]:
    from bots.knowledge.models import KnowledgeBase
    from bots.knowledge.search import kb_search

    kb_ids = list(KnowledgeBase.objects.filter(tenant_id=conversation.tenant_id).values_list("pk", flat=True))
    if not kb_ids or not question:
        return []
    hits = kb_search(tenant=conversation.tenant, knowledge_base_ids=kb_ids, query=question, k=3)
    suggestions = []
    for hit in hits:
        source = hit.as_source()
        suggestions.append(
            AssistSuggestion(
                text=hit.text.strip()[:1000],
                sources=[
                    AssistSource(title=str(source.get("title", "")), snippet=str(source.get("snippet", ""))[:200])
                ],
            )
        )
    return suggestions


async def _complete(bot: Bot, request: BotRequest) -> str:
    from bots.pipeline import _chain
    from bots.providers.base import stream

    parts: list[str] = []
    for provider in _chain(bot)[:1]:
        async for event in stream(provider, request):
            if isinstance(event, Delta):
                parts.append(event.text)
            elif isinstance(event, Done):
                return event.text or "".join(parts)
    return "".join(parts)


def _llm(bot: Bot, *, instruction: str, history: list[ChatMessage], question: str, key: str) -> str:
    request = BotRequest(
        question=question,
        conversation_key=key,
        visitor_id="assist",
        history=history,
        system_prompt=instruction,
        deadline=time.monotonic() + ASSIST_TIMEOUT,
    )
    try:
        return runtime.run_on_bot_loop(_complete(bot, request), timeout=ASSIST_TIMEOUT + 5).strip()
    except ProviderError as exc:
        raise AssistUnavailable(str(exc)) from exc


def assist_provider(conversation: Conversation, agent: Any) -> AssistResult | None:
    bot = Bot.objects.filter(tenant_id=conversation.tenant_id).exclude(provider=ProviderKind.LOCAL).first()
    question = _last_question(conversation)
    suggestions = _kb_suggestions(conversation, question)
    if bot is None and not suggestions:
        return None  # nothing configured for this tenant: the console says so
    summary = handoff_summary(conversation)
    provider = "knowledge-base"
    if bot is not None:
        key = f"assist-t{conversation.tenant_id}-c{conversation.pk}"
        grounding = "\n".join(f"- {s.text[:400]}" for s in suggestions)
        draft = _llm(
            bot,
            history=_transcript(conversation)[:-1],
            question=question,
            key=key,
            instruction=(
                "You draft the next reply of a customer-service agent. Be brief and polite, answer in "
                "the visitor's language, and use only facts from the reference below.\n" + grounding
            ),
        )
        if draft:
            suggestions.insert(0, AssistSuggestion(text=draft, sources=suggestions[0].sources if suggestions else []))
        summary = (
            _llm(
                bot,
                history=_transcript(conversation),
                key=key + "-summary",
                question="Summarise this conversation for a colleague in three short bullet points.",
                instruction="You summarise customer-service conversations for agents.",
            )
            or summary
        )
        provider = f"{bot.provider}:{bot.model}"
    return AssistResult(suggestions=suggestions[:4], summary=summary, provider=provider)


def conversation_summary(conversation: Conversation) -> tuple[str, str]:
    """(summary, provider): written by the tenant's LLM when there is one, else extractive."""
    bot = Bot.objects.filter(tenant_id=conversation.tenant_id).exclude(provider=ProviderKind.LOCAL).first()
    if bot is not None:
        try:
            text = _llm(
                bot,
                history=_transcript(conversation),
                key=f"summary-t{conversation.tenant_id}-c{conversation.pk}",
                question="Summarise this conversation for a colleague in three short bullet points.",
                instruction="You summarise customer-service conversations for agents.",
            )
        except AssistUnavailable:
            text = ""
        if text:
            return text, f"{bot.provider}:{bot.model}"
    return handoff_summary(conversation), "extractive"
