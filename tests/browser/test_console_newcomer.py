"""Console defects a newcomer met in the first hour (issue 14), each seen in Chromium."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from kefu.models import Conversation, Presence, Role
from tests.browser.console_fixtures import ScriptedVisitor, console_server, login, server_password  # noqa: F401
from tests.browser.widget_helpers import off_loop, wait_for
from tests.factories import AgentFactory, TenantFactory, widget_inbox

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]

VIEWPORT = {"width": 1440, "height": 900}


def _online(agent) -> None:
    wait_for(lambda: type(agent).objects.get(pk=agent.pk).presence == Presence.ONLINE, what=f"{agent} online")


def _frames_received(page, kind: str) -> list[dict]:
    frames = []
    for line in page.kefu_log:
        if line.startswith("ws < "):
            try:
                frame = json.loads(line[5:])
            except ValueError:  # cut at 300 characters by the transcript
                if f'"type": "{kind}"' in line or f'"type":"{kind}"' in line:
                    frames.append({"type": kind, "raw": line})
                continue
            if frame.get("type") == kind:
                frames.append(frame)
    return frames


def _settle(page, ts: int) -> None:
    """Every frame the console sent before this one has been answered (the server answers in order)."""
    page.evaluate(f"window.kefuConsole.socket.send({{type: 'ping', ts: {ts}}})")
    for _ in range(200):  # Playwright delivers the frame events while it waits
        if any(f.get("ts") == ts for f in _frames_received(page, "pong")):
            return
        page.wait_for_timeout(100)
    raise AssertionError("no pong")


def test_transfer_is_quiet_and_the_view_follows_the_conversation(new_page, console_server) -> None:  # noqa: F811
    tenant = TenantFactory(allowed_origins=["http://shop.console-test"])
    alice = AgentFactory(tenant=tenant, display_name="Alice", role=Role.AGENT)
    bob = AgentFactory(tenant=tenant, display_name="Bob", role=Role.AGENT)
    carol = AgentFactory(tenant=tenant, display_name="Carol", role=Role.AGENT)
    admin = AgentFactory(tenant=tenant, display_name="Owner", role=Role.ADMIN)
    server_password(alice.user)
    page = new_page(viewport=VIEWPORT)
    login(page, console_server, alice.user.username)
    _online(alice)
    first, second = (
        ScriptedVisitor(console_server, widget_inbox(tenant).key),
        ScriptedVisitor(console_server, widget_inbox(tenant).key),
    )
    try:
        first.send("I need help with my order")
        conv = wait_for(lambda: Conversation.objects.filter(tenant=tenant).first(), what="the conversation")
        off_loop(_assign, conv.pk, alice.pk)
        _open(page, console_server, conv.pk)

        # Alice transfers it herself: a green confirmation, no red "no permission".
        page.locator('[data-action="Transfer"]').click()
        page.locator("#transfer-target").select_option(f"agent:{bob.pk}")
        page.locator("#transfer-confirm").click()
        wait_for(lambda: Conversation.objects.get(pk=conv.pk).assignee_id == bob.pk, what="transferred to Bob")
        notice = page.locator(".conv-notice")
        expect(notice).to_have_text("This conversation is now with Bob. You can read it but no longer reply.")
        expect(page.locator("#composer-input")).to_be_hidden()
        expect(page.locator(".conv-actions button")).to_have_count(0)
        _settle(page, 1)
        assert _frames_received(page, "error") == [], _frames_received(page, "error")
        expect(page.locator(".toast.error")).to_have_count(0)

        # Someone else moves her open conversation away: the view follows at once.
        second.send("Hello again")
        conv2 = wait_for(lambda: Conversation.objects.exclude(pk=conv.pk).filter(tenant=tenant).first(), what="2nd")
        off_loop(_assign, conv2.pk, alice.pk)
        _open(page, console_server, conv2.pk)
        expect(page.locator("#composer-input")).to_be_enabled()
        off_loop(_transfer, conv2.pk, carol.pk, admin.pk)
        expect(notice).to_have_text("This conversation is now with Carol. You can read it but no longer reply.")
        expect(page.locator("#composer-input")).to_be_hidden()
        _settle(page, 2)
        expect(page.locator(".toast.error")).to_have_count(0)
        assert not page.kefu_errors
    finally:
        first.close()
        second.close()


def _open(page, server, conversation_id: int) -> None:
    page.goto(f"{server.url}/console/#c{conversation_id}")
    page.reload()  # the console reads the hash when it starts
    expect(page.locator(".messages .msg.in")).to_have_count(1)


def _assign(conversation_id: int, agent_id: int) -> None:
    from kefu.models import Agent
    from kefu.services.conversations import conversation_assign

    conversation_assign(conversation=Conversation.objects.get(pk=conversation_id), agent=Agent.objects.get(pk=agent_id))


def _transfer(conversation_id: int, agent_id: int, actor_id: int) -> None:
    from kefu.models import Agent
    from kefu.services.conversations import conversation_transfer

    conversation_transfer(
        conversation=Conversation.objects.get(pk=conversation_id),
        actor=Agent.objects.get(pk=actor_id),
        to_agent=Agent.objects.get(pk=agent_id),
    )
