"""The hybrid answer engine: several sources in parallel under a deadline, ranked, then
streamed through the provider fallback chain.

The sources: the local knowledge base (searched by the pipeline's thread), the tenant's
business hooks, and the provider-side knowledge base of the first provider in the chain
that names one (a FastGPT dataset). Hooks and that search run together on the bot loop
under `sources_deadline`; whatever has not answered by then is left out, and a failed
search only costs its passages, never the turn.

Plain objects in, plain outcome out; no ORM here. The pipeline prepares a TurnPlan in
the worker thread and this runs on the shared bot loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from bots.hooks.runner import gather_answers
from bots.hooks.spec import HookCall, HookReply, HookSpec
from bots.interface import BotRequest, Delta, Done, ProviderConfig, ProviderTimeout, Source, Usage
from bots.providers.base import Provider
from bots.providers.local import LocalProvider
from bots.resilience import FallbackChain, Handoff, Partial, RedisCircuitBreaker, Switch
from bots.streaming import DeltaPublisher

logger = logging.getLogger(__name__)

HOOK_ANSWER_SCORE = 0.8  # a business system that is this sure answers on its own
GROUNDING_PASSAGES = 4  # per source, in the prompt
PASSAGE_CHARS = 1000
SNIPPET_CHARS = 300


@dataclass(frozen=True)
class KbResult:
    text: str
    sources: list[dict[str, Any]]
    confidence: float
    matched: bool
    why: dict[str, Any] = field(default_factory=dict)  # the knowledge base's reasons (answer._explain)
    suggestions: list[str] = field(default_factory=list)  # "did you mean" FAQ questions when not sure


@dataclass(frozen=True)
class DatasetResult:
    """What a provider-side knowledge base returned (or why it did not)."""

    provider: str
    kind: str
    dataset_id: str
    passages: tuple[Source, ...] = ()
    status: str = "ok"  # ok | error | timeout | circuit_open
    error: str = ""

    @property
    def source_key(self) -> str:
        return f"{self.kind}:{self.dataset_id}"

    def candidate(self) -> dict[str, Any]:
        if self.status != "ok":
            return {"source": self.source_key, "status": self.status}
        best = max((p.score for p in self.passages if p.score is not None), default=0.0)
        return {"source": self.source_key, "score": round(best, 4), "passages": len(self.passages)}

    def as_sources(self) -> list[dict[str, Any]]:
        return [
            {
                "type": self.kind,
                "id": p.url,
                "title": p.title,
                "score": p.score,
                "snippet": p.content[:SNIPPET_CHARS],
                "dataset_id": self.dataset_id,
            }
            for p in self.passages
        ]


@dataclass
class TurnPlan:
    request: BotRequest
    chain: list[Provider]
    hooks: list[HookSpec] = field(default_factory=list)  # the answer point's hooks of this bot
    hook_call: HookCall | None = None
    faq_direct_threshold: float = 0.8
    sources_deadline: float = 1.5
    breaker: RedisCircuitBreaker | None = None
    hook_guard: Callable[[str], None] | None = None  # raises for URLs tenants may not reach
    # Filled by gather_hooks: the provider-side knowledge base's passages, and the
    # reply of a fail-closed hook that failed (its system is required: hand off).
    datasets: list[DatasetResult] = field(default_factory=list)
    hook_block: HookReply | None = None


@dataclass
class TurnOutcome:
    text: str = ""
    provider: str = ""
    sources: list[dict[str, Any]] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    quick_replies: list[str] = field(default_factory=list)
    provider_state: dict[str, Any] = field(default_factory=dict)
    confidence: float | None = None
    matched: bool = True
    partial: bool = False
    handoff_reason: str = ""
    errors: list[str] = field(default_factory=list)
    candidates: list[dict[str, Any]] = field(default_factory=list)
    latency_ms: float = 0.0
    first_token_ms: float | None = None
    cards: list[dict[str, Any]] = field(default_factory=list)


def dataset_searcher(plan: TurnPlan) -> Provider | None:
    """The first provider of the chain that names a provider-side knowledge base (the primary's when it does)."""
    # getattr: a third-party provider may be a bare object with the streaming method only.
    return next((provider for provider in plan.chain if getattr(provider, "dataset_id", "")), None)


async def search_dataset(
    provider: Provider, question: str, *, timeout: float, breaker: RedisCircuitBreaker | None = None
) -> DatasetResult:
    """Search the provider's knowledge base; any failure is an empty, labelled result."""
    result = DatasetResult(provider=provider.name, kind=provider.kind, dataset_id=provider.dataset_id)
    if breaker is not None:
        try:
            if await breaker.state(provider.name) == "open":
                return replace(result, status="circuit_open")  # the provider is known to be down
        except Exception:  # no Redis: search anyway
            logger.warning("circuit breaker state unavailable for %s", provider.name)
    try:
        passages = await provider.search_dataset(question, timeout=timeout)
    except ProviderTimeout as exc:
        return replace(result, status="timeout", error=str(exc)[:200])
    except Exception as exc:
        logger.warning("knowledge-base search of %s failed: %s", result.source_key, exc)
        return replace(result, status="error", error=str(exc)[:200])
    return replace(result, passages=tuple(passages))


async def gather_hooks(plan: TurnPlan) -> list[HookReply]:
    """Ask every business system that wants this question, and the chain's provider-side
    knowledge base, in parallel under the deadline. Returns the hooks' answers; the
    knowledge base's passages are kept on `plan.datasets`."""
    question = plan.request.question
    deadline = time.monotonic() + plan.sources_deadline
    if plan.request.deadline is not None:
        deadline = min(deadline, plan.request.deadline)
    hooks = None
    if plan.hooks and plan.hook_call is not None:
        # Each hook keeps its own timeout, bounded by the sources deadline and the turn's.
        hooks = asyncio.create_task(
            gather_answers(plan.hooks, plan.hook_call, deadline=deadline, guard=plan.hook_guard)
        )
    searcher = dataset_searcher(plan)
    search = None
    if searcher is not None:
        search = asyncio.create_task(
            search_dataset(searcher, question, timeout=plan.sources_deadline, breaker=plan.breaker)
        )
    if hooks is None and search is None:
        return []
    tasks = [task for task in (hooks, search) if task is not None]
    done, pending = await asyncio.wait(tasks, timeout=max(0.0, deadline - time.monotonic()) + 0.05)
    for task in pending:
        task.cancel()
    if search is not None and searcher is not None:
        plan.datasets = [
            search.result()
            if search in done
            else DatasetResult(
                provider=searcher.name,
                kind=searcher.kind,
                dataset_id=searcher.dataset_id,
                status="timeout",
                error=f"no answer within {plan.sources_deadline:.2f}s",
            )
        ]
    if hooks is None or hooks not in done or hooks.exception() is not None:
        return []
    answers, plan.hook_block = hooks.result()
    return answers


def _grounding(kb: KbResult | None, hooks: list[HookReply], datasets: Sequence[DatasetResult] = ()) -> str:
    """Retrieved passages and business data, numbered so the model can cite them."""
    lines: list[str] = []
    for source in (kb.sources if kb else [])[:GROUNDING_PASSAGES]:
        text = source.get("snippet") or source.get("content", "")
        lines.append(f"[{len(lines) + 1}] {source.get('title', '')}: {text}")
    for result in datasets:
        for passage in result.passages[:GROUNDING_PASSAGES]:
            lines.append(f"[{len(lines) + 1}] {passage.title}: {passage.content[:PASSAGE_CHARS]}")
    for hook in hooks:
        lines.append(f"[{hook.title}] {hook.answer}")
    if not lines:
        return ""
    return (
        "Answer using the reference material below when it is relevant; say so when it does not "
        "cover the question.\n" + "\n".join(lines)
    )


def _reference_sources(kb: KbResult | None, datasets: Sequence[DatasetResult], limit: int = 5) -> list[dict[str, Any]]:
    """The sources behind a grounded answer: the best of each knowledge base in turn (their scores differ in kind)."""
    lists = [list(kb.sources[:limit]) if kb is not None else []] + [r.as_sources() for r in datasets]
    merged: list[dict[str, Any]] = []
    for rank in range(limit):
        merged.extend(items[rank] for items in lists if rank < len(items))
    return merged[:limit]


async def _answer_directly(text: str, publisher: DeltaPublisher, chunk: int = 24) -> None:
    for start in range(0, len(text), chunk):
        await publisher.push(text[start : start + chunk])
    await publisher.flush()


def _kb_step(kb: KbResult) -> LocalProvider:
    def answer(_question: str) -> tuple[str, list, float, bool]:
        return kb.text, kb.sources, kb.confidence, kb.matched

    return LocalProvider(ProviderConfig(kind="local", name="local-kb"), answer_fn=answer, chunk_chars=24)


async def answer_turn(
    plan: TurnPlan, publisher: DeltaPublisher, *, kb: KbResult | None, hooks: list[HookReply], started: float
) -> TurnOutcome:
    """Rank the gathered sources and answer: a sure business system, a sure FAQ, else the
    provider chain grounded in what the sources found."""
    outcome = TurnOutcome()
    if kb is not None:
        outcome.candidates.append(
            {"source": "kb", "score": round(kb.confidence, 4), "matched": kb.matched, "why": kb.why}
        )
    for hook in hooks:
        outcome.candidates.append({"source": f"hook:{hook.name}", "score": round(hook.score, 4)})
    outcome.candidates.extend(result.candidate() for result in plan.datasets)

    best_hook = max(hooks, key=lambda h: h.score, default=None)
    if plan.hook_block is not None:
        # A required business system (fail-closed) did not answer: a human takes over.
        outcome.handoff_reason = f"hook:{plan.hook_block.name}"
        outcome.errors.append(f"hook {plan.hook_block.name}: {plan.hook_block.error}")
        outcome.matched = False
    elif best_hook is not None and best_hook.score >= HOOK_ANSWER_SCORE:
        text = best_hook.answer or best_hook.title
        await _answer_directly(text, publisher)
        outcome.text, outcome.provider = text, f"hook:{best_hook.name}"
        outcome.sources = [{"type": "hook", "title": best_hook.title, "score": best_hook.score}]
        outcome.confidence = best_hook.score
        outcome.cards = [card.as_dict() for card in best_hook.cards]
    elif kb is not None and kb.matched and (kb.confidence >= plan.faq_direct_threshold or not plan.chain):
        await _answer_directly(kb.text, publisher)
        outcome.text, outcome.provider, outcome.sources = kb.text, "local-kb", kb.sources
        outcome.confidence = kb.confidence
    elif not plan.chain:
        # Only the knowledge base, and it is not sure: say so; the pipeline counts the streak.
        outcome.text = kb.text if kb is not None else ""
        outcome.provider, outcome.matched = "local-kb", False
        outcome.confidence = kb.confidence if kb else 0.0
        outcome.quick_replies = list(kb.suggestions) if kb is not None else []
        if outcome.text:
            await _answer_directly(outcome.text, publisher)
    else:
        await _run_chain(plan, kb, hooks, publisher, outcome)

    outcome.latency_ms = (time.monotonic() - started) * 1000
    if publisher.first_sent_at is not None:
        outcome.first_token_ms = (publisher.first_sent_at - started) * 1000
    return outcome


async def _run_chain(
    plan: TurnPlan, kb: KbResult | None, hooks: list[HookReply], publisher: DeltaPublisher, outcome: TurnOutcome
) -> None:
    datasets = [result for result in plan.datasets if result.passages]
    grounding = _grounding(kb, hooks, datasets)
    request = plan.request
    if grounding:
        prompt = f"{request.system_prompt}\n\n{grounding}".strip()
        request = replace(request, system_prompt=prompt)
    steps = list(plan.chain)
    if kb is not None and kb.matched:
        steps.append(_kb_step(kb))
    chain = FallbackChain(steps, breaker=plan.breaker)
    async for event in chain.run(request):
        if isinstance(event, Delta):
            await publisher.push(event.text)
        elif isinstance(event, Partial):
            outcome.partial = True
            outcome.errors.append(f"{event.provider}: partial ({event.error})")
        elif isinstance(event, Switch):
            if publisher.sent_chars or publisher.first_sent_at:
                await publisher.failed()
                publisher.restart()
            outcome.errors.append(f"switch to {event.provider}: {event.reason}")
        elif isinstance(event, Done):
            await publisher.flush()
            outcome.text, outcome.provider, outcome.usage = event.text, event.provider, event.usage
            outcome.quick_replies = list(event.quick_replies)
            outcome.provider_state = dict(event.provider_state)
            outcome.confidence = event.confidence
            outcome.partial = False
            if event.provider == "local-kb" and kb is not None:
                outcome.sources = kb.sources
            else:
                outcome.sources = [
                    {"type": "provider", "title": s.title, "url": s.url, "score": s.score} for s in event.sources
                ] or (_reference_sources(kb, datasets) if grounding else [])
        elif isinstance(event, Handoff):
            await publisher.failed()
            outcome.handoff_reason = event.reason
            outcome.errors.extend(event.errors)
            outcome.matched = False
