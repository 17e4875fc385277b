"""The API channel bridged end to end, against a real server process: a fake messaging
platform's bridge writes the contact's messages through the REST API, an agent sees them
live in the console socket and answers there, and the bridge receives the answer as a
signed webhook (and nothing twice when it retries a send)."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request

import pytest

from kefu.models import Message, Role
from kefu.services.api_keys import api_key_issue
from tests.factories import AgentFactory, TenantFactory
from tests.fakes.webhook_server import KefuWebhookReceiver
from tests.kefu.test_multiprocess import agent_cookie, agent_ws, recv_type
from tests.liveserver import running_servers

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


def call(server, token: str, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{server.url}/api/v1/{path}",
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def test_a_platform_bridged_through_the_api_channel_and_webhooks():
    tenant = TenantFactory()
    agent = AgentFactory(tenant=tenant, role=Role.ADMIN)
    _key, token = api_key_issue(
        tenant=tenant, name="bridge", scopes=["conversations:write", "contacts:write", "webhooks:admin"]
    )
    cookie = agent_cookie(agent)
    with (
        KefuWebhookReceiver() as platform,
        running_servers(1, kinds=("uvicorn",), KEFU_OUTBOUND_ALLOWLIST="127.0.0.1") as (server,),
    ):
        status, hook = call(
            server, token, "POST", "webhooks/", {"url": platform.url + "/kefu", "events": ["message.created"]}
        )
        assert status == 201
        platform.secret = hook["secret"]
        status, contact = call(server, token, "POST", "contacts/", {"external_id": "wx:openid-1", "name": "李雷"})
        assert status == 201
        status, conv = call(server, token, "POST", "conversations/", {"contact_id": contact["id"]})
        assert status == 201 and conv["channel"] == "api"

        async def agent_side() -> str:
            ws = await agent_ws(server, cookie)
            await ws.send(json.dumps({"type": "watch", "conversation_id": conv["id"], "last_seq": 0}))
            await ws.send(json.dumps({"type": "ping", "ts": 1}))
            await recv_type(ws, "pong")  # frames run in order: the watch is in place
            loop = asyncio.get_running_loop()
            sent = loop.run_in_executor(
                None,
                lambda: [
                    call(
                        server,
                        token,
                        "POST",
                        f"conversations/{conv['id']}/messages/",
                        {"sender": "contact", "body": "我的快递到哪了?", "client_msg_id": "wx-1"},
                    )
                    for _ in range(2)  # the bridge retries after a timeout: stored once
                ],
            )
            got = await recv_type(ws, "message", timeout=15)
            while got["message"]["body"] != "我的快递到哪了?":
                got = await recv_type(ws, "message", timeout=15)
            assert got["message"]["sender_type"] == "visitor"
            results = await sent
            assert [code for code, _ in results] == [201, 200]
            await ws.send(
                json.dumps(
                    {"type": "send", "conversation_id": conv["id"], "client_msg_id": "a-1", "body": "今天下午送到。"}
                )
            )
            await recv_type(ws, "ack")
            await ws.close()
            return got["message"]["body"]

        assert asyncio.run(agent_side()) == "我的快递到哪了?"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(
            b["data"]["message"]["sender_type"] == "agent" for b in platform.accepted
        ):
            time.sleep(0.1)
    assert platform.bad_signatures == 0
    events = [(b["data"]["message"]["sender_type"], b["data"]["message"]["body"]) for b in platform.accepted]
    # System lines (the agent joined) come too; a bridge forwards agents' and bots' messages.
    assert [e for e in events if e[0] != "system"] == [("visitor", "我的快递到哪了?"), ("agent", "今天下午送到。")]
    assert all(b["data"]["conversation"]["channel"] == "api" for b in platform.accepted)
    assert Message.objects.filter(conversation_id=conv["id"], client_msg_id="wx-1").count() == 1
