"""Dify Service API: chat-messages (chatbot, agent, chatflow apps) and workflows/run (workflow apps).

Dify keeps the conversation on its side; we keep only its `conversation_id` in the
provider state and send it back with the same `user` on later turns.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Any

import httpx2

from bots.interface import (
    BotRequest,
    Delta,
    Done,
    MediaInput,
    ProviderBadResponse,
    ProviderError,
    Source,
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

STATE_KEY = "dify_conversation_id"
# 429 too_many_requests is the concurrency cap (retry); rate_limit_error is the plan quota (do not).
NON_TRANSIENT_CODES = {
    "rate_limit_error",
    "provider_quota_exceeded",
    "provider_not_initialize",
    "model_currently_not_support",
    "app_unavailable",
    "not_chat_app",
    "invalid_param",
}


def dify_error(status: int, body: Any, retry_after: float | None = None) -> ProviderError:
    code = body.get("code", "") if isinstance(body, dict) else ""
    message = body.get("message", "") if isinstance(body, dict) else str(body)
    transient = False if code in NON_TRANSIENT_CODES else None
    return error_for_status(status, f"dify {code}: {message}", retry_after=retry_after, transient=transient)


def _usage(raw: dict[str, Any] | None) -> Usage:
    raw = raw or {}
    return Usage(
        int(raw.get("prompt_tokens") or 0), int(raw.get("completion_tokens") or 0), int(raw.get("total_tokens") or 0)
    )


def _sources(resources: list[dict[str, Any]] | None) -> tuple[Source, ...]:
    return tuple(
        Source(
            title=str(r.get("document_name") or r.get("dataset_name") or ""),
            content=str(r.get("content") or ""),
            score=r.get("score"),
        )
        for r in resources or ()
    )


DEFAULT_IMAGE_QUESTION = "Please look at this image."


class DifyProvider(Provider):
    kind = "dify"

    @property
    def app_type(self) -> str:
        return str(self.config.extra.get("app_type", "chat"))

    def _body(self, request: BotRequest) -> tuple[str, dict[str, Any]]:
        inputs = dict(self.config.extra.get("inputs") or {})
        if self.app_type == "workflow":
            inputs.setdefault(str(self.config.extra.get("query_input", "query")), request.question)
            return "workflows/run", {"inputs": inputs, "user": request.visitor_id, "response_mode": "streaming"}
        return "chat-messages", {
            "inputs": inputs,
            "query": request.question,
            "response_mode": "streaming",
            "conversation_id": request.provider_state.get(STATE_KEY, ""),
            "user": request.visitor_id,
        }

    async def _upload(self, media: MediaInput, user: str) -> str:
        """POST /files/upload (multipart `file`, `user`): the id a chat's `files` refer to."""
        headers = {"Authorization": f"Bearer {self.config.api_key}"}
        try:
            response = await http_client().post(
                join_url(self.config.base_url, "files/upload"),
                files={"file": (media.name or "image", media.data, media.content_type)},
                data={"user": user},
                headers=headers,
                timeout=http_timeout(self.config),
            )
        except httpx2.HTTPError as exc:
            raise transport_error(exc)
        payload = await read_json_body(response)
        if response.status_code not in (200, 201) or not isinstance(payload, dict) or not payload.get("id"):
            raise dify_error(response.status_code if response.status_code >= 400 else 502, payload)
        return str(payload["id"])

    async def _stream(self, request: BotRequest) -> AsyncIterator[StreamEvent]:
        path, body = self._body(request)
        images = [m for m in request.media if m.kind == "image"]
        if images:
            body["files"] = [
                {
                    "type": "image",
                    "transfer_method": "local_file",
                    "upload_file_id": await self._upload(m, request.visitor_id),
                }
                for m in images
            ]
            if "query" in body and not body["query"]:
                body["query"] = DEFAULT_IMAGE_QUESTION  # Dify requires a query
        url = join_url(self.config.base_url, path)
        try:
            async with http_client().stream(
                "POST", url, json=body, headers=auth_headers(self.config), timeout=http_timeout(self.config)
            ) as response:
                if response.status_code != 200 or not is_event_stream(response):
                    payload = await read_json_body(response)
                    status = response.status_code if response.status_code != 200 else 502
                    raise dify_error(status, payload, parse_retry_after(response.headers))
                async with (
                    aclosing(aiter_events(response.aiter_bytes())) as sse_events,
                    aclosing(self._events(sse_events, request)) as events,
                ):
                    async for event in events:
                        yield event
        except httpx2.HTTPError as exc:
            raise transport_error(exc)

    async def _events(self, stream: AsyncIterator[SSEEvent], request: BotRequest) -> AsyncGenerator[StreamEvent, None]:
        state = dict(request.provider_state)
        parts: list[str] = []
        replaced: str | None = None
        workflow_failed = ""
        async for sse in stream:
            if not sse.has_data or sse.event == "ping":
                continue
            try:
                data = sse.json()
            except ValueError:
                raise ProviderBadResponse(f"dify: non-JSON event {sse.data[:80]!r}", transient=True)
            kind = data.get("event")
            if data.get("conversation_id"):
                state[STATE_KEY] = data["conversation_id"]
            if kind in ("message", "agent_message"):
                text = data.get("answer") or ""
                if text:
                    parts.append(text)
                    yield Delta(text)
            elif kind == "text_chunk":
                text = (data.get("data") or {}).get("text") or ""
                if text:
                    parts.append(text)
                    yield Delta(text)
            elif kind == "message_replace":
                # Moderation replaced the answer; the final text must be the replacement.
                replaced = data.get("answer") or ""
            elif kind == "message_end":
                metadata = data.get("metadata") or {}
                final = replaced if replaced is not None else "".join(parts)
                yield Done(
                    text=final,
                    usage=_usage(metadata.get("usage")),
                    sources=_sources(metadata.get("retriever_resources")),
                    provider_state=state,
                )
                return
            elif kind == "workflow_finished":
                info = data.get("data") or {}
                if info.get("status") not in ("succeeded", "partial-succeeded"):
                    workflow_failed = str(info.get("error") or info.get("status"))
                    continue
                if self.app_type != "workflow":
                    continue
                text = "".join(parts) or self._output_text(info.get("outputs") or {})
                total = int(info.get("total_tokens") or 0)
                yield Done(text=text, usage=Usage(total_tokens=total), provider_state=state)
                return
            elif kind == "error":
                status = int(data.get("status") or 500)
                raise dify_error(status if status >= 400 else 500, data)
        if workflow_failed:
            raise ProviderError(f"dify workflow failed: {workflow_failed}", transient=True)
        raise ProviderBadResponse("dify stream ended without message_end", transient=True)

    def _output_text(self, outputs: dict[str, Any]) -> str:
        key = self.config.extra.get("output_key")
        if key and key in outputs:
            return str(outputs[key])
        for value in outputs.values():
            if isinstance(value, str):
                return value
        return ""
