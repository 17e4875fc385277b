"""The per-bot middleware chain, applied to the visitor's text and to the bot's output.

The rule-based intent detector answers first; when it has nothing to say, the tenant's
local classifier (trained from its FAQ) decides whether the visitor wants a human.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from bots.middlewares import MiddlewareChain, StreamingOutputFilter, Turn, build_chain, detect_intent
from bots.models import Bot

logger = logging.getLogger(__name__)

# The classifier only adds "wants a human" (phrasings the word list misses); complaints
# come from the rules, because a false complaint would hand off a happy visitor.
CLASSIFIER_MIN_CONFIDENCE = 0.8
_CLASSIFIER_INTENTS = {"human_request": "human_request"}
_RULE_INTENTS = {"human": "human_request", "complaint": "complaint", "greeting": "greeting"}


@dataclass(frozen=True)
class Inbound:
    provider_text: str  # what may leave for a third-party provider (PII masked)
    intent: str
    language: str


def _intent_detector(bot: Bot) -> Callable[[str], str]:
    def detect(text: str) -> str:
        rule = detect_intent(text)
        if rule:
            return _RULE_INTENTS.get(rule, rule)
        try:
            from bots.knowledge.intents import classify_intent

            # The pipeline's cached bots carry their tenant: no query per turn.
            label, confidence = classify_intent(bot.tenant, text)
        except Exception:  # the classifier is an aid; the bot answers without it
            logger.warning("intent classifier unavailable", exc_info=True)
            return ""
        if confidence >= CLASSIFIER_MIN_CONFIDENCE:
            return _CLASSIFIER_INTENTS.get(label, "")
        return ""

    return detect


class TurnFilters:
    def __init__(self, chain: MiddlewareChain) -> None:
        self.chain = chain
        self.turn: Turn | None = None

    @classmethod
    def for_bot(cls, bot: Bot) -> TurnFilters:
        names = list(bot.middlewares) if isinstance(bot.middlewares, list) else None
        # The bot's own options per middleware (console), e.g. extra sensitive words.
        saved = bot.middleware_options if isinstance(bot.middleware_options, dict) else {}
        options: dict[str, dict] = {name: dict(value) for name, value in saved.items() if isinstance(value, dict)}
        if names is None or "intent" in names:
            options["intent"] = {**options.get("intent", {}), "detector": _intent_detector(bot)}
        try:
            return cls(build_chain(names, options))
        except (TypeError, ValueError):
            # Options saved before a middleware changed its arguments: the defaults, not a dead bot.
            logger.warning("bot %s: middleware options refused, using defaults", bot.pk, exc_info=True)
            return cls(build_chain(names, {"intent": options["intent"]} if "intent" in options else {}))

    def inbound(self, text: str) -> Inbound:
        self.turn = self.chain.run_input(text)
        return Inbound(provider_text=self.turn.text, intent=self.turn.intent, language=self.turn.language)

    def stream_filter(self) -> StreamingOutputFilter | None:
        return self.chain.output_filter(self.turn) if self.turn is not None else None

    def outbound(self, text: str) -> str:
        if self.turn is None:
            return text
        return self.chain.run_output(text, self.turn)
