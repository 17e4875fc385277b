"""One signed call to a hook, over HTTP (JSON) or gRPC (bots/hooks/kefu_hooks.proto).

Both sign the same way: `X-Kefu-Timestamp` (unix seconds) and `X-Kefu-Signature:
sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>`, where the body is the JSON
bytes or the serialized protobuf request; gRPC carries them as metadata
(`x-kefu-timestamp`, `x-kefu-signature`). The timestamp lets a hook refuse replays.

Each raises on any trouble (refused address, timeout, status, undecodable reply); the
runner turns that into the hook's failure mode.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
import weakref
from collections.abc import Callable
from typing import Any

import orjson

from bots.hooks.spec import HookCall, HookSpec

SIGNATURE_HEADER = "X-Kefu-Signature"
TIMESTAMP_HEADER = "X-Kefu-Timestamp"


class HookError(Exception):
    pass


def sign(secret: str, timestamp: str, body: bytes) -> str:
    if not secret:
        return ""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: str, timestamp: str, body: bytes, signature: str, *, tolerance: float = 300.0) -> bool:
    """For hook servers (docs/hooks.md, the gRPC example): the signature matches and is recent."""
    try:
        fresh = abs(time.time() - float(timestamp)) <= tolerance
    except ValueError:
        return False
    return fresh and hmac.compare_digest(sign(secret, timestamp, body), signature)


async def call_http(spec: HookSpec, call: HookCall, timeout: float, guard: Callable[[str], None] | None) -> Any:
    from bots.providers.base import http_client

    if guard is not None:
        guard(spec.url)
    body = orjson.dumps(call.as_json())
    timestamp = str(int(time.time()))
    headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: timestamp, "X-Kefu-Hook-Point": call.point}
    signature = sign(spec.secret, timestamp, body)
    if signature:
        headers[SIGNATURE_HEADER] = signature
    # The loop's pooled client (no new TLS context per call, no redirects followed): a
    # client per call cost tens of milliseconds of the loop's CPU, and with many hooks
    # that starved every other turn on the loop (issue 13, item 4).
    response = await http_client().post(spec.url, content=body, headers=headers, timeout=timeout)
    if response.status_code != 200:
        raise HookError(f"HTTP {response.status_code}")
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError as exc:
        raise HookError(f"reply is not JSON: {exc}") from None


# gRPC channels are reused per (loop, target): a channel holds its HTTP/2 connection.
_channels: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Any]] = weakref.WeakKeyDictionary()


def grpc_target(url: str) -> str:
    """`grpc://host:port` or `host:port` as configured, to grpc's target form."""
    return url.removeprefix("grpc://").rstrip("/")


def _channel(target: str) -> Any:
    import grpc

    loop = asyncio.get_running_loop()
    per_loop = _channels.setdefault(loop, {})
    channel = per_loop.get(target)
    if channel is None:
        # Plain text by default, as an in-cluster service; grpcs:// needs TLS (see docs/hooks.md).
        channel = per_loop[target] = grpc.aio.insecure_channel(target)
    return channel


def _secure_channel(target: str, host: str) -> Any:
    import grpc

    loop = asyncio.get_running_loop()
    per_loop = _channels.setdefault(loop, {})
    key = f"tls:{host}:{target}"
    channel = per_loop.get(key)
    if channel is None:
        # Dialled by address (below); the certificate is still checked against the name.
        options = [("grpc.ssl_target_name_override", host), ("grpc.default_authority", host)]
        channel = per_loop[key] = grpc.aio.secure_channel(target, grpc.ssl_channel_credentials(), options=options)
    return channel


async def _checked_target(target: str) -> tuple[str, str]:
    """`host:port` resolved once and checked by the SSRF guard (kefu.outbound); the
    address to dial (grpc's `ipv4:`/`ipv6:` form, so grpc does not look the name up
    again) and the host name."""
    from kefu import outbound

    host, sep, port = target.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit():
        raise HookError(f"not a host:port gRPC target: {target!r}")
    policy = outbound.OutboundPolicy(allowlist=outbound.settings_allowlist)
    address = (await policy.aresolve(host, int(port)))[0]
    dial = f"ipv6:[{address}]:{port}" if address.version == 6 else f"ipv4:{address}:{port}"
    return dial, host


def to_proto(call: HookCall) -> Any:
    from bots.hooks import kefu_hooks_pb2 as pb

    visitor = call.visitor or {}
    return pb.HookRequest(
        point=call.point,
        tenant_id=call.tenant_id,
        conversation_id=call.conversation_id,
        bot_id=call.bot_id or 0,
        sender=call.sender,
        kind=call.kind,
        text=call.text,
        visitor=pb.Visitor(
            id=int(visitor.get("id") or 0),
            verified=bool(visitor.get("verified")),
            external_id=str(visitor.get("external_id") or ""),
            name=str(visitor.get("name") or ""),
            email=str(visitor.get("email") or ""),
        ),
        history=[pb.HistoryEntry(role=h.get("role", ""), text=h.get("text", "")) for h in call.history],
        data_json=orjson.dumps(call.data).decode() if call.data else "",
    )


def reply_dict(reply: Any) -> dict[str, Any]:
    """The protobuf reply as the JSON reply would be, for the one parser (spec.parse_reply)."""
    return {
        "action": reply.action or "allow",
        "text": reply.text,
        "answer": reply.text,
        "reason": reply.reason,
        "score": reply.score if reply.score else 0.5,
        "title": reply.title,
        "cards": [
            {
                "title": card.title,
                "fields": [{"label": f.label, "value": f.value} for f in card.fields],
                "buttons": [{"label": b.label, "url": b.url, "reply": b.reply} for b in card.buttons],
            }
            for card in reply.cards
        ],
        "team_id": reply.team_id or None,
        "agent_id": reply.agent_id or None,
    }


async def call_grpc(spec: HookSpec, call: HookCall, timeout: float, guard: Callable[[str], None] | None) -> Any:
    import grpc

    from bots.hooks import kefu_hooks_pb2_grpc as pb_grpc

    secure = spec.url.startswith("grpcs://")
    target = grpc_target(spec.url.removeprefix("grpcs://"))
    if guard is not None:
        # The same address rules as HTTP hooks: the guard takes a URL.
        guard(f"{'https' if secure else 'http'}://{target}/")
    request = to_proto(call)
    timestamp = str(int(time.time()))
    metadata = [("x-kefu-timestamp", timestamp), ("x-kefu-hook-point", call.point)]
    signature = sign(spec.secret, timestamp, request.SerializeToString())
    if signature:
        metadata.append(("x-kefu-signature", signature))
    dial, host = await _checked_target(target)
    stub = pb_grpc.KefuHooksStub(_secure_channel(dial, host) if secure else _channel(dial))
    try:
        reply = await stub.Call(request, timeout=timeout, metadata=metadata)
    except grpc.aio.AioRpcError as exc:
        if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
            raise TimeoutError(f"no reply within {timeout:.2f}s") from None
        raise HookError(f"gRPC {exc.code().name}: {exc.details()}") from None
    return reply_dict(reply)


async def call_transport(spec: HookSpec, call: HookCall, timeout: float, guard: Callable[[str], None] | None) -> Any:
    if spec.transport == "grpc":
        return await call_grpc(spec, call, timeout, guard)
    return await call_http(spec, call, timeout, guard)
