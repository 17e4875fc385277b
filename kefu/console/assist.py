"""AI assist for agents: a registry the bots app fills; the console only defines the contract.

A provider is a callable ``(conversation, agent) -> AssistResult | None``. ``None`` means
"not configured for this tenant", so the next provider is asked. The core never imports
the bots app; it registers itself from its AppConfig.ready().
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AssistSource:
    title: str
    url: str = ""
    snippet: str = ""


@dataclass(frozen=True)
class AssistSuggestion:
    text: str
    sources: list[AssistSource] = field(default_factory=list)


@dataclass(frozen=True)
class AssistResult:
    suggestions: list[AssistSuggestion]
    summary: str = ""
    provider: str = ""


AssistProvider = Callable[[Any, Any], AssistResult | None]
assist_providers: list[AssistProvider] = []


class AssistUnavailable(Exception):
    """A configured provider failed (timeout, quota); the console says so and moves on."""


def register_assist_provider(provider: AssistProvider) -> None:
    if provider not in assist_providers:
        assist_providers.append(provider)


def assist_for(*, conversation: Any, agent: Any) -> AssistResult | None:
    """The first configured provider's answer; None when nothing is configured."""
    for provider in list(assist_providers):
        try:
            result = provider(conversation, agent)
        except AssistUnavailable:
            raise
        except Exception as exc:
            logger.warning("assist provider %r failed", provider, exc_info=True)
            raise AssistUnavailable(str(exc)) from exc
        if result is not None:
            return result
    return None


def assist_payload(result: AssistResult) -> dict[str, Any]:
    return {
        "configured": True,
        "provider": result.provider,
        "summary": result.summary,
        "suggestions": [
            {
                "text": s.text,
                "sources": [{"title": src.title, "url": src.url, "snippet": src.snippet} for src in s.sources],
            }
            for s in result.suggestions
        ],
    }
