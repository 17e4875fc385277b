"""The console and the widget together: the visitor is driven by the real widget on the
demo customer site (another origin, another server process), the agent by the console."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from kefu.models import Conversation, Message, Role, SenderType
from tests.browser.console_fixtures import console_server, login, server_password  # noqa: F401
from tests.browser.widget_helpers import open_widget, type_and_send, wait_for
from tests.factories import AgentFactory, widget_inbox

pytestmark = [
    pytest.mark.browser,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]


def test_widget_visitor_reaches_the_agent_console_live(new_page, console_server, demo_site, widget_tenant):  # noqa: F811
    alice = AgentFactory(tenant=widget_tenant, display_name="Alice", role=Role.AGENT)
    server_password(alice.user)
    agent_page = new_page(viewport={"width": 1440, "height": 900})
    login(agent_page, console_server, alice.user.username)
    wait_for(lambda: type(alice).objects.get(pk=alice.pk).presence == "online", what="Alice online")

    visitor_page = new_page(open_shadow=True)
    widget = open_widget(visitor_page, demo_site.url(widget_inbox(widget_tenant).key))
    type_and_send(visitor_page, "你好,我想问一下发票 <b>怎么开</b>?")

    conv = wait_for(lambda: Conversation.objects.filter(tenant=widget_tenant).first(), what="the conversation")
    wait_for(lambda: Conversation.objects.get(pk=conv.pk).assignee_id == alice.pk, what="assigned to Alice")
    row = agent_page.locator(f'.inbox-item[data-id="{conv.pk}"]')
    expect(row).to_be_visible(timeout=15000)
    row.click()
    incoming = agent_page.locator(".messages .msg.in")
    expect(incoming).to_have_count(1)
    expect(incoming.first).to_contain_text("<b>怎么开</b>")  # shown as text, not markup

    box = agent_page.locator("#composer-input")
    box.fill("您好!在「我的订单」里点击 **申请发票** 即可。")
    box.press("Enter")
    wait_for(
        lambda: Message.objects.filter(conversation=conv, sender_type=SenderType.AGENT).exists(),
        what="the reply stored",
    )
    bubble = widget.locator(".row:not(.me) .b", has_text="申请发票")
    expect(bubble).to_be_visible(timeout=15000)
    expect(bubble.locator("strong")).to_have_text("申请发票")
