"""Coze (扣子) API v3 chat with streaming; follow-up suggestions become quick replies.

Coze may answer a stream request with an HTTP 200 JSON error envelope, so the content
type is checked before any SSE parsing.
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
    ProviderRateLimited,
    StreamEvent,
    Usage,
)
from bots.providers.base import (
    Provider,
    auth_headers,
    http_client,
    http_timeout,
    is_event_stream,
    join_url,
    parse_retry_after,
    read_json_body,
    transport_error,
)
from bots.sse import SSEEvent, aiter_events

STATE_KEY = "coze_conversation_id"


def coze_error(body: Any, status: int = 200, retry_after: float | None = None) -> ProviderError:
    code = int(body.get("code") or 0) if isinstance(body, dict) else 0
    msg = str(body.get("msg") or body.get("message") or "") if isinstance(body, dict) else str(body)
    text = f"coze {code}: {msg}"
    if code in (4100, 4101) or status in (401, 403):
        return ProviderAuthError(text, status=status)
    if code == 4013 or status == 429:
        return ProviderRateLimited(text, status=status, retry_after=retry_after)
    if code == 4016 or code >= 5000 or status >= 500:
        # 4016: another chat still running in this conversation; it will finish.
        return ProviderError(text, status=status, transient=True)
    return ProviderBadResponse(text, status=status, transient=False)


class CozeProvider(Provider):
    kind = "coze"

    async def _stream(self, request: BotRequest) -> AsyncIterator[StreamEvent]:
        params = {}
        conversation_id = request.provider_state.get(STATE_KEY)
        if conversation_id:
            params["conversation_id"] = conversation_id
        body: dict[str, Any] = {
            "bot_id": str(self.config.extra.get("bot_id", self.config.model)),
            "user_id": request.visitor_id, "stream": True, "auto_save_history": True,
            "additional_messages": [
                {"role": "user", "type": "question", "content": request.question, "content_type": "text"}],
        }
        if self.config.extra.get("custom_variables"):
            body["custom_variables"] = self.config.extra["custom_variables"]
        url = join_url(self.config.base_url or "https://api.coze.cn", "v3/chat")
        try:
            async with http_client().stream("POST", url, params=params, json=body, headers=auth_headers(self.config),
                                            timeout=http_timeout(self.config)) as response:
                if not is_event_stream(response):
                    raise coze_error(await read_json_body(response), response.status_code,
                                     parse_retry_after(response.headers))
                if response.status_code != 200:
                    raise coze_error({}, response.status_code)
                async with aclosing(aiter_events(response.aiter_bytes())) as sse_events, \
                        aclosing(self._events(sse_events, request)) as events:
                    async for event in events:
                        yield event
        except httpx2.HTTPError as exc:
            raise transport_error(exc)

    async def _events(self, stream: AsyncIterator[SSEEvent], request: BotRequest) -> AsyncIterator[StreamEvent]:
        state = dict(request.provider_state)
        answers: list[str] = []
        follow_ups: list[str] = []
        current_id = ""
        usage = Usage()
        completed = False
        async for sse in stream:
            name = sse.event
            if name == "done" or sse.is_done_sentinel():
                # Read on to the end of the body so the connection returns to the pool.
                continue
            if not sse.has_data:
                continue
            try:
                data = sse.json()
            except ValueError:
                raise ProviderBadResponse(f"coze: non-JSON event {sse.data[:80]!r}", transient=True)
            if name == "error":
                raise coze_error(data if isinstance(data, dict) and data else {"code": 5000, "msg": "stream error"})
            if not isinstance(data, dict):
                continue
            if data.get("conversation_id"):
                state[STATE_KEY] = data["conversation_id"]
            if name == "conversation.message.delta" and data.get("type") == "answer":
                text = data.get("content") or ""
                if data.get("id") != current_id:
                    if current_id and answers:
                        yield Delta("\n\n")
                    current_id = data.get("id", "")
                if text:
                    yield Delta(text)
            elif name == "conversation.message.completed":
                if data.get("type") == "answer":
                    answers.append(data.get("content") or "")
                elif data.get("type") == "follow_up" and data.get("content"):
                    follow_ups.append(data["content"])
            elif name == "conversation.chat.completed":
                raw = data.get("usage") or {}
                usage = Usage(int(raw.get("input_count") or 0), int(raw.get("output_count") or 0),
                              int(raw.get("token_count") or 0))
                completed = True
            elif name == "conversation.chat.failed":
                error = data.get("last_error") or {}
                raise ProviderError(f"coze chat failed {error.get('code')}: {error.get('msg')}", transient=True)
            elif name == "conversation.chat.requires_action":
                raise ProviderBadResponse("coze bot requires a tool call we cannot serve", transient=False)
        if not completed:
            raise ProviderBadResponse("coze stream ended before conversation.chat.completed", transient=True)
        yield Done(text="\n\n".join(a for a in answers if a), usage=usage, quick_replies=tuple(follow_ups),
                   provider_state=state)
