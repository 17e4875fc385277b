"""OpenAI Chat Completions and compatible servers (DeepSeek, Qwen, vLLM, Ollama) via the official SDK.

The SDK's own retries are off (max_retries=0): it would retry after our first-token
budget is spent, and the fallback chain is the better place to recover.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx2
import openai
from openai import AsyncOpenAI

from bots.interface import (
    BotRequest,
    Delta,
    Done,
    ProviderBadResponse,
    ProviderConfig,
    ProviderError,
    ProviderTimeout,
    StreamEvent,
    Usage,
)
from bots.providers.base import (
    Provider,
    error_for_status,
    http_client,
    http_timeout,
    parse_retry_after,
    transport_error,
)


def build_messages(config: ProviderConfig, request: BotRequest) -> list[dict[str, str]]:
    messages: list[dict[str, str]] = []
    system = request.system_prompt or config.system_prompt
    if system:
        messages.append({"role": "system", "content": system})
    messages.extend({"role": m.role, "content": m.content} for m in request.history)
    messages.append({"role": "user", "content": request.question})
    return messages


def map_openai_error(exc: Exception) -> ProviderError:
    if isinstance(exc, openai.APITimeoutError):
        return ProviderTimeout(str(exc))
    if isinstance(exc, openai.APIConnectionError):
        return ProviderError(str(exc), transient=True)
    if isinstance(exc, openai.APIStatusError):
        retry_after = parse_retry_after(exc.response.headers)
        transient = None
        if exc.status_code == 429 and getattr(exc, "code", None) == "insufficient_quota":
            transient = False  # quota used up: waiting will not help
        return error_for_status(exc.status_code, exc.message, retry_after=retry_after, transient=transient)
    if isinstance(exc, openai.APIError):
        # An error event inside a 200 stream.
        return ProviderError(f"stream error: {exc.message}", transient=True)
    if isinstance(exc, httpx2.HTTPError):
        return transport_error(exc)
    return ProviderBadResponse(repr(exc))


class OpenAICompatProvider(Provider):
    kind = "openai"

    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config)
        self._client: AsyncOpenAI | None = None

    def client(self) -> AsyncOpenAI:
        if self._client is None:
            self._client = AsyncOpenAI(
                api_key=self.config.api_key or "none", base_url=self.config.base_url,
                timeout=http_timeout(self.config), max_retries=0, http_client=http_client(),
            )
        return self._client

    def _params(self, request: BotRequest) -> dict[str, Any]:
        params: dict[str, Any] = {"model": self.config.model, "messages": build_messages(self.config, request)}
        if self.config.temperature is not None:
            params["temperature"] = self.config.temperature
        if self.config.max_tokens is not None:
            params["max_tokens"] = self.config.max_tokens
        if request.visitor_id:
            params["user"] = request.visitor_id
        extra_body = self.config.extra.get("extra_body")
        if extra_body:
            params["extra_body"] = extra_body
        return params

    async def _stream(self, request: BotRequest) -> AsyncIterator[StreamEvent]:
        parts: list[str] = []
        usage = Usage()
        finished = False
        try:
            response = await self.client().chat.completions.create(
                stream=True, stream_options={"include_usage": True}, **self._params(request))
            async with response as chunks:
                async for chunk in chunks:
                    if chunk.usage is not None:
                        usage = Usage(chunk.usage.prompt_tokens or 0, chunk.usage.completion_tokens or 0,
                                      chunk.usage.total_tokens or 0)
                    if not chunk.choices:
                        continue
                    choice = chunk.choices[0]
                    text = choice.delta.content if choice.delta is not None else None
                    if text:
                        parts.append(text)
                        yield Delta(text)
                    if choice.finish_reason is not None:
                        finished = True
        except ProviderError:
            raise
        except Exception as exc:
            raise map_openai_error(exc)
        if not finished:
            # Connection closed without a finish_reason: the answer is cut off.
            raise ProviderBadResponse("stream ended before finish_reason", transient=True)
        yield Done(text="".join(parts), usage=usage)

    async def embed(self, texts: list[str], *, model: str | None = None) -> list[list[float]]:
        try:
            response = await self.client().embeddings.create(
                input=texts, model=model or self.config.extra.get("embedding_model") or self.config.model,
                encoding_format="float")
        except Exception as exc:
            raise map_openai_error(exc)
        return [item.embedding for item in sorted(response.data, key=lambda d: d.index)]
