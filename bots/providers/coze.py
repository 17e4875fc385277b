"""Coze (扣子) API v3 chat, streamed (default) or polled; follow-up suggestions become quick replies.

Coze may answer a stream request with an HTTP 200 JSON error envelope, so the content
type is checked before any SSE parsing.

Polling mode (`extra["response_mode"] = "polling"`, for bots or gateways that cannot
stream): POST /v3/chat with `stream: false` (and `auto_save_history: true`, which Coze
requires to keep the messages to fetch), poll /v3/chat/retrieve at most once a second
until the chat leaves `in_progress`, then read /v3/chat/message/list. Each poll that
finds the chat still running counts as progress for the idle timeout; the provider's
total timeout (and the turn's deadline) bound the whole wait. A chat we stop waiting
for is cancelled, so the conversation is not left busy (error 4016) for the next turn.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Any

import httpx2
import orjson

from bots.interface import (
    BotRequest,
    Delta,
    Done,
    MediaInput,
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

logger = logging.getLogger(__name__)

STATE_KEY = "coze_conversation_id"
DEFAULT_BASE_URL = "https://api.coze.cn"
STREAMING, POLLING = "streaming", "polling"
RESPONSE_MODES = (STREAMING, POLLING)
POLL_INTERVAL = 1.0  # seconds; the protocol allows at most one retrieve per second
PENDING_STATUSES = {"created", "in_progress"}
CANCEL_TIMEOUT = 5.0
# Fire-and-forget cancel requests, referenced until they finish.
_background: set[asyncio.Task[None]] = set()


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


def _usage(chat: dict[str, Any]) -> Usage:
    raw = chat.get("usage") or {}
    return Usage(int(raw.get("input_count") or 0), int(raw.get("output_count") or 0), int(raw.get("token_count") or 0))


def _envelope_data(body: Any, status: int, retry_after: float | None = None) -> Any:
    """The `data` of a `{"code": 0, "msg": "", "data": ...}` envelope, or the matching ProviderError."""
    if not isinstance(body, dict) or "code" not in body:
        raise coze_error(body if isinstance(body, dict) else {}, status if status != 200 else 502, retry_after)
    if body.get("code") != 0 or status != 200:
        raise coze_error(body, status, retry_after)
    return body.get("data")


class CozeProvider(Provider):
    kind = "coze"

    @property
    def base_url(self) -> str:
        return self.config.base_url or DEFAULT_BASE_URL

    @property
    def response_mode(self) -> str:
        mode = str(self.config.extra.get("response_mode") or STREAMING)
        return mode if mode in RESPONSE_MODES else STREAMING

    async def _upload(self, media: MediaInput) -> str:
        """POST /v1/files/upload (multipart `file`): the file_id an object_string message refers to."""
        headers = {"Authorization": f"Bearer {self.config.api_key}"}
        try:
            response = await http_client().post(
                join_url(self.base_url, "v1/files/upload"),
                files={"file": (media.name or "image", media.data, media.content_type)},
                headers=headers,
                timeout=http_timeout(self.config),
            )
        except httpx2.HTTPError as exc:
            raise transport_error(exc)
        data = _envelope_data(await read_json_body(response), response.status_code)
        if not isinstance(data, dict) or not data.get("id"):
            raise coze_error({"code": 5000, "msg": "upload returned no file id"}, 502)
        return str(data["id"])

    async def _question(self, request: BotRequest) -> dict[str, Any]:
        """The question message: plain text, or an object_string of text and image parts."""
        images = [m for m in request.media if m.kind == "image"]
        if not images:
            return {"role": "user", "type": "question", "content": request.question, "content_type": "text"}
        parts: list[dict[str, str]] = [{"type": "text", "text": request.question}] if request.question else []
        for media in images:
            parts.append({"type": "image", "file_id": await self._upload(media)})
        return {
            "role": "user",
            "type": "question",
            "content": orjson.dumps(parts).decode(),
            "content_type": "object_string",
        }

    def _body(self, request: BotRequest, *, stream: bool, question: dict[str, Any] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "bot_id": str(self.config.extra.get("bot_id", self.config.model)),
            # auto_save_history must stay true: polling reads the stored messages back.
            "user_id": request.visitor_id,
            "stream": stream,
            "auto_save_history": True,
            "additional_messages": [
                question or {"role": "user", "type": "question", "content": request.question, "content_type": "text"}
            ],
        }
        if self.config.extra.get("custom_variables"):
            body["custom_variables"] = self.config.extra["custom_variables"]
        return body

    def _stream(self, request: BotRequest) -> AsyncIterator[StreamEvent]:
        if self.response_mode == POLLING:
            return self._poll(request)
        return self._stream_sse(request)

    async def _stream_sse(self, request: BotRequest) -> AsyncIterator[StreamEvent]:
        params = {}
        conversation_id = request.provider_state.get(STATE_KEY)
        if conversation_id:
            params["conversation_id"] = conversation_id
        url = join_url(self.base_url, "v3/chat")
        try:
            async with http_client().stream(
                "POST",
                url,
                params=params,
                json=self._body(request, stream=True, question=await self._question(request)),
                headers=auth_headers(self.config),
                timeout=http_timeout(self.config),
            ) as response:
                if not is_event_stream(response):
                    raise coze_error(
                        await read_json_body(response), response.status_code, parse_retry_after(response.headers)
                    )
                if response.status_code != 200:
                    raise coze_error({}, response.status_code)
                async with (
                    aclosing(aiter_events(response.aiter_bytes())) as sse_events,
                    aclosing(self._events(sse_events, request)) as events,
                ):
                    async for event in events:
                        yield event
        except httpx2.HTTPError as exc:
            raise transport_error(exc)

    # --- polling mode -------------------------------------------------------------------------

    async def _call(self, method: str, path: str, *, params: dict[str, str], json: Any = None) -> Any:
        """One non-streaming Coze call; returns the envelope's data or raises the mapped ProviderError."""
        headers = {**auth_headers(self.config), "Accept": "application/json"}
        try:
            response = await http_client().request(
                method,
                join_url(self.base_url, path),
                params=params,
                json=json,
                headers=headers,
                timeout=http_timeout(self.config),
            )
        except httpx2.HTTPError as exc:
            raise transport_error(exc)
        return _envelope_data(await read_json_body(response), response.status_code, parse_retry_after(response.headers))

    async def _poll(self, request: BotRequest) -> AsyncIterator[StreamEvent]:
        params: dict[str, str] = {}
        if request.provider_state.get(STATE_KEY):
            params["conversation_id"] = str(request.provider_state[STATE_KEY])
        chat = await self._call(
            "POST",
            "v3/chat",
            params=params,
            json=self._body(request, stream=False, question=await self._question(request)),
        )
        if not isinstance(chat, dict) or not chat.get("id") or not chat.get("conversation_id"):
            raise ProviderBadResponse(f"coze: chat without id or conversation_id: {str(chat)[:200]}", transient=True)
        ids = {"conversation_id": str(chat["conversation_id"]), "chat_id": str(chat["id"])}
        state = {**request.provider_state, STATE_KEY: ids["conversation_id"]}
        finished = False
        try:
            while str(chat.get("status") or "") in PENDING_STATUSES:
                # An empty delta is progress for the idle timeout, never text (the facade drops it).
                yield Delta("")
                await asyncio.sleep(POLL_INTERVAL)
                chat = await self._call("GET", "v3/chat/retrieve", params=ids)
                if not isinstance(chat, dict):
                    raise ProviderBadResponse("coze: retrieve returned no chat", transient=True)
            finished = True
            status = str(chat.get("status") or "")
            if status == "failed":
                error = chat.get("last_error") or {}
                raise ProviderError(f"coze chat failed {error.get('code')}: {error.get('msg')}", transient=True)
            if status == "requires_action":
                finished = False  # cancel it: a chat waiting for tool output blocks the conversation
                raise ProviderBadResponse("coze bot requires a tool call we cannot serve", transient=False)
            if status == "canceled":
                raise ProviderError("coze chat was canceled", transient=False)
            if status != "completed":
                raise ProviderBadResponse(f"coze: unexpected chat status {status!r}", transient=True)
            messages = await self._call("GET", "v3/chat/message/list", params=ids)
        finally:
            if not finished:
                self._cancel_later(ids)
        answers, follow_ups = _read_messages(messages)
        text = "\n\n".join(answers)
        if text:
            yield Delta(text)
        yield Done(text=text, usage=_usage(chat), quick_replies=tuple(follow_ups), provider_state=state)

    def _cancel_later(self, ids: dict[str, str]) -> None:
        """Cancel a chat we stopped waiting for, without holding up the caller (which may be timing out)."""

        async def cancel() -> None:
            try:
                async with asyncio.timeout(CANCEL_TIMEOUT):
                    await self._call("POST", "v3/chat/cancel", params={}, json=ids)
            except Exception as exc:  # 4104: already finished; nothing else to do either way
                logger.info("coze: cancel of chat %s not done: %s", ids["chat_id"], exc)

        task = asyncio.get_running_loop().create_task(cancel())
        _background.add(task)
        task.add_done_callback(_background.discard)

    async def _events(self, stream: AsyncIterator[SSEEvent], request: BotRequest) -> AsyncGenerator[StreamEvent, None]:
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
                usage = _usage(data)
                completed = True
            elif name == "conversation.chat.failed":
                error = data.get("last_error") or {}
                raise ProviderError(f"coze chat failed {error.get('code')}: {error.get('msg')}", transient=True)
            elif name == "conversation.chat.requires_action":
                raise ProviderBadResponse("coze bot requires a tool call we cannot serve", transient=False)
        if not completed:
            raise ProviderBadResponse("coze stream ended before conversation.chat.completed", transient=True)
        yield Done(
            text="\n\n".join(a for a in answers if a),
            usage=usage,
            quick_replies=tuple(follow_ups),
            provider_state=state,
        )


def _read_messages(messages: Any) -> tuple[list[str], list[str]]:
    """Answers (a bot can give several) and follow-up suggestions from /v3/chat/message/list."""
    if not isinstance(messages, list):
        raise ProviderBadResponse("coze: message list is not a list", transient=True)
    answers: list[str] = []
    follow_ups: list[str] = []
    for message in messages:
        if not isinstance(message, dict) or message.get("role", "assistant") != "assistant":
            continue
        content = str(message.get("content") or "")
        if message.get("type") == "answer" and content:
            answers.append(content)
        elif message.get("type") == "follow_up" and content:
            follow_ups.append(content)
    return answers, follow_ups
