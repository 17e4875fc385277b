"""Fixtures and helpers of the agent-console browser tests.

The shared ``browser`` and ``new_page`` fixtures come from tests/browser/conftest.py; the
console runs its own daphne on 8500-8599 (the port range of the console's tests) and a
scripted visitor that speaks protocol v1 over /ws/visitor/ with the ``websockets`` library.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.sync.client import connect

from tests.browser.widget_helpers import wait_for
from tests.liveserver import Server, free_port_in, server_env, start_server

PORTS = range(8500, 8600)
VISITOR_ORIGIN = "http://shop.console-test"
IPHONE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.2 Mobile/15E148 Safari/604.1"
)


def console_port() -> int:
    return free_port_in(PORTS)


@pytest.fixture(scope="session")
def console_server(django_db_setup: Any, django_db_blocker: Any) -> Iterator[Server]:
    with django_db_blocker.unblock():
        env = server_env()
    server = start_server(port=console_port(), env=env)
    try:
        yield server
    finally:
        server.stop()


class ScriptedVisitor:
    """A visitor driven over the real protocol: bootstrap, hello, send, contact."""

    def __init__(self, server: Server, widget_key: str, origin: str = VISITOR_ORIGIN) -> None:
        request = urllib.request.Request(
            f"{server.url}/widget/api/bootstrap",
            method="POST",
            data=json.dumps(
                {
                    "widget_key": widget_key,
                    "visitor_id": None,
                    "page_url": "https://shop.test/cart?x=1",
                    "referrer": "https://www.baidu.com/s?wd=kefu",
                    "locale": "en",
                }
            ).encode(),
            headers={"Content-Type": "application/json", "Origin": origin, "User-Agent": IPHONE_UA},
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            boot = json.loads(response.read())
        self.frames: list[dict[str, Any]] = []
        self.ws = connect(f"{server.ws_url}{boot['ws_path']}", origin=origin, user_agent_header=IPHONE_UA)
        self.ws.send(json.dumps({"type": "hello", "v": 1, "token": boot["token"]}))
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        wait_for(lambda: any(f["type"] == "welcome" for f in self.frames), what="visitor welcome")
        self.count = 0

    def _read(self) -> None:
        try:
            for raw in self.ws:
                self.frames.append(json.loads(raw))
        except Exception:  # closed at teardown
            return

    def send(self, text: str) -> str:
        self.count += 1
        cid = f"v-{self.count}"
        self.ws.send(json.dumps({"type": "send", "client_msg_id": cid, "kind": "text", "body": text}))
        wait_for(
            lambda: any(f["type"] == "ack" and f.get("client_msg_id") == cid for f in self.frames),
            what=f"ack of {cid}; frames: {self.frames[-5:]}",
        )
        return cid

    def contact(self, **fields: str) -> None:
        self.ws.send(json.dumps({"type": "contact", **fields}))

    def received(self, body: str) -> bool:
        return any(f["type"] == "message" and f["message"].get("body") == body for f in self.frames)

    def close(self) -> None:
        self.ws.close()


def server_password(user: Any, password: str = "pw-123456") -> str:
    """Tests hash with MD5 for speed; the server process only knows the product's hashers."""
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    hasher = PBKDF2PasswordHasher()
    user.password = hasher.encode(password, hasher.salt(), iterations=1000)
    user.save(update_fields=["password"])
    return password


def login(page: Any, server: Server, username: str, password: str = "pw-123456") -> None:
    page.goto(f"{server.url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("#login-submit")
    try:
        page.wait_for_selector("#inbox-tabs .tab", timeout=20000)
    except Exception as exc:
        raise AssertionError(f"login failed at {page.url}: {page.inner_text('body')[:500]}") from exc
