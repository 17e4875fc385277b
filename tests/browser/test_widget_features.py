"""Widget features beyond the core chat path: handoff, drag-and-drop and paste uploads,
title flash on hidden pages, the emoji picker."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from kefu.models import Conversation, Message
from kefu.services.conversations import conversation_set_status
from tests.browser.widget_helpers import (
    conversation_of,
    off_loop,
    open_widget,
    send_message,
    type_and_send,
    visitor_messages,
    wait_for,
)
from tests.factories import widget_inbox

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]


def test_talk_to_a_human_hands_the_bot_conversation_over(new_page, demo_site, widget_tenant) -> None:
    from tests.browser.widget_helpers import online_agent

    online_agent(widget_tenant)
    page = new_page(open_shadow=True)
    w = open_widget(page, demo_site.url(widget_inbox(widget_tenant).key))
    type_and_send(page, "I have a question")
    conv = conversation_of(widget_tenant)
    wait_for(lambda: visitor_messages(conv), what="the question")
    # Let routing finish first (an agent is online), so it cannot overtake the bot status.
    # If the routing task lost a race, the server's periodic re-route (30 s) assigns it.
    wait_for(lambda: Conversation.objects.get(pk=conv.pk).status == "assigned", timeout=45, what="routing")
    off_loop(conversation_set_status, conversation=Conversation.objects.get(pk=conv.pk), status="bot")
    human = w.locator(".acts .chip", has_text="Talk to a human")
    expect(human).to_be_visible()
    human.click()
    wait_for(lambda: Conversation.objects.get(pk=conv.pk).status != "bot", what="the handoff")
    expect(human).to_be_hidden()


DROP_AND_PASTE = """async (panel) => {
  const png = Uint8Array.from(atob(%r), c => c.charCodeAt(0));
  const drop = new DataTransfer();
  drop.items.add(new File(["order 10234, damaged box"], "report.txt", {type: "text/plain"}));
  panel.dispatchEvent(new DragEvent("dragover", {dataTransfer: drop, bubbles: true, cancelable: true}));
  panel.dispatchEvent(new DragEvent("drop", {dataTransfer: drop, bubbles: true, cancelable: true}));
  await new Promise(r => setTimeout(r, 300));
  const paste = new DataTransfer();
  paste.items.add(new File([png], "pasted.png", {type: "image/png"}));
  const box = panel.querySelector("textarea");
  box.dispatchEvent(new ClipboardEvent("paste", {clipboardData: paste, bubbles: true, cancelable: true}));
}"""


def test_drag_and_drop_and_paste_upload_files(new_page, demo_site, widget_tenant) -> None:
    import base64

    from tests.browser.test_widget import _png

    page = new_page(open_shadow=True)
    w = open_widget(page, demo_site.url(widget_inbox(widget_tenant).key))
    type_and_send(page, "two files coming")
    conv = conversation_of(widget_tenant)
    wait_for(lambda: visitor_messages(conv), what="the first message")
    w.locator(".panel").evaluate(DROP_AND_PASTE % base64.b64encode(_png()).decode())
    stored = wait_for(
        lambda: (lambda rows: rows if len(rows) == 2 else None)(
            list(Message.objects.filter(conversation=conv, attachment__isnull=False).order_by("seq"))
        ),
        what="both attachments",
    )
    assert sorted(m.kind for m in stored) == ["file", "image"]
    assert {m.attachment.original_name for m in stored} == {"report.txt", "pasted.png"}
    expect(w.locator(".row.me .fl", has_text="report.txt")).to_be_visible()
    expect(w.locator(".row.me .b img")).to_have_count(1)
    expect(w.locator(".dz")).to_be_hidden()
    assert not page.kefu_errors


def test_title_flashes_while_the_page_is_hidden(new_page, demo_site, widget_tenant) -> None:
    page = new_page(open_shadow=True)
    open_widget(page, demo_site.url(widget_inbox(widget_tenant).key))
    type_and_send(page, "ping")
    conv = conversation_of(widget_tenant)
    wait_for(lambda: visitor_messages(conv), what="the message")
    title = page.title()
    page.evaluate("""() => {
      Object.defineProperty(document, "hidden", {configurable: true, get: () => true});
      document.dispatchEvent(new Event("visibilitychange"));
    }""")
    reply = send_message(conversation=Conversation.objects.get(pk=conv.pk), sender_type="agent", body="pong")
    page.wait_for_function("() => document.title.includes('New message')")
    assert Conversation.objects.get(pk=conv.pk).visitor_read_seq < reply.seq  # not read while hidden
    page.evaluate("""() => {
      Object.defineProperty(document, "hidden", {configurable: true, get: () => false});
      document.dispatchEvent(new Event("visibilitychange"));
    }""")
    page.wait_for_function(f"() => document.title === {title!r}")
    wait_for(lambda: Conversation.objects.get(pk=conv.pk).visitor_read_seq >= reply.seq, what="the read receipt")


def test_emoji_picker_inserts_at_the_cursor(new_page, demo_site, widget_tenant) -> None:
    page = new_page(open_shadow=True)
    w = open_widget(page, demo_site.url(widget_inbox(widget_tenant).key))
    box = w.locator("textarea")
    box.fill("thanks ")
    w.locator("button[aria-label=Emoji]").click()
    picker = w.locator(".emo")
    expect(picker).to_be_visible()
    picker.locator("button", has_text="👍").click()
    expect(box).to_have_value("thanks 👍")
    expect(picker).to_be_hidden()


def test_theme_position_and_host_events(new_page, demo_site, widget_tenant) -> None:
    inbox = widget_inbox(widget_tenant)
    inbox.widget_settings = {
        **inbox.widget_settings,
        "color": "#e8590c",
        "position": "left",
        "welcome": "Welcome to **our** shop",
    }
    inbox.save(update_fields=["widget_settings"])
    html = (
        "<!doctype html><html><body><script>window.kefu=window.kefu||function(){(kefu.q=kefu.q||[]).push(arguments)};"
        "window.seen=[];kefu('on','message',function(m){seen.push(m.sender_type+':'+m.body)});"
        "kefu('on','open',function(){seen.push('open')});kefu('on','close',function(){seen.push('close')});"
        "kefu('on','unread',function(n){seen.push('unread:'+n)});</script>"
        '<script src="{product_url}/static/kefu/widget.js" data-key="{widget_key}" async></script></body></html>'
    )
    page = new_page(open_shadow=True, viewport={"width": 1200, "height": 800})
    page.goto(demo_site.add_page("/themed", html) + f"?key={widget_inbox(widget_tenant).key}")
    w = page.locator("[data-kefu]")
    launcher = w.locator(".lau")
    expect(launcher).to_have_css("background-color", "rgb(232, 89, 12)")
    box = launcher.bounding_box()
    assert box and box["x"] < 100  # bottom left
    page.evaluate("kefu('open')")
    expect(w.locator(".log .b").first.locator("strong")).to_have_text("our")
    type_and_send(page, "hello")
    conv = conversation_of(widget_tenant)
    wait_for(lambda: visitor_messages(conv), what="the message")
    page.evaluate("kefu('close')")
    send_message(conversation=Conversation.objects.get(pk=conv.pk), sender_type="agent", body="hi there")
    expect(w.locator(".badge")).to_have_text("1")
    seen = page.evaluate("seen")
    assert seen[0] == "open" and "visitor:hello" in seen and "close" in seen
    assert "agent:hi there" in seen and seen[-1] == "unread:1"
    page.evaluate("kefu('toggle')")
    expect(w.locator(".badge")).to_be_hidden()
    assert page.evaluate("seen").count("unread:0") >= 1
