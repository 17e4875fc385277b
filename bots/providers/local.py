"""Local answers (the knowledge base) behind the provider interface.

The answer function is injected so this module depends on nothing: the pipeline passes
the knowledge-base engineer's `kb_answer`, tests pass a lambda.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from bots.interface import BotRequest, Delta, Done, ProviderConfig, Source, StreamEvent
from bots.providers.base import Provider

AnswerResult = tuple[str, Sequence[Any], float, bool]
AnswerFn = Callable[[str], AnswerResult | Awaitable[AnswerResult]]


def _source(raw: Any) -> Source:
    if isinstance(raw, Source):
        return raw
    if isinstance(raw, dict):
        return Source(
            title=str(raw.get("title", "")),
            content=str(raw.get("content", "")),
            url=str(raw.get("url", "")),
            score=raw.get("score"),
        )
    return Source(title=str(raw))


class LocalProvider(Provider):
    kind = "local"

    def __init__(
        self,
        config: ProviderConfig,
        answer_fn: AnswerFn | None = None,
        *,
        chunk_chars: int = 12,
        min_confidence: float | None = None,
    ) -> None:
        super().__init__(config)
        fn = answer_fn or config.extra.get("answer_fn")
        if fn is None:
            raise ValueError("LocalProvider needs an answer_fn")
        self.answer_fn: AnswerFn = fn
        self.chunk_chars = chunk_chars
        self.min_confidence = min_confidence if min_confidence is not None else config.extra.get("min_confidence")

    async def _answer(self, question: str) -> AnswerResult:
        if inspect.iscoroutinefunction(self.answer_fn):
            return await self.answer_fn(question)
        # A sync answer function may touch the database; keep it off the event loop.
        result = await asyncio.to_thread(self.answer_fn, question)
        if inspect.isawaitable(result):
            result = await result
        return result

    async def _stream(self, request: BotRequest) -> AsyncIterator[StreamEvent]:
        text, sources, confidence, matched = await self._answer(request.question)
        if self.min_confidence is not None and confidence < float(self.min_confidence):
            matched = False
        if matched and text:
            for start in range(0, len(text), self.chunk_chars):
                yield Delta(text[start : start + self.chunk_chars])
                await asyncio.sleep(0)
        yield Done(
            text=text if matched else "",
            sources=tuple(_source(s) for s in sources),
            confidence=confidence,
            matched=matched,
            provider_state=dict(request.provider_state),
        )
