"""FastGPT OpenAPI chat completions with a client-chosen chatId per conversation.

FastGPT errors may arrive as HTTP 200 or 500 JSON envelopes whose `code` is not 200,
and the detail stream continues after `[DONE]` (flowResponses), so it is read to EOF.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import httpx2

from bots.interface import (
    BotRequest,
    Delta,
    Done,
    ProviderAuthError,
    ProviderBadResponse,
    ProviderError,
    StreamEvent,
    Usage,
)
from bots.providers.base import (
    Provider,
    auth_headers,
    error_for_status,
    http_client,
    http_timeout,
    is_event_stream,
    join_url,
    parse_retry_after,
    read_json_body,
    transport_error,
)
from bots.sse import SSEEvent, aiter_events

STATE_KEY = "fastgpt_chat_id"
AUTH_STATUS_TEXTS = {"unAuthApiKey", "unAuthorization", "unAuthApp"}


def fastgpt_error(body: Any, status: int) -> ProviderError:
    if not isinstance(body, dict):
        return error_for_status(status if status >= 400 else 502, f"fastgpt: {body!r}")
    code = body.get("code")
    status_text = str(body.get("statusText") or "")
    text = f"fastgpt {code} {status_text}: {body.get('message', '')}"
    if status_text in AUTH_STATUS_TEXTS or code in (401, 403, 514):
        return ProviderAuthError(text, status=status)
    if status_text == "insufficientQuota" or code == 510:
        return ProviderError(text, status=status, transient=False)
    if status >= 500 and not status_text:
        return ProviderError(text, status=status, transient=True)
    return ProviderError(text, status=status, transient=status >= 500)


def _chunk_text(data: Any) -> str:
    if not isinstance(data, dict):
        return ""
    choices = data.get("choices") or []
    if not choices:
        return ""
    delta = choices[0].get("delta") or {}
    return delta.get("content") or ""


def _sum_tokens(nodes: Any) -> int:
    total = 0
    for node in nodes if isinstance(nodes, list) else ():
        if isinstance(node, dict):
            for key in ("tokens", "inputTokens", "outputTokens"):
                value = node.get(key)
                if isinstance(value, int | float):
                    total += int(value)
    return total


class FastGPTProvider(Provider):
    kind = "fastgpt"

    def chat_id(self, request: BotRequest) -> str:
        return str(request.provider_state.get(STATE_KEY) or f"kefu-{request.conversation_key}")[:240]

    async def _stream(self, request: BotRequest) -> AsyncIterator[StreamEvent]:
        detail = bool(self.config.extra.get("detail", False))
        chat_id = self.chat_id(request)
        body: dict[str, Any] = {
            "chatId": chat_id, "stream": True, "detail": detail,
            # With a chatId FastGPT loads the history itself and reads only the last message.
            "messages": [{"role": "user", "content": request.question}],
            "variables": {"uid": request.visitor_id, **(self.config.extra.get("variables") or {})},
        }
        url = join_url(self.config.base_url, "chat/completions")
        try:
            async with http_client().stream("POST", url, json=body, headers=auth_headers(self.config),
                                            timeout=http_timeout(self.config)) as response:
                if not is_event_stream(response):
                    payload = await read_json_body(response)
                    if response.status_code == 429:
                        raise error_for_status(429, str(payload), retry_after=parse_retry_after(response.headers))
                    raise fastgpt_error(payload, response.status_code)
                if response.status_code != 200:
                    raise error_for_status(response.status_code, "fastgpt stream with error status")
                state = {**request.provider_state, STATE_KEY: chat_id}
                async with aclosing(aiter_events(response.aiter_bytes())) as sse_events, \
                        aclosing(self._events(sse_events, state)) as events:
                    async for event in events:
                        yield event
        except httpx2.HTTPError as exc:
            raise transport_error(exc)

    async def _events(self, stream: AsyncIterator[SSEEvent], state: dict[str, Any]) -> AsyncIterator[StreamEvent]:
        parts: list[str] = []
        done_seen = False
        tokens = 0
        async for sse in stream:
            if not sse.has_data:
                continue
            name = sse.event or "answer"
            if name in ("answer", "fastAnswer"):
                if sse.is_done_sentinel():
                    done_seen = True
                    continue
                try:
                    text = _chunk_text(sse.json())
                except ValueError:
                    raise ProviderBadResponse(f"fastgpt: non-JSON chunk {sse.data[:80]!r}", transient=True)
                if text:
                    parts.append(text)
                    yield Delta(text)
            elif name == "error":
                try:
                    payload = sse.json()
                except ValueError:
                    payload = {"message": sse.data}
                raise fastgpt_error(payload, 500)
            elif name == "flowResponses":
                try:
                    tokens = _sum_tokens(sse.json())
                except ValueError:
                    tokens = 0
        if not done_seen:
            raise ProviderBadResponse("fastgpt stream ended without [DONE]", transient=True)
        yield Done(text="".join(parts), usage=Usage(total_tokens=tokens), provider_state=state)
