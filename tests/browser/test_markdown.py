"""One markdown renderer for visitor and agent: the shared cases (tests/frontend/markdown_cases.json,
also run by node against static/kefu/shared/markdown.js) render to the same HTML in the widget
and in the console, from real bot messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import expect

from kefu.models import Conversation, Role, SenderType
from tests.browser.console_fixtures import console_server, login, server_password  # noqa: F401
from tests.browser.widget_helpers import open_widget, send_message, type_and_send, wait_for
from tests.factories import AgentFactory, widget_inbox

pytestmark = [
    pytest.mark.browser,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

CASES_FILE = Path(__file__).resolve().parents[1] / "frontend" / "markdown_cases.json"
# A message cannot be empty, so the "empty" case is covered by the node tests alone.
CASES = [case for case in json.loads(CASES_FILE.read_text()) if case["input"].strip()]


def test_bot_markdown_renders_the_same_in_widget_and_console(new_page, console_server, demo_site, widget_tenant):  # noqa: F811
    alice = AgentFactory(tenant=widget_tenant, display_name="Alice", role=Role.ADMIN)
    server_password(alice.user)
    visitor_page = new_page(open_shadow=True)
    widget = open_widget(visitor_page, demo_site.url(widget_inbox(widget_tenant).key))
    type_and_send(visitor_page, "hello")
    conv = wait_for(lambda: Conversation.objects.filter(tenant=widget_tenant).first(), what="the conversation")
    for case in CASES:
        send_message(conversation=conv, sender_type=SenderType.BOT, body=case["input"])
    expected = [case["html"] for case in CASES]

    answers = widget.locator(".row:not(.me) .b .md")
    expect(answers).to_have_count(len(CASES) + 1)  # and the welcome message first
    assert answers.evaluate_all("els => els.slice(1).map(e => e.innerHTML)") == expected

    agent_page = new_page(viewport={"width": 1440, "height": 900})
    login(agent_page, console_server, alice.user.username)
    agent_page.goto(f"{console_server.url}/console/#c{conv.pk}")
    bot_bodies = agent_page.locator(".messages .msg.bot .text.md")
    expect(bot_bodies).to_have_count(len(CASES), timeout=15000)
    assert bot_bodies.evaluate_all("els => els.map(e => e.innerHTML)") == expected
    assert not visitor_page.kefu_errors and not agent_page.kefu_errors
