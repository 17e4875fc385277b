"""Plain request/reply dataclasses and error classes shared by every AI provider.

Nothing here imports Django or `kefu`: providers take these objects and return these
events, so each provider can be exercised alone against its fake server.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Hard limits for one provider call, in seconds."""

    connect: float = 5.0
    first_token: float = 15.0
    idle: float = 20.0
    total: float = 90.0


@dataclass(slots=True)
class ProviderConfig:
    """How to reach one configured provider (a tenant's bot settings, already decrypted)."""

    kind: str
    base_url: str = ""
    api_key: str = ""
    model: str = ""
    temperature: float | None = None
    max_tokens: int | None = None
    system_prompt: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    timeouts: Timeouts = field(default_factory=Timeouts)
    # Stable identity for the circuit breaker and alerts, e.g. "t42:bot7:primary".
    name: str = ""

    @property
    def breaker_key(self) -> str:
        return self.name or f"{self.kind}:{self.base_url}:{self.model}"


@dataclass(frozen=True, slots=True)
class MediaInput:
    """An attachment of the visitor's message, for providers that read it (images)."""

    kind: str  # image | audio | file
    data: bytes
    content_type: str
    name: str = ""

    def data_url(self) -> str:
        import base64

        return f"data:{self.content_type};base64,{base64.b64encode(self.data).decode()}"


@dataclass(slots=True)
class BotRequest:
    """One bot turn: the visitor's question plus whatever context the provider needs."""

    question: str
    conversation_key: str
    visitor_id: str
    history: list[ChatMessage] = field(default_factory=list)
    system_prompt: str = ""
    # Server-side conversation handles kept between turns: dify/coze conversation_id,
    # fastgpt chatId. Providers read it and return the updated dict in Done.
    provider_state: dict[str, Any] = field(default_factory=dict)
    visitor_name: str = ""
    language: str = ""
    # Absolute time.monotonic() after which the whole turn must be abandoned.
    deadline: float | None = None
    # Images sent with the question (only when the bot's model reads them).
    media: tuple[MediaInput, ...] = ()

    def remaining(self) -> float | None:
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - time.monotonic())


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


@dataclass(frozen=True, slots=True)
class Source:
    title: str
    content: str = ""
    url: str = ""
    score: float | None = None


@dataclass(frozen=True, slots=True)
class Delta:
    text: str
    type: Literal["delta"] = "delta"


@dataclass(frozen=True, slots=True)
class Done:
    text: str
    usage: Usage = field(default_factory=Usage)
    sources: tuple[Source, ...] = ()
    quick_replies: tuple[str, ...] = ()
    provider_state: dict[str, Any] = field(default_factory=dict)
    # Set by the local provider: confidence of the knowledge-base match, and whether it matched.
    confidence: float | None = None
    matched: bool = True
    provider: str = ""
    type: Literal["done"] = "done"


StreamEvent = Delta | Done


class ProviderError(Exception):
    """A provider call failed. `transient` says whether a retry or fallback may succeed."""

    transient: bool = True
    code: str = "provider_error"

    def __init__(
        self,
        message: str = "",
        *,
        transient: bool | None = None,
        status: int | None = None,
        retry_after: float | None = None,
        partial_text: str = "",
    ) -> None:
        super().__init__(message or self.code)
        if transient is not None:
            self.transient = transient
        self.status = status
        self.retry_after = retry_after
        # Text already streamed when the failure happened; never to be stored as complete.
        self.partial_text = partial_text


class ProviderTimeout(ProviderError):
    code = "provider_timeout"


class ProviderAuthError(ProviderError):
    transient = False
    code = "provider_auth"


class ProviderRateLimited(ProviderError):
    code = "provider_rate_limited"


class ProviderBadResponse(ProviderError):
    code = "provider_bad_response"


class ProviderUnavailable(ProviderError):
    """Refused without calling out, e.g. the circuit breaker is open."""

    code = "provider_unavailable"
