"""Fake Coze API v3: POST /v3/chat streaming with no-space `event:`/`data:` lines, per the protocols doc."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from tests.fakes.http import FakeServer, Request, Response, StreamResponse, json_response, sse

CHAT_ID = "7382159487131697202"
NEW_CONVERSATION_ID = "7381473525342978089"
BOT_ID = "7379462189365198898"


def coze_event(name: str, data: Any) -> bytes:
    return sse(data, name, space=False)


class FakeCoze(FakeServer):
    follow_ups: tuple[str, ...] = ("When will it arrive?", "Can I change the address?")
    answers: int = 1

    async def handle(self, request: Request) -> Response | StreamResponse:
        b = self.behaviour
        if not self.check_auth(request):
            return json_response({"code": 4100, "msg": "authentication is invalid", "detail": {"logid": "x"}}, 401)
        if b.error_json_200:
            # coze-py's own fixture: a stream request answered with HTTP 200 JSON.
            return json_response({"code": 4000, "msg": "json fail"}, 200)
        if b.fail_status == 429:
            return json_response({"code": 4013, "msg": "rate limited"}, 429)
        if b.fail_status:
            return json_response({"code": 5000, "msg": "internal error"}, b.fail_status)
        if not request.path.endswith("/v3/chat"):
            return json_response({"code": 4200, "msg": "not found"}, 404)
        body = request.json() or {}
        if not body.get("bot_id") or not body.get("user_id"):
            return json_response({"code": 4000, "msg": "bot_id and user_id are required"}, 200)
        conversation_id = request.query.get("conversation_id") or NEW_CONVERSATION_ID
        return StreamResponse(self._events(conversation_id), truncate=b.truncate)

    async def _events(self, conversation_id: str) -> AsyncIterator[bytes]:
        b = self.behaviour
        chat = {"id": CHAT_ID, "conversation_id": conversation_id, "bot_id": BOT_ID,
                "last_error": {"code": 0, "msg": ""}}
        zero = {"token_count": 0, "output_count": 0, "input_count": 0}
        yield coze_event("conversation.chat.created", {**chat, "status": "created", "usage": zero})
        yield coze_event("conversation.chat.in_progress", {**chat, "status": "in_progress", "usage": zero})
        if b.first_token_delay:
            await asyncio.sleep(b.first_token_delay)
        for n in range(self.answers):
            msg = {"id": f"73821594941234708{n:02d}", "conversation_id": conversation_id, "bot_id": BOT_ID,
                   "role": "assistant", "type": "answer", "content_type": "text", "chat_id": CHAT_ID}
            for i, piece in enumerate(b.chunks):
                if i and b.chunk_delay:
                    await asyncio.sleep(b.chunk_delay)
                yield coze_event("conversation.message.delta", {**msg, "content": piece})
                if b.error_mid_stream:
                    yield coze_event("conversation.chat.failed", {**chat, "status": "failed",
                                                                  "last_error": {"code": 5000,
                                                                                 "msg": "event interval error"}})
                    yield b'event:done\ndata:"[DONE]"\n\n'
                    return
            if b.truncate:
                return
            yield coze_event("conversation.message.completed", {**msg, "content": "".join(b.chunks)})
        for n, text in enumerate(self.follow_ups):
            yield coze_event("conversation.message.completed", {
                "id": f"99{n}", "conversation_id": conversation_id, "bot_id": BOT_ID, "role": "assistant",
                "type": "follow_up", "content": text, "content_type": "text", "chat_id": CHAT_ID})
        yield coze_event("conversation.message.completed", {
            "id": "7382159494123470859", "conversation_id": conversation_id, "role": "assistant", "type": "verbose",
            "content": '{"msg_type":"generate_answer_finish","data":"{\\"finish_reason\\":0}"}',
            "content_type": "text", "chat_id": CHAT_ID})
        yield coze_event("conversation.chat.completed", {**chat, "status": "completed", "completed_at": 1718792949,
                                                         "usage": {"token_count": 633, "output_count": 19,
                                                                   "input_count": 614}})
        yield b'event:done\ndata:"[DONE]"\n\n'
