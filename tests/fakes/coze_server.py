"""Fake Coze API v3, per the protocols doc.

POST /v3/chat streams with no-space `event:`/`data:` lines; with `stream: false` it
answers an envelope at once and the chat is then polled through /v3/chat/retrieve,
read through /v3/chat/message/list and stopped through /v3/chat/cancel.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from tests.fakes.http import FakeServer, Request, Response, StreamResponse, json_response, sse

CHAT_ID = "7382159487131697202"
NEW_CONVERSATION_ID = "7381473525342978089"
BOT_ID = "7379462189365198898"


def coze_event(name: str, data: Any) -> bytes:
    return sse(data, name, space=False)


def envelope(data: Any) -> Response:
    return json_response({"code": 0, "msg": "", "data": data})


def coze_failure(code: int, msg: str, status: int = 200) -> Response:
    return json_response({"code": code, "msg": msg, "detail": {"logid": "20261122fake"}}, status)


@dataclass
class PolledChat:
    """A non-streaming chat: `in_progress` until it has been retrieved `polls_needed` times."""

    conversation_id: str
    chat_id: str
    polls_needed: int
    final_status: str
    polls: int = 0
    canceled: bool = False
    retrieved_at: list[float] = field(default_factory=list)

    def status(self) -> str:
        if self.canceled:
            return "canceled"
        return self.final_status if self.polls >= self.polls_needed else "in_progress"


class FakeCoze(FakeServer):
    follow_ups: tuple[str, ...] = ("When will it arrive?", "Can I change the address?")
    answers: int = 1
    # Polling mode: how many retrieves until the chat leaves in_progress, and how it ends.
    polls_needed: int = 1
    final_status: str = "completed"
    # An error envelope (HTTP 200, code != 0) on this path of the polling flow, e.g. "/v3/chat/retrieve".
    fail_path: str = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.chats: dict[str, PolledChat] = {}
        self.cancels: list[dict[str, Any]] = []
        self.uploads: dict[str, tuple[str, str, bytes]] = {}  # file id -> (name, mime, bytes)
        self.parts_seen: list[list[dict[str, Any]]] = []  # object_string questions, parsed

    def _upload(self, request: Request) -> Response:
        """POST /v1/files/upload: multipart `file`; the envelope's data carries the file id."""
        upload = request.form().get("file")
        if not isinstance(upload, tuple) or not upload[2]:
            return json_response({"code": 4000, "msg": "file is required"}, 200)
        name, mime, data = upload
        file_id = str(7390000000000000000 + len(self.uploads))
        self.uploads[file_id] = (name, mime, data)
        return json_response(
            {
                "code": 0,
                "msg": "",
                "data": {"id": file_id, "bytes": len(data), "created_at": 1718792949, "file_name": name},
            }
        )

    def _check_parts(self, content: str) -> Response | None:
        try:
            parts = orjson.loads(content)
        except orjson.JSONDecodeError:
            return json_response({"code": 4000, "msg": "object_string content is not JSON"}, 200)
        if not isinstance(parts, list):
            return json_response({"code": 4000, "msg": "object_string content must be an array"}, 200)
        for part in parts:
            kind = part.get("type")
            if kind == "text" and isinstance(part.get("text"), str):
                continue
            if kind in ("image", "file", "audio") and (part.get("file_id") in self.uploads or part.get("file_url")):
                continue
            return json_response({"code": 4000, "msg": f"invalid object_string part {part!r}"}, 200)
        self.parts_seen.append(parts)
        return None

    async def handle(self, request: Request) -> Response | StreamResponse:
        b = self.behaviour
        if not self.check_auth(request):
            return coze_failure(4100, "authentication is invalid", 401)
        if b.error_json_200:
            # coze-py's own fixture: a stream request answered with HTTP 200 JSON.
            return json_response({"code": 4000, "msg": "json fail"}, 200)
        if b.fail_status == 429:
            return json_response({"code": 4013, "msg": "rate limited"}, 429)
        if b.fail_status:
            return json_response({"code": 5000, "msg": "internal error"}, b.fail_status)
        if self.fail_path and request.path.endswith(self.fail_path):
            return coze_failure(5000, "internal error while " + self.fail_path)
        path = request.path
        if path.endswith("/v1/files/upload") and request.method == "POST":
            return self._upload(request)
        if path.endswith("/v3/chat/retrieve") and request.method in ("GET", "POST"):
            return self._retrieve(request)
        if path.endswith("/v3/chat/message/list") and request.method in ("GET", "POST"):
            return self._message_list(request)
        if path.endswith("/v3/chat/cancel") and request.method == "POST":
            return self._cancel(request)
        if not path.endswith("/v3/chat") or request.method != "POST":
            return coze_failure(4200, "not found", 404)
        body = request.json() or {}
        if not body.get("bot_id") or not body.get("user_id"):
            return json_response({"code": 4000, "msg": "bot_id and user_id are required"}, 200)
        for message in body.get("additional_messages") or []:
            if message.get("content_type") == "object_string":
                refused = self._check_parts(message.get("content", ""))
                if refused is not None:
                    return refused
        conversation_id = request.query.get("conversation_id") or NEW_CONVERSATION_ID
        if body.get("stream") is False:
            return self._create(conversation_id, body)
        return StreamResponse(self._events(conversation_id), truncate=b.truncate)

    # --- non-streaming chat and polling ---

    def _create(self, conversation_id: str, body: dict[str, Any]) -> Response:
        if body.get("auto_save_history") is not True:
            # Without stored history there is nothing to poll for.
            return coze_failure(4000, "auto_save_history must be true when stream is false")
        if any(
            chat.conversation_id == conversation_id and chat.status() == "in_progress" for chat in self.chats.values()
        ):
            return coze_failure(4016, "a chat is already in progress in this conversation")
        chat = PolledChat(conversation_id, f"{CHAT_ID[:-2]}{len(self.chats):02d}", self.polls_needed, self.final_status)
        self.chats[chat.chat_id] = chat
        return envelope(self._chat_object(chat))

    def _chat(self, request: Request) -> PolledChat | None:
        chat = self.chats.get(request.query.get("chat_id", ""))
        if chat is None or chat.conversation_id != request.query.get("conversation_id"):
            return None
        return chat

    def _retrieve(self, request: Request) -> Response:
        chat = self._chat(request)
        if chat is None:
            return coze_failure(4200, "chat not found")
        chat.polls += 1
        chat.retrieved_at.append(time.monotonic())
        return envelope(self._chat_object(chat))

    def _message_list(self, request: Request) -> Response:
        chat = self._chat(request)
        if chat is None:
            return coze_failure(4200, "chat not found")
        base = {
            "conversation_id": chat.conversation_id,
            "bot_id": BOT_ID,
            "chat_id": chat.chat_id,
            "role": "assistant",
            "content_type": "text",
        }
        messages = [
            {**base, "id": f"ans{n}", "type": "answer", "content": "".join(self.behaviour.chunks)}
            for n in range(self.answers)
        ]
        messages += [
            {**base, "id": f"fu{n}", "type": "follow_up", "content": text} for n, text in enumerate(self.follow_ups)
        ]
        messages.append(
            {
                **base,
                "id": "verbose",
                "type": "verbose",
                "content": '{"msg_type":"generate_answer_finish","data":"{\\"finish_reason\\":0}"}',
            }
        )
        return envelope(messages)

    def _cancel(self, request: Request) -> Response:
        body = request.json() or {}
        self.cancels.append(body)
        chat = self.chats.get(str(body.get("chat_id")))
        if chat is None or chat.conversation_id != body.get("conversation_id"):
            return coze_failure(4200, "chat not found")
        if chat.status() != "in_progress" and chat.status() != "requires_action":
            return coze_failure(4104, "the chat cannot be cancelled")
        chat.canceled = True
        return envelope(self._chat_object(chat))

    def _chat_object(self, chat: PolledChat) -> dict[str, Any]:
        status = chat.status()
        data: dict[str, Any] = {
            "id": chat.chat_id,
            "conversation_id": chat.conversation_id,
            "bot_id": BOT_ID,
            "created_at": 1718792949,
            "last_error": {"code": 0, "msg": ""},
            "status": status,
        }
        if status == "completed":
            data.update(completed_at=1718792950, usage={"token_count": 633, "output_count": 19, "input_count": 614})
        elif status == "failed":
            data.update(failed_at=1718792950, last_error={"code": 5000, "msg": "model overloaded"})
        elif status == "requires_action":
            data["required_action"] = {"type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": []}}
        return data

    async def _events(self, conversation_id: str) -> AsyncIterator[bytes]:
        b = self.behaviour
        chat = {
            "id": CHAT_ID,
            "conversation_id": conversation_id,
            "bot_id": BOT_ID,
            "last_error": {"code": 0, "msg": ""},
        }
        zero = {"token_count": 0, "output_count": 0, "input_count": 0}
        yield coze_event("conversation.chat.created", {**chat, "status": "created", "usage": zero})
        yield coze_event("conversation.chat.in_progress", {**chat, "status": "in_progress", "usage": zero})
        if b.first_token_delay:
            await asyncio.sleep(b.first_token_delay)
        for n in range(self.answers):
            msg = {
                "id": f"73821594941234708{n:02d}",
                "conversation_id": conversation_id,
                "bot_id": BOT_ID,
                "role": "assistant",
                "type": "answer",
                "content_type": "text",
                "chat_id": CHAT_ID,
            }
            for i, piece in enumerate(b.chunks):
                if i and b.chunk_delay:
                    await asyncio.sleep(b.chunk_delay)
                yield coze_event("conversation.message.delta", {**msg, "content": piece})
                if b.error_mid_stream:
                    yield coze_event(
                        "conversation.chat.failed",
                        {**chat, "status": "failed", "last_error": {"code": 5000, "msg": "event interval error"}},
                    )
                    yield b'event:done\ndata:"[DONE]"\n\n'
                    return
            if b.truncate:
                return
            yield coze_event("conversation.message.completed", {**msg, "content": "".join(b.chunks)})
        for n, text in enumerate(self.follow_ups):
            yield coze_event(
                "conversation.message.completed",
                {
                    "id": f"99{n}",
                    "conversation_id": conversation_id,
                    "bot_id": BOT_ID,
                    "role": "assistant",
                    "type": "follow_up",
                    "content": text,
                    "content_type": "text",
                    "chat_id": CHAT_ID,
                },
            )
        yield coze_event(
            "conversation.message.completed",
            {
                "id": "7382159494123470859",
                "conversation_id": conversation_id,
                "role": "assistant",
                "type": "verbose",
                "content": '{"msg_type":"generate_answer_finish","data":"{\\"finish_reason\\":0}"}',
                "content_type": "text",
                "chat_id": CHAT_ID,
            },
        )
        yield coze_event(
            "conversation.chat.completed",
            {
                **chat,
                "status": "completed",
                "completed_at": 1718792949,
                "usage": {"token_count": 633, "output_count": 19, "input_count": 614},
            },
        )
        yield b'event:done\ndata:"[DONE]"\n\n'
