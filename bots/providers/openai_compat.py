"""OpenAI Chat Completions and compatible servers (DeepSeek, Qwen, vLLM, Ollama) via the official SDK.

The SDK's own retries are off (max_retries=0): it would retry after our first-token
budget is spent, and the fallback chain is the better place to recover.

Per-request CPU is the bot path's budget (py-spy, instant provider): so one SDK client
per (event loop, endpoint, key, timeouts) is shared by every provider object, and the
streaming call goes through the SDK's generic `post` with a body already serialized by
orjson and the raw httpx2 response back. That skips `chat.completions.create`'s
TypedDict transform and its response wrappers (about a fifth of an answer's CPU) and
keeps what the SDK is for: URL and auth headers, timeouts, status errors mapped to
`openai.APIStatusError`. The wire request is the same (a test compares both).
"""

from __future__ import annotations

import weakref
from asyncio import AbstractEventLoop, get_running_loop
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
    next_shard,
    parse_retry_after,
    refused_error,
    transport_error,
)
from bots.sse import aiter_events


def build_messages(config: ProviderConfig, request: BotRequest) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    system = request.system_prompt or config.system_prompt
    if system:
        messages.append({"role": "system", "content": system})
    messages.extend({"role": m.role, "content": m.content} for m in request.history)
    images = [m for m in request.media if m.kind == "image"]
    if images:
        # Vision models take the question as content parts: the text, then each image
        # inline as a data URL (attachments are not public URLs the provider could fetch).
        parts: list[dict[str, Any]] = [{"type": "text", "text": request.question}] if request.question else []
        parts.extend({"type": "image_url", "image_url": {"url": m.data_url(), "detail": "auto"}} for m in images)
        messages.append({"role": "user", "content": parts})
    else:
        messages.append({"role": "user", "content": request.question})
    return messages


def map_openai_error(exc: Exception) -> ProviderError:
    refused = refused_error(exc)  # the SDK reports the guard's refusal as a connection error
    if refused is not None:
        return refused
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


ClientKey = tuple[str, str, float, float, float, float, int]
_CLIENTS_PER_LOOP = 512
_clients: weakref.WeakKeyDictionary[AbstractEventLoop, dict[ClientKey, AsyncOpenAI]] = weakref.WeakKeyDictionary()


def shared_client(config: ProviderConfig, shard: int | None = None) -> AsyncOpenAI:
    """An SDK client for this endpoint on the running loop, built once per pool shard.

    A client costs a thread hop on its first request (the SDK probes the platform in a
    thread) and a few hundred microseconds to build. They sit on the loop's pooled httpx2
    clients, so none is ever closed (that would close a shared pool).
    """
    loop = get_running_loop()
    per_loop = _clients.get(loop)
    if per_loop is None:
        per_loop = _clients[loop] = {}
    shard = next_shard() if shard is None else shard
    t = config.timeouts
    key = (config.base_url, config.api_key, t.connect, t.first_token, t.idle, t.total, shard)
    client = per_loop.get(key)
    if client is None or client.is_closed():
        if len(per_loop) >= _CLIENTS_PER_LOOP:
            per_loop.pop(next(iter(per_loop)))
        client = per_loop[key] = AsyncOpenAI(
            api_key=config.api_key or "none",
            base_url=config.base_url,
            timeout=http_timeout(config),
            max_retries=0,
            http_client=http_client(shard),
        )
    return client


class OpenAICompatProvider(Provider):
    kind = "openai"

    def client(self) -> AsyncOpenAI:
        return shared_client(self.config)

    def _params(self, request: BotRequest) -> dict[str, Any]:
        """The JSON body `chat.completions.create(stream=True, ...)` would send."""
        params: dict[str, Any] = {
            "model": self.config.model,
            "messages": build_messages(self.config, request),
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if self.config.temperature is not None:
            params["temperature"] = self.config.temperature
        if self.config.max_tokens is not None:
            params["max_tokens"] = self.config.max_tokens
        if request.visitor_id:
            params["user"] = request.visitor_id
        extra_body = self.config.extra.get("extra_body")
        if extra_body:
            params.update(extra_body)  # as the SDK merges extra_body: its keys win
        return params

    async def _stream(self, request: BotRequest) -> AsyncIterator[StreamEvent]:
        # The SDK builds and sends the request and maps HTTP errors; the chunks are parsed
        # here with orjson because building a pydantic model per chunk costs more than
        # everything else.
        parts: list[str] = []
        usage = Usage()
        finished = False
        response: httpx2.Response | None = None
        try:
            # A non-2xx answer raises openai.APIStatusError inside `post`.
            response = await self.client().post(
                "/chat/completions", cast_to=httpx2.Response, content=orjson.dumps(self._params(request)), stream=True
            )
            if not is_event_stream(response):
                raise ProviderBadResponse(
                    f"expected an event stream, got {response.headers.get('content-type')!r}", transient=True
                )
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
                        usage = Usage(
                            raw_usage.get("prompt_tokens") or 0,
                            raw_usage.get("completion_tokens") or 0,
                            raw_usage.get("total_tokens") or 0,
                        )
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
        finally:
            if response is not None:
                await response.aclose()
        if not finished:
            # Connection closed without a finish_reason: the answer is cut off.
            raise ProviderBadResponse("stream ended before finish_reason", transient=True)
        yield Done(text="".join(parts), usage=usage)

    async def embed(self, texts: list[str], *, model: str | None = None) -> list[list[float]]:
        try:
            response = await self.client().embeddings.create(
                input=texts,
                model=model or self.config.extra.get("embedding_model") or self.config.model,
                encoding_format="float",
            )
        except Exception as exc:
            raise map_openai_error(exc)
        return [item.embedding for item in sorted(response.data, key=lambda d: d.index)]
