"""The hybrid answer engine: several sources in parallel under a deadline, ranked, then
streamed through the provider fallback chain.

Plain objects in, plain outcome out; no ORM here. The pipeline prepares a TurnPlan in
the worker thread and this runs on the shared bot loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import orjson

from bots.interface import BotRequest, Delta, Done, ProviderConfig, Usage
from bots.providers.base import Provider
from bots.providers.local import LocalProvider
from bots.resilience import FallbackChain, Handoff, Partial, RedisCircuitBreaker, Switch
from bots.streaming import DeltaPublisher

logger = logging.getLogger(__name__)

HOOK_ANSWER_SCORE = 0.8  # a business system that is this sure answers on its own


@dataclass(frozen=True)
class KbResult:
    text: str
    sources: list[dict[str, Any]]
    confidence: float
    matched: bool


@dataclass(frozen=True)
class HookSpec:
    name: str
    url: str
    secret: str
    timeout: float
    keywords: tuple[str, ...] = ()

    def wanted_for(self, question: str) -> bool:
        return not self.keywords or any(k and k.lower() in question.lower() for k in self.keywords)


@dataclass(frozen=True)
class HookResult:
    name: str
    answer: str
    score: float
    title: str = ""


@dataclass
class TurnPlan:
    request: BotRequest
    chain: list[Provider]
    hooks: list[HookSpec] = field(default_factory=list)
    hook_payload: dict[str, Any] = field(default_factory=dict)
    faq_direct_threshold: float = 0.8
    sources_deadline: float = 1.5
    breaker: RedisCircuitBreaker | None = None
    hook_guard: Callable[[str], None] | None = None  # raises for URLs tenants may not reach


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


async def call_hook(spec: HookSpec, payload: dict[str, Any], guard: Callable[[str], None] | None) -> HookResult | None:
    """POST the question to a tenant's business system, signed; any failure is no answer."""
    body = orjson.dumps(payload)
    signature = hmac.new(spec.secret.encode(), body, hashlib.sha256).hexdigest() if spec.secret else ""
    try:
        if guard is not None:
            guard(spec.url)
        async with httpx.AsyncClient(timeout=spec.timeout, follow_redirects=False) as client:
            response = await client.post(
                spec.url, content=body,
                headers={"Content-Type": "application/json", "X-Kefu-Signature": f"sha256={signature}"},
            )
        if response.status_code != 200:
            return None
        data = response.json()
        answer = str(data.get("answer") or "").strip()
        if not answer:
            return None
        score = float(data.get("score", 0.5))
        return HookResult(name=spec.name, answer=answer[:4000], score=max(0.0, min(score, 1.0)),
                          title=str(data.get("title") or spec.name)[:200])
    except Exception as exc:
        logger.warning("business hook %s failed: %s", spec.name, exc)
        return None


async def gather_hooks(plan: TurnPlan) -> list[HookResult]:
    """Ask every business system that wants this question, in parallel, under the deadline."""
    question = plan.request.question
    tasks = [
        asyncio.create_task(call_hook(spec, plan.hook_payload, plan.hook_guard))
        for spec in plan.hooks if spec.wanted_for(question)
    ]
    if not tasks:
        return []
    done, pending = await asyncio.wait(tasks, timeout=plan.sources_deadline)
    for task in pending:
        task.cancel()
    return [task.result() for task in done if task.exception() is None and task.result() is not None]


def _grounding(kb: KbResult | None, hooks: list[HookResult]) -> str:
    """Retrieved passages and business data, numbered so the model can cite them."""
    lines: list[str] = []
    for i, source in enumerate((kb.sources if kb else [])[:4], start=1):
        lines.append(f"[{i}] {source.get('title', '')}: {source.get('snippet') or source.get('content', '')}")
    for hook in hooks:
        lines.append(f"[{hook.title}] {hook.answer}")
    if not lines:
        return ""
    return (
        "Answer using the reference material below when it is relevant; say so when it does not "
        "cover the question.\n" + "\n".join(lines)
    )


async def _answer_directly(text: str, publisher: DeltaPublisher, chunk: int = 24) -> None:
    for start in range(0, len(text), chunk):
        await publisher.push(text[start:start + chunk])
    await publisher.flush()


def _kb_step(kb: KbResult) -> LocalProvider:
    def answer(_question: str) -> tuple[str, list, float, bool]:
        return kb.text, kb.sources, kb.confidence, kb.matched

    return LocalProvider(ProviderConfig(kind="local", name="local-kb"), answer_fn=answer, chunk_chars=24)


async def answer_turn(
    plan: TurnPlan, publisher: DeltaPublisher, *, kb: KbResult | None, hooks: list[HookResult], started: float
) -> TurnOutcome:
    """Rank the gathered sources and answer: a sure business system, a sure FAQ, else the
    provider chain grounded in what the sources found."""
    outcome = TurnOutcome()
    if kb is not None:
        outcome.candidates.append({"source": "kb", "score": round(kb.confidence, 4), "matched": kb.matched})
    for hook in hooks:
        outcome.candidates.append({"source": f"hook:{hook.name}", "score": round(hook.score, 4)})

    best_hook = max(hooks, key=lambda h: h.score, default=None)
    if best_hook is not None and best_hook.score >= HOOK_ANSWER_SCORE:
        await _answer_directly(best_hook.answer, publisher)
        outcome.text, outcome.provider = best_hook.answer, f"hook:{best_hook.name}"
        outcome.sources = [{"type": "hook", "title": best_hook.title, "score": best_hook.score}]
        outcome.confidence = best_hook.score
    elif kb is not None and kb.matched and (kb.confidence >= plan.faq_direct_threshold or not plan.chain):
        await _answer_directly(kb.text, publisher)
        outcome.text, outcome.provider, outcome.sources = kb.text, "local-kb", kb.sources
        outcome.confidence = kb.confidence
    elif not plan.chain:
        # Only the knowledge base, and it is not sure: say so; the pipeline counts the streak.
        outcome.text = kb.text if kb is not None else ""
        outcome.provider, outcome.matched = "local-kb", False
        outcome.confidence = kb.confidence if kb else 0.0
        if outcome.text:
            await _answer_directly(outcome.text, publisher)
    else:
        await _run_chain(plan, kb, hooks, publisher, outcome)

    outcome.latency_ms = (time.monotonic() - started) * 1000
    if publisher.first_sent_at is not None:
        outcome.first_token_ms = (publisher.first_sent_at - started) * 1000
    return outcome


async def _run_chain(
    plan: TurnPlan, kb: KbResult | None, hooks: list[HookResult], publisher: DeltaPublisher, outcome: TurnOutcome
) -> None:
    grounding = _grounding(kb, hooks)
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
                ] or (kb.sources[:3] if kb is not None and grounding else [])
        elif isinstance(event, Handoff):
            await publisher.failed()
            outcome.handoff_reason = event.reason
            outcome.errors.extend(event.errors)
            outcome.matched = False
