"""Real server processes (daphne, and uvicorn as deploy runs it) sharing Redis, driven by the `websockets` client."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
import uuid

import pytest
import websockets
from django.test import Client

from kefu.models import Message
from tests.factories import AgentFactory, TenantFactory, VisitorFactory
from tests.kefu.live_helpers import visitor_token
from tests.liveserver import running_servers

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.slow,
]

REDIS_PORT = 8190  # our own throwaway Redis, never the shared one


def agent_cookie(agent) -> str:
    client = Client()
    client.force_login(agent.user)
    return client.cookies["sessionid"].value


async def recv_type(ws, kind: str, timeout: float = 10, **match):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=max(0.01, deadline - loop.time())))
        if frame.get("type") == kind and all(frame.get(k) == v for k, v in match.items()):
            return frame


async def visitor_ws(server, token: str, last_seq: int | None = None):
    ws = await websockets.connect(f"{server.ws_url}/ws/visitor/", origin="http://shop.test", open_timeout=10)
    hello = {"type": "hello", "v": 1, "token": token}
    if last_seq is not None:
        hello["last_seq"] = last_seq
    await ws.send(json.dumps(hello))
    welcome = await recv_type(ws, "welcome")
    return ws, welcome


async def agent_ws(server, cookie: str, origin: str | None = None):
    ws = await websockets.connect(
        f"{server.ws_url}/ws/agent/",
        origin=origin or server.url,
        additional_headers={"Cookie": f"sessionid={cookie}"},
        open_timeout=10,
    )
    await recv_type(ws, "welcome")
    return ws


@pytest.fixture
def people():
    tenant = TenantFactory()
    return {"visitor": VisitorFactory(tenant=tenant), "agent": AgentFactory(tenant=tenant), "tenant": tenant}


def test_visitor_on_one_process_agent_on_another(people):
    token = visitor_token(people["visitor"])
    cookie = agent_cookie(people["agent"])

    async def scenario(s1, s2):
        v, welcome = await visitor_ws(s1, token)
        assert welcome["conversation"] is None
        await v.send(json.dumps({"type": "send", "client_msg_id": "mp-1", "body": "from process 1"}))
        ack = await recv_type(v, "ack")
        conv_id = ack["conversation_id"]
        a = await agent_ws(s2, cookie)
        await a.send(json.dumps({"type": "watch", "conversation_id": conv_id, "last_seq": 0}))
        page = await recv_type(a, "messages")
        assert any(m["body"] == "from process 1" for m in page["messages"])
        await v.send(json.dumps({"type": "send", "client_msg_id": "mp-2", "body": "live across processes"}))
        got = await recv_type(a, "message")
        while got["message"]["body"] != "live across processes":
            got = await recv_type(a, "message")
        await a.send(
            json.dumps(
                {"type": "send", "conversation_id": conv_id, "client_msg_id": "mp-3", "body": "reply from process 2"}
            )
        )
        await recv_type(a, "ack")
        got = await recv_type(v, "message")
        while got["message"]["body"] != "reply from process 2":
            got = await recv_type(v, "message")
        assert got["message"]["sender_type"] == "agent"
        await v.close()
        await a.close()

    # The two ASGI servers the product ships: daphne (`web`) and uvicorn (`web-uvicorn`).
    with running_servers(2, kinds=("daphne", "uvicorn")) as (s1, s2):
        asyncio.run(scenario(s1, s2))


def test_foreign_origin_agent_socket_refused_by_real_server(people):
    cookie = agent_cookie(people["agent"])

    async def scenario(server):
        with pytest.raises(websockets.exceptions.InvalidStatus):
            await agent_ws(server, cookie, origin="http://evil.test")

    with running_servers(1) as (server,):
        asyncio.run(scenario(server))


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="NOT RUN: redis-server binary missing")
def test_redis_restart_mid_conversation(people):
    token = visitor_token(people["visitor"])
    cookie = agent_cookie(people["agent"])
    start = ["redis-server", "--port", str(REDIS_PORT), "--save", "", "--appendonly", "no", "--daemonize", "yes"]
    subprocess.run(start, check=True)
    _wait_redis(up=True)
    try:
        url = f"redis://127.0.0.1:{REDIS_PORT}/0"
        with running_servers(2, REDIS_URL=url, CHANNEL_LAYER_PREFIX=f"kr{uuid.uuid4().hex[:6]}") as (s1, s2):

            async def before():
                v, _ = await visitor_ws(s1, token)
                await v.send(json.dumps({"type": "send", "client_msg_id": "r-1", "body": "before restart"}))
                ack = await recv_type(v, "ack")
                a = await agent_ws(s2, cookie)
                await a.send(json.dumps({"type": "watch", "conversation_id": ack["conversation_id"]}))
                return v, a, ack

            async def during(a, conv_id):
                # Redis is down: the agent's message is still stored and acknowledged.
                await a.send(
                    json.dumps(
                        {
                            "type": "send",
                            "conversation_id": conv_id,
                            "client_msg_id": "r-2",
                            "body": "sent while redis was down",
                        }
                    )
                )
                return await recv_type(a, "ack")

            async def after(conv_id, last_seq):
                v, welcome = await visitor_ws(s1, token, last_seq=last_seq)
                page = await recv_type(v, "messages")
                bodies = [m["body"] for m in page["messages"]]
                assert "sent while redis was down" in bodies
                a = await agent_ws(s2, cookie)
                await a.send(json.dumps({"type": "watch", "conversation_id": conv_id}))
                await asyncio.sleep(0.3)
                await v.send(json.dumps({"type": "send", "client_msg_id": "r-3", "body": "after restart"}))
                got = await recv_type(a, "message")
                while got["message"]["body"] != "after restart":
                    got = await recv_type(a, "message")
                await v.close()
                await a.close()

            async def run():
                v, a, ack = await before()
                conv_id = ack["conversation_id"]
                subprocess.run(["redis-cli", "-p", str(REDIS_PORT), "shutdown", "nosave"], check=False)
                _wait_redis(up=False)
                # The sockets survive the outage; the message is stored and acknowledged.
                down_ack = await during(a, conv_id)
                assert down_ack["seq"] > ack["seq"]
                await v.send(json.dumps({"type": "ping", "ts": 1}))
                assert (await recv_type(v, "pong"))["ts"] == 1
                subprocess.run(start, check=True)
                _wait_redis(up=True)
                # The old visitor socket rejoins its groups by itself and hears live again.
                await asyncio.sleep(2.5)
                await a.send(
                    json.dumps(
                        {"type": "send", "conversation_id": conv_id, "client_msg_id": "r-2b", "body": "redis is back"}
                    )
                )
                got = await recv_type(v, "message", timeout=15)
                while got["message"]["body"] != "redis is back":
                    got = await recv_type(v, "message", timeout=15)
                for ws in (v, a):
                    await ws.close()
                await after(conv_id, ack["seq"])

            asyncio.run(run())
        assert Message.objects.filter(body="sent while redis was down").count() == 1
    finally:
        subprocess.run(["redis-cli", "-p", str(REDIS_PORT), "shutdown", "nosave"], check=False, capture_output=True)


def _wait_redis(*, up: bool, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ok = subprocess.run(["redis-cli", "-p", str(REDIS_PORT), "ping"], capture_output=True, text=True)
        if (ok.stdout.strip() == "PONG") == up:
            return
        time.sleep(0.1)
    raise RuntimeError(f"redis on {REDIS_PORT} did not go {'up' if up else 'down'}")
