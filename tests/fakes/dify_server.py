"""Fake Dify Service API: POST /v1/chat-messages and /v1/workflows/run (streaming), per the protocols doc."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

from tests.fakes.http import FakeServer, Request, Response, StreamResponse, json_response, sse

TASK_ID = "900bbd43-dc0b-4383-a372-aa6e6c414227"
MESSAGE_ID = "5ad4cb98-f0c7-4085-b384-88c403be6290"


def dify_error(code: str, message: str, status: int, headers: dict[str, str] | None = None) -> Response:
    return json_response({"code": code, "message": message, "status": status}, status, headers)


class FakeDify(FakeServer):
    # Chatflow apps send workflow_* events around the messages and end with workflow_finished.
    chatflow = False
    message_replace: str | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conversations: set[str] = set()
        self.uploads: dict[str, tuple[str, str, bytes, str]] = {}  # id -> (name, mime, bytes, user)
        self.files_seen: list[dict[str, Any]] = []  # the `files` of each chat request

    async def handle(self, request: Request) -> Response | StreamResponse:
        b = self.behaviour
        auth = request.headers.get("authorization", "")
        if not auth.lower().startswith("bearer ") or (b.api_key and auth[7:] != b.api_key):
            return dify_error(
                "unauthorized", "Access token is invalid", 401, {"WWW-Authenticate": 'Bearer realm="api"'}
            )
        if b.fail_status == 429:
            headers = {"retry-after": str(b.retry_after)} if b.retry_after else {}
            return dify_error("too_many_requests", "Too many requests. Please try again later.", 429, headers)
        if b.fail_status:
            return dify_error("internal_server_error", "The server encountered an internal error.", b.fail_status)
        if request.path.endswith("/files/upload"):
            return self._upload(request)
        body = request.json() or {}
        if not body.get("user"):
            return dify_error("invalid_param", "Arg user must be provided.", 400)
        for item in body.get("files") or []:
            refused = self._check_file(item, body["user"])
            if refused is not None:
                return refused
            self.files_seen.append(item)
        if request.path.endswith("/workflows/run"):
            return StreamResponse(self._workflow(), truncate=b.truncate)
        if not request.path.endswith("/chat-messages"):
            return dify_error("not_found", "Not found", 404)
        conversation_id = body.get("conversation_id") or ""
        if conversation_id and conversation_id not in self.conversations:
            return dify_error("not_found", "Conversation Not Exists.", 404)
        if not conversation_id:
            conversation_id = str(uuid.uuid4())
            self.conversations.add(conversation_id)
        return StreamResponse(self._chat(conversation_id), truncate=b.truncate)

    def _upload(self, request: Request) -> Response:
        """POST /files/upload: multipart `file` and `user`; 201 with the file's id."""
        form = request.form()
        upload = form.get("file")
        if not isinstance(upload, tuple):
            return dify_error("no_file_uploaded", "Please upload your file.", 400)
        if not form.get("user"):
            return dify_error("invalid_param", "Arg user must be provided.", 400)
        name, mime, data = upload
        if not mime.startswith("image/"):
            return dify_error("unsupported_file_type", "File type not allowed.", 415)
        file_id = str(uuid.uuid4())
        self.uploads[file_id] = (name, mime, data, form["user"])
        return json_response(
            {
                "id": file_id,
                "name": name,
                "size": len(data),
                "extension": name.rsplit(".", 1)[-1] if "." in name else "",
                "mime_type": mime,
                "created_by": form["user"],
                "created_at": 1705407629,
            },
            201,
        )

    def _check_file(self, item: Any, user: str) -> Response | None:
        if not isinstance(item, dict) or item.get("type") not in ("image", "document", "audio", "video", "custom"):
            return dify_error("invalid_param", "Invalid file type.", 400)
        if item.get("transfer_method") == "local_file":
            upload = self.uploads.get(str(item.get("upload_file_id")))
            if upload is None or upload[3] != user:
                return dify_error("invalid_param", "Invalid upload file id.", 400)
        elif item.get("transfer_method") != "remote_url" or not item.get("url"):
            return dify_error("invalid_param", "Invalid transfer method.", 400)
        return None

    async def _chat(self, conversation_id: str) -> AsyncIterator[bytes]:
        b = self.behaviour
        common = {
            "task_id": TASK_ID,
            "id": MESSAGE_ID,
            "message_id": MESSAGE_ID,
            "conversation_id": conversation_id,
            "created_at": 1705398420,
        }
        if b.first_token_delay:
            await asyncio.sleep(b.first_token_delay)
        if self.chatflow:
            yield sse(
                {
                    "event": "workflow_started",
                    "task_id": TASK_ID,
                    "workflow_run_id": "fb47",
                    "data": {"id": "fb47", "workflow_id": "7c3e", "inputs": {}, "created_at": 1679586595},
                }
            )
        for i, piece in enumerate(b.chunks):
            if i and b.chunk_delay:
                await asyncio.sleep(b.chunk_delay)
            if b.keepalive:
                yield b"event: ping\n\n"
            yield sse({"event": "message", **common, "answer": piece})
            if b.error_mid_stream:
                if self.chatflow:
                    yield sse(
                        {
                            "event": "workflow_finished",
                            "task_id": TASK_ID,
                            "workflow_run_id": "fb47",
                            "data": {"id": "fb47", "status": "failed", "outputs": {}, "error": "llm failed"},
                        }
                    )
                yield sse(
                    {
                        "event": "error",
                        "conversation_id": conversation_id,
                        "message_id": MESSAGE_ID,
                        "created_at": 1705398420,
                        "code": "completion_request_error",
                        "status": 400,
                        "message": "[openai] Rate limit exceeded",
                    }
                )
                return
        if b.truncate:
            return
        if self.message_replace is not None:
            yield sse({"event": "message_replace", **common, "answer": self.message_replace})
        yield sse(
            {
                "event": "message_end",
                **common,
                "metadata": {
                    "usage": {
                        "prompt_tokens": 1033,
                        "completion_tokens": 4,
                        "total_tokens": 1037,
                        "total_price": "0.0010410",
                        "currency": "USD",
                        "latency": 1.38,
                    },
                    "retriever_resources": [
                        {
                            "position": 1,
                            "dataset_id": "101b",
                            "dataset_name": "FAQ",
                            "document_id": "8dd1",
                            "document_name": "Shipping",
                            "segment_id": "ed59",
                            "score": 0.98,
                            "content": "Orders ship in 24h",
                        }
                    ],
                },
            }
        )
        if self.chatflow:
            yield sse(
                {
                    "event": "workflow_finished",
                    "task_id": TASK_ID,
                    "workflow_run_id": "fb47",
                    "data": {
                        "id": "fb47",
                        "status": "succeeded",
                        "outputs": {"answer": "".join(b.chunks)},
                        "total_tokens": 1037,
                        "elapsed_time": 1.2,
                    },
                }
            )

    async def _workflow(self) -> AsyncIterator[bytes]:
        b = self.behaviour
        base = {"task_id": TASK_ID, "workflow_run_id": "fb47"}
        yield sse({"event": "workflow_started", **base, "data": {"id": "fb47", "workflow_id": "7c3e", "inputs": {}}})
        yield sse({"event": "node_started", **base, "data": {"id": "ne1", "node_id": "llm", "node_type": "llm"}})
        for piece in b.chunks:
            if b.keepalive:
                yield b"event: ping\n\n"
            data = {"text": piece, "from_variable_selector": ["llm", "text"]}
            yield sse({"event": "text_chunk", **base, "data": data})
        if b.truncate:
            return
        yield sse({"event": "node_finished", **base, "data": {"id": "ne1", "status": "succeeded", "outputs": {}}})
        yield sse(
            {
                "event": "workflow_finished",
                **base,
                "data": {
                    "id": "fb47",
                    "workflow_id": "7c3e",
                    "status": "succeeded",
                    "outputs": {"result": "".join(b.chunks)},
                    "error": None,
                    "elapsed_time": 1.23,
                    "total_tokens": 150,
                    "total_steps": 3,
                },
            }
        )
