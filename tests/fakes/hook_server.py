"""A tenant's business system for hook tests: the same hooks over HTTP (JSON) and gRPC.

Both check the signature the way docs/hooks.md tells a hook author to (HMAC-SHA256 of
"<timestamp>.<body>" with the shared secret), written here independently of the product's
code, and answer per hook point from `replies` (a dict, or a function of the request).
`hold` (a threading.Event) keeps every reply waiting until the test sets it; `delay`
sleeps first. Each call is recorded as the JSON dict the product sent (`calls`).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import threading
from collections.abc import Callable
from typing import Any

import orjson

from tests.fakes.http import FakeServer, Request, Response, json_response

Replies = dict[str, dict[str, Any]] | Callable[[dict[str, Any]], dict[str, Any]]


def expected_signature(secret: str, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


class _Behaviour:
    def __init__(self, replies: Replies | None, secret: str) -> None:
        self.replies: Replies = replies or {}
        self.secret = secret
        self.hold: threading.Event | None = None
        self.delay = 0.0
        self.fail_status: int | None = None
        self.calls: list[dict[str, Any]] = []
        self.bad_signatures = 0

    def reply_for(self, call: dict[str, Any]) -> dict[str, Any]:
        if callable(self.replies):
            return self.replies(call)
        return self.replies.get(call.get("point", ""), {})

    async def wait(self) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.hold is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.hold.wait, 60)


class FakeHookHTTP(FakeServer):
    def __init__(self, replies: Replies | None = None, secret: str = "hook-secret") -> None:
        super().__init__()
        self.hook = _Behaviour(replies, secret)

    @property
    def calls(self) -> list[dict[str, Any]]:
        return self.hook.calls

    async def handle(self, request: Request) -> Response:
        ts = request.headers.get("x-kefu-timestamp", "")
        if request.headers.get("x-kefu-signature") != expected_signature(self.hook.secret, ts, request.body):
            self.hook.bad_signatures += 1
            return json_response({"error": "bad signature"}, 401)
        call = request.json()
        self.hook.calls.append(call)
        await self.hook.wait()
        if self.hook.fail_status:
            return json_response({"error": "down"}, self.hook.fail_status)
        return json_response(self.hook.reply_for(call))


class FakeHookGRPC:
    """kefu.hooks.v1.KefuHooks on 127.0.0.1, served by grpc.aio in a thread of its own."""

    def __init__(self, replies: Replies | None = None, secret: str = "hook-secret") -> None:
        self.hook = _Behaviour(replies, secret)
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None

    @property
    def calls(self) -> list[dict[str, Any]]:
        return self.hook.calls

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> FakeHookGRPC:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            loop.run_until_complete(self._serve(ready))
            loop.close()

        self._thread = threading.Thread(target=run, daemon=True, name="FakeHookGRPC")
        self._thread.start()
        ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.hook.hold is not None:
            self.hook.hold.set()
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)

    async def _serve(self, ready: threading.Event) -> None:
        import grpc
        from google.protobuf import json_format

        from bots.hooks import kefu_hooks_pb2 as pb
        from bots.hooks import kefu_hooks_pb2_grpc as pb_grpc

        hook = self.hook

        class Servicer(pb_grpc.KefuHooksServicer):
            async def Call(self, request: Any, context: Any) -> Any:  # noqa: N802 (the proto's name)
                metadata = dict(context.invocation_metadata())
                ts = metadata.get("x-kefu-timestamp", "")
                if metadata.get("x-kefu-signature") != expected_signature(hook.secret, ts, request.SerializeToString()):
                    hook.bad_signatures += 1
                    await context.abort(grpc.StatusCode.UNAUTHENTICATED, "bad signature")
                raw = json_format.MessageToDict(
                    request, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
                )
                # The same shape as the JSON call, so one test reads both transports.
                call = {
                    "point": request.point,
                    "tenant_id": request.tenant_id,
                    "conversation_id": request.conversation_id,
                    "bot_id": request.bot_id or None,
                    "message": {"sender": request.sender, "kind": request.kind, "text": request.text},
                    "visitor": raw.get("visitor", {}),
                    "history": [{"role": h.role, "text": h.text} for h in request.history],
                    "data": orjson.loads(request.data_json or "{}"),
                }
                hook.calls.append(call)
                await hook.wait()
                if hook.fail_status:
                    await context.abort(grpc.StatusCode.UNAVAILABLE, "down")
                reply = dict(hook.reply_for(call))
                if "answer" in reply:  # the JSON reply's answer is the proto's text
                    reply.setdefault("text", reply.pop("answer"))
                return json_format.ParseDict(
                    {k: v for k, v in reply.items() if k in pb.HookReply.DESCRIPTOR.fields_by_name},
                    pb.HookReply(),
                )

        server = grpc.aio.server()
        pb_grpc.add_KefuHooksServicer_to_server(Servicer(), server)
        self.port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        self._stop = asyncio.Event()
        ready.set()
        await self._stop.wait()
        await server.stop(0.5)
