"""Helpers for provider tests: collect a stream into deltas, the final event and the error."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from bots.interface import BotRequest, Delta, Done, ProviderError, Timeouts
from bots.providers.base import Provider, stream

FAST = Timeouts(connect=1.0, first_token=0.5, idle=0.5, total=3.0)


@pytest.fixture(autouse=True)
def _fakes_are_allowed(settings) -> None:  # noqa: ANN001
    """The fakes listen on 127.0.0.1, which the SSRF guard refuses unless the operator allows it."""
    settings.KEFU_OUTBOUND_ALLOWLIST = ["127.0.0.1", "localhost"]


@dataclass
class Outcome:
    deltas: list[str] = field(default_factory=list)
    done: Done | None = None
    error: ProviderError | None = None

    @property
    def text(self) -> str:
        return "".join(self.deltas)


def make_request(**kwargs: object) -> BotRequest:
    values: dict = {"question": "Where is my order?", "conversation_key": "c1", "visitor_id": "visitor-4821"}
    values.update(kwargs)
    return BotRequest(**values)


async def collect(provider: Provider, request: BotRequest | None = None) -> Outcome:
    outcome = Outcome()
    try:
        async for event in stream(provider, request or make_request()):
            if isinstance(event, Delta):
                outcome.deltas.append(event.text)
            else:
                assert outcome.done is None, "more than one final event"
                outcome.done = event
    except ProviderError as exc:
        outcome.error = exc
    return outcome
