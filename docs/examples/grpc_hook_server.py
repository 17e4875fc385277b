"""A small gRPC business hook (kefu.hooks.v1.KefuHooks) for Kefu: risk control and order lookup.

Run it beside Kefu (`python docs/examples/grpc_hook_server.py --port 50051 --secret s3cret`),
then add a business hook in the console with transport gRPC and target `host:50051`.

- message_in / before_send: blocks messages that ask to pay outside the platform, masks
  11-digit phone numbers;
- answer: order questions get a card (title, fields, a link and a reply button);
- before_assign: VIP visitors (external id starting "vip-") go to team 1;
- on_close: prints the transcript's length.
Every request's signature is checked (docs/hooks.md).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import re
import sys
import time
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the generated modules live in bots/hooks
from bots.hooks import kefu_hooks_pb2 as pb  # noqa: E402
from bots.hooks import kefu_hooks_pb2_grpc as pb_grpc  # noqa: E402

PHONE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")


def signed(secret: str, metadata: dict[str, str], body: bytes) -> bool:
    timestamp = metadata.get("x-kefu-timestamp", "")
    expected = "sha256=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    fresh = timestamp.isdigit() and abs(time.time() - int(timestamp)) < 300
    return fresh and hmac.compare_digest(expected, metadata.get("x-kefu-signature", ""))


class Hooks(pb_grpc.KefuHooksServicer):
    def __init__(self, secret: str) -> None:
        self.secret = secret

    async def Call(self, request: pb.HookRequest, context: grpc.aio.ServicerContext) -> pb.HookReply:  # noqa: N802
        if not signed(self.secret, dict(context.invocation_metadata()), request.SerializeToString()):
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "bad signature")
        if request.point in ("message_in", "before_send"):
            if "私下转账" in request.text or "pay outside" in request.text.lower():
                return pb.HookReply(action="block", reason="off-platform payment")
            masked = PHONE.sub("***********", request.text)
            return pb.HookReply(action="mask", text=masked) if masked != request.text else pb.HookReply()
        if request.point == "answer" and ("订单" in request.text or "order" in request.text.lower()):
            return pb.HookReply(
                text="这是您最近的订单:",
                score=0.9,
                title="订单系统",
                cards=[
                    pb.Card(
                        title="订单 A123",
                        fields=[pb.Field(label="状态", value="已发货"), pb.Field(label="快递", value="顺丰 SF1001")],
                        buttons=[
                            pb.Button(label="查看物流", url="https://example.com/track/SF1001"),
                            pb.Button(label="转人工", reply="转人工"),
                        ],
                    )
                ],
            )
        if request.point == "before_assign" and request.visitor.external_id.startswith("vip-"):
            return pb.HookReply(team_id=1)
        if request.point == "on_close":
            print(f"conversation {request.conversation_id} closed after {len(request.history)} messages", flush=True)
        return pb.HookReply()


async def serve(port: int, secret: str) -> None:
    server = grpc.aio.server()
    pb_grpc.add_KefuHooksServicer_to_server(Hooks(secret), server)
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    print(f"kefu hooks listening on 127.0.0.1:{bound}", flush=True)
    await server.wait_for_termination()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=50051)
    parser.add_argument("--secret", required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.secret))
