"""Fake FastGPT OpenAPI: POST /api/v1/chat/completions, plain (detail=false) and detail streams."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from tests.fakes.http import FakeServer, Request, Response, StreamResponse, json_response, sse


def chunk(content: str | None, finish: str | None = None) -> dict:
    return {"id": "", "object": "", "created": 0, "model": "",
            "choices": [{"delta": {"role": "assistant", "content": content}, "index": 0, "finish_reason": finish}]}


class FakeFastGPT(FakeServer):
    # The newer servers send every error as HTTP 500; older ones used HTTP 200.
    error_status = 500

    async def handle(self, request: Request) -> Response | StreamResponse:
        b = self.behaviour
        if not self.check_auth(request):
            return json_response({"code": 514, "statusText": "unAuthApiKey", "message": "Api Key 不合法", "data": None},
                                 200 if b.error_json_200 else self.error_status)
        if b.error_json_200:
            return json_response({"code": 510, "statusText": "insufficientQuota", "message": "账号余额不足",
                                  "data": None}, 200)
        if b.fail_status:
            return json_response({"code": 500, "statusText": "", "message": "internal error", "data": None},
                                 b.fail_status)
        body = request.json() or {}
        if len(str(body.get("chatId", ""))) >= 250:
            return json_response({"code": 500, "statusText": "", "message": "chatId too long", "data": None}, 500)
        return StreamResponse(self._detail() if body.get("detail") else self._plain(), truncate=b.truncate)

    async def _plain(self) -> AsyncIterator[bytes]:
        b = self.behaviour
        if b.first_token_delay:
            await asyncio.sleep(b.first_token_delay)
        for i, piece in enumerate(b.chunks):
            if i and b.chunk_delay:
                await asyncio.sleep(b.chunk_delay)
            yield sse(chunk(piece))
            if b.keepalive:
                yield sse(chunk(""))
        if b.truncate:
            return
        yield sse(chunk(None, "stop"))
        yield b"data: [DONE]\n\n"

    async def _detail(self) -> AsyncIterator[bytes]:
        b = self.behaviour
        yield sse({"status": "running", "name": "AI 对话"}, "flowNodeStatus")
        if b.first_token_delay:
            await asyncio.sleep(b.first_token_delay)
        for i, piece in enumerate(b.chunks):
            if i and b.chunk_delay:
                await asyncio.sleep(b.chunk_delay)
            yield sse(chunk(piece), "answer")
            if b.error_mid_stream:
                yield sse({"message": "AI 对话 node failed"}, "error")
                return
        if b.truncate:
            return
        yield sse(chunk(None, "stop"), "answer")
        yield b"event: answer\ndata: [DONE]\n\n"
        yield sse([{"moduleName": "AI 对话", "moduleType": "chatNode", "tokens": 33, "runningTime": 1.42},
                   {"moduleName": "知识库搜索", "moduleType": "datasetSearchNode", "tokens": 7}], "flowResponses")
