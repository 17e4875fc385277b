"""`make run`'s embedded default, for real: no PostgreSQL, no Redis, no broker.

A fresh SQLite database is migrated and seeded, `manage.py run_demo` serves it, and a
visitor on the demo origin talks to the demo bot over the socket (streamed reply from
the local knowledge base), then asks for a human and lands in the queue.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request

import pytest
from websockets.asyncio.client import connect

from tests.liveserver import ROOT, free_port

pytestmark = pytest.mark.slow


def _embedded_env(tmp_path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "KEFU_TASKS_MODE", "DJANGO_SETTINGS_MODULE")
    }
    env.update(
        {
            "SQLITE_PATH": str(tmp_path / "kefu.sqlite3"),
            "MEDIA_ROOT": str(tmp_path / "media"),
            "DEBUG": "true",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,  # noqa: S603
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


async def _frames_until(ws, predicate, timeout: float = 15.0) -> list[dict]:
    frames: list[dict] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=deadline - time.monotonic()))
        frames.append(frame)
        if predicate(frame):
            return frames
    raise AssertionError(f"timed out; got {frames}")


def test_visitor_chats_with_the_demo_bot_and_hears_nobody_is_online(tmp_path):
    env = _embedded_env(tmp_path)
    port, demo_port = free_port(), free_port()
    origin = f"http://127.0.0.1:{demo_port}"
    _manage(env, "migrate", "--noinput")
    seeded = _manage(env, "seed_demo", "--demo-origin", origin)
    assert "kefu-demo-2026" in seeded and "Demo bot" in seeded
    log = open(tmp_path / "server.log", "wb")  # noqa: SIM115
    server = subprocess.Popen(  # noqa: S603
        [sys.executable, "manage.py", "run_demo", "--port", str(port), "--demo-port", str(demo_port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(150):
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=1)  # noqa: S310
                break
            except OSError:
                time.sleep(0.2)
        demo_page = urllib.request.urlopen(f"http://127.0.0.1:{demo_port}/", timeout=5).read().decode()  # noqa: S310
        assert f"{base}/static/kefu/widget.js" in demo_page
        request = urllib.request.Request(  # noqa: S310
            f"{base}/widget/api/bootstrap",
            method="POST",
            data=json.dumps({"widget_key": "wk_demo_public_key", "visitor_id": None}).encode(),
            headers={"Content-Type": "application/json", "Origin": origin},
        )
        boot = json.loads(urllib.request.urlopen(request, timeout=10).read())  # noqa: S310
        assert boot["settings"]["welcome"]

        async def chat() -> tuple[list[dict], list[dict]]:
            async with connect(f"ws://127.0.0.1:{port}/ws/visitor/", origin=origin) as ws:
                await ws.send(json.dumps({"type": "hello", "v": 1, "token": boot["token"], "last_seq": 0}))
                await _frames_until(ws, lambda f: f["type"] == "welcome")
                await ws.send(
                    json.dumps({"type": "send", "client_msg_id": "c-1", "kind": "text", "body": "退款多久到账?"})
                )
                answer = await _frames_until(ws, lambda f: f["type"] == "bot.done")
                await ws.send(json.dumps({"type": "send", "client_msg_id": "c-2", "kind": "text", "body": "转人工"}))
                # No agent of the demo is signed in: the bot says so and keeps the visitor.
                handoff = await _frames_until(
                    ws,
                    lambda f: (
                        f["type"] == "message"
                        and str(f["message"].get("meta", {}).get("code", "")).startswith("nobody_online")
                    ),
                )
                return answer, handoff

        answer, handoff = asyncio.run(chat())
    finally:
        server.terminate()
        server.wait(timeout=15)
        log.close()
    types = [f["type"] for f in answer]
    assert "ack" in types and "bot.delta" in types, (tmp_path / "server.log").read_text()[-3000:]
    done = answer[-1]["message"]
    assert "3-5 个工作日" in done["body"] and done["meta"]["sources"]
    streamed = "".join(f["text"] for f in answer if f["type"] == "bot.delta")
    assert streamed == done["body"]
    assert handoff[-1]["message"]["sender_type"] == "bot"
    assert not any(f["type"] == "conversation" and f["conversation"]["status"] == "queued" for f in handoff)
