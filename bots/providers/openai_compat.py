"""OpenAI Chat Completions and compatible servers (DeepSeek, Qwen, vLLM, Ollama) via the official SDK.

The SDK's own retries are off (max_retries=0): it would retry after our first-token
budget is spent, and the fallback chain is the better place to recover.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import httpx2
import openai
import orjson
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
    is_event_stream,
    parse_retry_after,
    transport_error,
)
from bots.sse import aiter_events


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
        # The SDK builds the request and maps HTTP errors; the chunks are parsed here with
        # orjson because building a pydantic model per chunk costs more than everything else.
        parts: list[str] = []
        usage = Usage()
        finished = False
        try:
            async with self.client().chat.completions.with_streaming_response.create(
                    stream=True, stream_options={"include_usage": True}, **self._params(request)) as raw:
                response = raw.http_response
                if not is_event_stream(response):
                    raise ProviderBadResponse(
                        f"expected an event stream, got {response.headers.get('content-type')!r}", transient=True)
                async with aclosing(aiter_events(response.aiter_bytes())) as events:
                    async for sse in events:
                        if not sse.has_data:
                            continue
                        if sse.is_done_sentinel():
                            # Read on to the end of the body so the connection returns to the pool.
                            continue
                        chunk = orjson.loads(sse.data)
                        if chunk.get("error"):
                            error = chunk["error"]
                            message = error.get("message", "") if isinstance(error, dict) else str(error)
                            raise ProviderError(f"stream error: {message}", transient=True)
                        if chunk.get("usage"):
                            raw_usage = chunk["usage"]
                            usage = Usage(raw_usage.get("prompt_tokens") or 0, raw_usage.get("completion_tokens") or 0,
                                          raw_usage.get("total_tokens") or 0)
                        choices = chunk.get("choices")
                        if not choices:
                            continue
                        choice = choices[0]
                        text = (choice.get("delta") or {}).get("content")
                        if text:
                            parts.append(text)
                            yield Delta(text)
                        if choice.get("finish_reason") is not None:
                            finished = True
        except ProviderError:
            raise
        except orjson.JSONDecodeError as exc:
            raise ProviderBadResponse(f"non-JSON chunk: {exc}", transient=True)
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
