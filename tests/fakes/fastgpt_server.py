"""Fake FastGPT OpenAPI: POST /api/v1/chat/completions, plain (detail=false) and detail streams, and
POST /api/core/dataset/searchTest (knowledge-base search) in both documented response shapes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from tests.fakes.http import FakeServer, Request, Response, StreamResponse, json_response, sse


def chunk(content: str | None, finish: str | None = None) -> dict:
    return {
        "id": "",
        "object": "",
        "created": 0,
        "model": "",
        "choices": [{"delta": {"role": "assistant", "content": content}, "index": 0, "finish_reason": finish}],
    }


DATASET_ID = "6593e137231a2be9c5603ba7"
PASSAGES: list[dict[str, Any]] = [
    {
        "id": "6a54aa01",
        "q": "退货政策: 签收后 7 天内可无理由退货。",
        "a": "",
        "chunkIndex": 3,
        "sourceName": "售后手册.pdf",
        "score": 0.82,
    },
    {
        "id": "6a54aa02",
        "q": "How long do refunds take?",
        "a": "Refunds reach the card in 5 working days.",
        "chunkIndex": 9,
        "sourceName": "refunds-faq.csv",
        "score": 0.91,
    },
    {
        "id": "6a54aa03",
        "q": "Shipping is free above 99 yuan.",
        "a": "",
        "chunkIndex": 1,
        "sourceName": "shipping.md",
        "score": 0.35,
    },
]


class FakeFastGPT(FakeServer):
    # The newer servers send every error as HTTP 500; older ones used HTTP 200.
    error_status = 500
    # Dataset search: "list" is the newer `data.list` with typed scores, "array" the documented `data: [...]`.
    search_shape = "list"
    search_delay = 0.0
    search_failure: dict[str, Any] | None = None

    async def handle(self, request: Request) -> Response | StreamResponse:
        b = self.behaviour
        if not self.check_auth(request):
            return json_response(
                {"code": 514, "statusText": "unAuthApiKey", "message": "Api Key 不合法", "data": None},
                200 if b.error_json_200 else self.error_status,
            )
        if request.path == "/api/core/dataset/searchTest":
            return await self._search(request)
        if request.path != "/api/v1/chat/completions":
            return json_response({"code": 404, "statusText": "", "message": "not found", "data": None}, 404)
        if b.error_json_200:
            return json_response(
                {"code": 510, "statusText": "insufficientQuota", "message": "账号余额不足", "data": None}, 200
            )
        if b.fail_status:
            return json_response(
                {"code": 500, "statusText": "", "message": "internal error", "data": None}, b.fail_status
            )
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
        yield sse(
            [
                {"moduleName": "AI 对话", "moduleType": "chatNode", "tokens": 33, "runningTime": 1.42},
                {"moduleName": "知识库搜索", "moduleType": "datasetSearchNode", "tokens": 7},
            ],
            "flowResponses",
        )

    async def _search(self, request: Request) -> Response:
        if self.search_delay:
            await asyncio.sleep(self.search_delay)
        if self.search_failure is not None:
            return json_response({"statusText": "", "data": None, **self.search_failure}, self.error_status)
        body = request.json() or {}
        if not body.get("text") or not isinstance(body.get("limit"), int):
            return json_response(
                {"code": 500, "statusText": "", "message": "text and limit are required", "data": None},
                self.error_status,
            )
        if body.get("datasetId") != DATASET_ID:
            return json_response(
                {"code": 501000, "statusText": "unExistDataset", "message": "知识库不存在", "data": None},
                self.error_status,
            )
        items = [
            {**p, "datasetId": DATASET_ID, "collectionId": "c1", "sourceId": "s1"}
            for p in PASSAGES
            if p["score"] >= float(body.get("similarity") or 0)
        ]
        if self.search_shape == "array":
            return json_response({"code": 200, "statusText": "", "data": items})
        typed = [{**p, "score": [{"type": "embedding", "value": p["score"], "index": n}]} for n, p in enumerate(items)]
        return json_response(
            {
                "code": 200,
                "statusText": "",
                "message": "",
                "data": {
                    "list": typed,
                    "duration": "0.230s",
                    "searchMode": body.get("searchMode"),
                    "limit": body["limit"],
                    "similarity": body.get("similarity"),
                    "usingReRank": bool(body.get("usingReRank")),
                    "usingSimilarityFilter": True,
                },
            }
        )
