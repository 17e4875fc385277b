"""The embeddable widget in headless Chromium, on a customer page from another origin,
against a real daphne server, the test PostgreSQL database and Redis."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

from kefu import events
from kefu.api.auth import api_key_issue
from kefu.models import Message
from kefu.payloads import message_payload
from tests.browser.widget_helpers import (
    GroupObserver,
    api_post,
    broadcast,
    conversation_of,
    off_loop,
    online_agent,
    open_widget,
    send_message,
    type_and_send,
    visitor_messages,
    wait_for,
    widget,
)
from tests.factories import widget_inbox

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]

SCREENSHOTS = Path(settings.BASE_DIR) / "docs" / "screenshots"


def test_loader_keeps_a_closed_root_and_no_globals_but_kefu(new_page, demo_site, widget_tenant) -> None:
    page = new_page()
    page.goto(demo_site.url(widget_inbox(widget_tenant).key))
    page.wait_for_function("() => window.kefu && window.kefu.h")  # the app has taken over the queue
    assert page.evaluate("document.querySelector('[data-kefu]').shadowRoot") is None
    # Compare against a blank page of the same browser: the widget adds `kefu` only.
    blank = new_page()
    blank.goto(demo_site.add_page("/blank", "<!doctype html><title>blank</title>"))
    baseline = set(blank.evaluate("Object.keys(window)"))
    added = set(page.evaluate("Object.keys(window)")) - baseline
    assert added == {"kefu"}, added
    assert not page.kefu_errors


def test_visitor_chats_with_an_agent_across_origins(new_page, demo_site, kefu_server, widget_tenant) -> None:
    agent = online_agent(widget_tenant)
    _, token = api_key_issue(tenant=widget_tenant, name="test", scopes=["write"])
    page = new_page(open_shadow=True)
    w = open_widget(page, demo_site.url(widget_inbox(widget_tenant).key))
    expect(w.locator(".hs")).to_have_text("We reply in a few minutes")

    type_and_send(page, "Hello from the shop")
    conv = conversation_of(widget_tenant)
    sent = wait_for(lambda: visitor_messages(conv), what="the visitor message in the database")
    assert [m.body for m in sent] == ["Hello from the shop"] and sent[0].client_msg_id
    expect(w.locator(".row.me .st")).to_have_text("Sent")

    # The agent types: the indicator shows; the visitor's typing reaches the conversation group.
    observer = GroupObserver(events.conversation_group(conv.pk))
    broadcast(
        [events.conversation_group(conv.pk)],
        {
            "type": "kefu.typing",
            "conversation_id": conv.pk,
            "sender_type": "agent",
            "name": "Alice",
            "state": True,
        },
    )
    expect(w.locator(".row:not([hidden]) .who", has_text="Alice is typing")).to_be_visible()
    w.locator("textarea").press_sequentially("a question", delay=20)
    got = wait_for(
        lambda: observer.first(lambda e: e.get("type") == "kefu.typing" and e.get("sender_type") == "visitor"),
        what="the visitor's typing event",
    )
    observer.stop()
    assert got["sender_type"] == "visitor" and got["state"] is True

    reply = api_post(
        f"{kefu_server.url}/api/v1/conversations/{conv.pk}/messages/",
        token,
        {"body": "Hi! Your order **ships today**. See https://example.com/track"},
    )
    bubble = w.locator(".row:not(.me) .b", has_text="ships today")
    expect(bubble).to_be_visible()
    expect(bubble.locator("strong")).to_have_text("ships today")
    expect(bubble.locator("a")).to_have_attribute("href", "https://example.com/track")
    expect(w.locator(".tp").locator("..").locator("..")).to_be_hidden()  # typing hidden by the reply

    # Read receipts both ways: the visitor read the reply (widget open), the agent reads ours.
    wait_for(lambda: _visitor_read_up_to(conv.pk) >= reply["seq"], what="the visitor's read receipt")
    broadcast(
        [events.conversation_group(conv.pk)],
        {
            "type": "kefu.read",
            "conversation_id": conv.pk,
            "reader": "agent",
            "seq": reply["seq"],
        },
    )
    type_and_send(page, "Thanks")
    wait_for(lambda: len(visitor_messages(conv)) == 2, what="the second message")
    broadcast(
        [events.conversation_group(conv.pk)],
        {
            "type": "kefu.read",
            "conversation_id": conv.pk,
            "reader": "agent",
            "seq": reply["seq"] + 1,
        },
    )
    expect(w.locator(".row.me .st").last).to_have_text("Read")
    assert agent.pk and not page.kefu_errors and not page.kefu_dialogs


def _visitor_read_up_to(conversation_id: int) -> int:
    from kefu.models import Conversation

    return Conversation.objects.get(pk=conversation_id).visitor_read_seq


def test_bot_reply_streams_token_by_token(new_page, demo_site, widget_tenant) -> None:
    page = new_page(open_shadow=True)
    w = open_widget(page, demo_site.url(widget_inbox(widget_tenant).key))
    type_and_send(page, "Where is my parcel?")
    conv = conversation_of(widget_tenant)
    wait_for(lambda: visitor_messages(conv), what="the question")
    group = [events.conversation_group(conv.pk)]

    stream = w.locator(".b.cur")
    for piece, seen in (("Your parcel ", "Your parcel"), ("is **on its", "is **on its"), (" way**.", "on its way")):
        broadcast(group, {"type": "kefu.bot.delta", "conversation_id": conv.pk, "stream_id": "s1", "text": piece})
        expect(stream).to_contain_text(seen)
    expect(stream.locator("strong")).to_have_text("on its way")  # markdown re-rendered as it streams

    stored = send_message(
        conversation=conv,
        sender_type="bot",
        body="Your parcel is **on its way**.",
        metadata={
            "sources": [
                {"title": "Shipping FAQ", "url": "https://shop.example.com/faq"},
                {"title": "Bad link", "url": "javascript:alert(1)"},
            ],
            "quick_replies": ["Track it", "Talk to a human"],
        },
    )
    broadcast(
        group,
        {"type": "kefu.bot.done", "conversation_id": conv.pk, "stream_id": "s1", "message": message_payload(stored)},
    )
    expect(stream).to_have_count(0)
    final = w.locator(".row:not(.me) .b", has_text="Your parcel is on its way")
    expect(final).to_have_count(1)
    expect(final.locator(".src a")).to_have_attribute("href", "https://shop.example.com/faq")
    expect(final.locator(".src span.s")).to_have_text("Bad link")  # not a link: not http(s)
    w.locator(".qr .chip", has_text="Track it").click()
    wait_for(
        lambda: [m.body for m in visitor_messages(conv)] == ["Where is my parcel?", "Track it"],
        what="the quick reply as a message",
    )
    assert not page.kefu_errors


def test_messages_typed_while_the_server_is_down_arrive_once_in_order(
    new_page, demo_site, kefu_server, widget_tenant
) -> None:
    page = new_page(open_shadow=True)
    w = open_widget(page, demo_site.url(widget_inbox(widget_tenant).key))
    type_and_send(page, "before")
    conv = conversation_of(widget_tenant)
    wait_for(lambda: visitor_messages(conv), what="the first message")
    expect(w.locator(".row.me .st")).to_have_text("Sent")

    kefu_server.stop()
    expect(w.locator(".bar")).to_have_text("Connecting…", timeout=15000)
    for text in ("one", "two", "three"):
        type_and_send(page, text)
    expect(w.locator(".row.me .st", has_text="Waiting to send")).to_have_count(3)
    outbox = page.evaluate(
        "Object.keys(localStorage).filter(k => k.endsWith(':outbox'))"
        ".map(k => JSON.parse(localStorage[k]).map(m => m.body))"
    )
    assert outbox == [["one", "two", "three"]]

    kefu_server.restart()
    wait_for(lambda: len(visitor_messages(conv)) == 4, timeout=40, what="the queued messages after restart")
    time.sleep(1.0)  # give a duplicate, if any, the chance to land before counting
    stored = visitor_messages(conv)
    assert [m.body for m in stored] == ["before", "one", "two", "three"]
    assert [m.seq for m in stored] == sorted(m.seq for m in stored)
    expect(w.locator(".row.me .b")).to_have_count(4)
    expect(w.locator(".bar", has_text="Connecting")).to_have_count(0)
    assert page.evaluate(
        "Object.keys(localStorage).filter(k => k.endsWith(':outbox')).map(k => JSON.parse(localStorage[k]).length)"
    ) == [0]


def _png(color: tuple[int, int, int] = (22, 119, 255)) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(buffer, format="PNG")
    return buffer.getvalue()


# After a reload the host element appears only when the loader has run: a predicate
# that throws ends wait_for_function at once instead of being polled again.
IMAGE_SHOWN = (
    "() => { const host = document.querySelector('[data-kefu]'); const h = host && host.shadowRoot;"
    " const i = h && h.querySelector('.row.me .b img'); return !!i && i.complete && i.naturalWidth === 64; }"
)


def test_visitor_uploads_an_image(new_page, demo_site, widget_tenant) -> None:
    page = new_page(open_shadow=True)
    w = open_widget(page, demo_site.url(widget_inbox(widget_tenant).key))
    type_and_send(page, "Here is a photo")
    conv = conversation_of(widget_tenant)
    wait_for(lambda: visitor_messages(conv), what="the first message")

    w.locator("input[type=file]").set_input_files(
        files=[{"name": "photo.png", "mimeType": "image/png", "buffer": _png()}]
    )
    stored = wait_for(lambda: Message.objects.filter(conversation=conv, kind="image").first(), what="the image message")
    assert stored.attachment is not None and stored.attachment.content_type == "image/png"
    image = w.locator(".row.me .b img")
    expect(image).to_have_count(1)
    page.wait_for_function(IMAGE_SHOWN)
    # A fresh page load shows it from history, through the signed attachment link.
    page.reload()
    w = widget(page)
    page.wait_for_function(IMAGE_SHOWN)
    assert not page.kefu_errors


XSS = [
    '<img src=x onerror="window.__pwned=1">',
    "<script>window.__pwned=2</script>",
    "[click me](javascript:window.__pwned=3)",
    '**<svg onload="window.__pwned=4">**',
    '"><iframe src=javascript:alert(5)></iframe>',
]


def test_xss_payloads_show_as_text(new_page, demo_site, widget_tenant) -> None:
    from tests.factories import AgentFactory, widget_inbox

    page = new_page(open_shadow=True)
    w = open_widget(page, demo_site.url(widget_inbox(widget_tenant).key))
    type_and_send(page, XSS[0])
    conv = conversation_of(widget_tenant)
    wait_for(lambda: visitor_messages(conv), what="the visitor's payload")
    evil = AgentFactory(tenant=widget_tenant, display_name='<img src=x onerror="window.__pwned=9">Eve')
    for payload in XSS:
        send_message(conversation=conv, sender_type="agent", agent=evil, body=payload)
    send_message(
        conversation=conv,
        sender_type="bot",
        body="see sources",
        metadata={
            "sources": [{"title": "<b onmouseover=alert(6)>x</b>", "url": "javascript:alert(7)"}],
            "quick_replies": ["<img src=x onerror=alert(8)>"],
        },
    )
    expect(w.locator(".row:not(.me) .b", has_text="see sources")).to_be_visible()
    for payload in XSS[:2]:
        expect(w.locator(".row:not(.me) .b", has_text=payload)).to_have_count(1)
    expect(w.locator(".row.me .b")).to_have_text(XSS[0])
    expect(w.locator(".who", has_text='<img src=x onerror="window.__pwned=9">Eve').first).to_be_visible()
    expect(w.locator(".qr .chip")).to_have_text("<img src=x onerror=alert(8)>")
    hrefs = w.locator("a[href]").evaluate_all("els => els.map(e => e.getAttribute('href'))")
    assert all(h.startswith(("http://", "https://", "blob:", "#")) for h in hrefs), hrefs
    assert w.locator("img[src=x], script, iframe, svg[onload]").count() == 0
    page.wait_for_timeout(500)  # let any (wrongly) injected handler fire before checking
    assert page.evaluate("window.__pwned") is None
    assert page.kefu_dialogs == [] and not page.kefu_errors


HOSTILE = """<!doctype html><html><head><meta charset="utf-8"><title>hostile</title><style>
* { color: #f00 !important; font-family: serif !important; box-sizing: content-box !important;
    letter-spacing: 4px !important; line-height: 4 !important; }
body { font-size: 28px; text-align: right; direction: ltr; }
div, button, p, span, textarea { font-size: 31px !important; padding: 40px !important; margin: 9px !important;
    background: #0f0 !important; border: 5px dotted #00f !important; border-radius: 0 !important; }
svg, path { fill: #f0f !important; stroke-width: 9px !important; }
</style></head><body><p id="host-p">Host text</p>
<script>window.kefu=window.kefu||function(){(kefu.q=kefu.q||[]).push(arguments)};kefu('open');</script>
<script src="{product_url}/static/kefu/widget.js" data-key="{widget_key}" async></script></body></html>"""

CLEAN = HOSTILE.split("<style>")[0] + "</head>" + HOSTILE.split("</head>")[1]
NO_WIDGET = HOSTILE.split("<script>")[0] + "</body></html>"
HOST_STYLE = """() => [document.body, document.getElementById('host-p')].map(el => {
  const s = getComputedStyle(el); return Array.from(s).map(k => k + ':' + s.getPropertyValue(k)).join(';');
})"""

PROBE = """() => {
  const r = document.querySelector('[data-kefu]').shadowRoot;
  const pick = (sel) => { const s = getComputedStyle(r.querySelector(sel));
    return [s.color, s.fontFamily, s.fontSize, s.padding, s.margin, s.backgroundColor, s.borderTopWidth,
            s.lineHeight, s.letterSpacing, s.boxSizing, s.textAlign].join('|'); };
  return {launcher: pick('.lau'), header: pick('.hn'), input: pick('textarea'), welcome: pick('.log .b'),
          host: getComputedStyle(document.querySelector('[data-kefu]')).display};
}"""


def test_host_page_css_does_not_leak_in_and_widget_css_does_not_leak_out(new_page, demo_site, widget_tenant) -> None:
    styles = {}
    for name, html in (("clean", CLEAN), ("hostile", HOSTILE)):
        page = new_page(open_shadow=True)
        page.goto(demo_site.add_page(f"/{name}", html) + f"?key={widget_inbox(widget_tenant).key}")
        widget(page).locator(".isopen .panel").wait_for(state="visible")
        styles[name] = page.evaluate(PROBE)
        if name == "hostile":
            host_with_widget = page.evaluate(HOST_STYLE)
        assert not page.kefu_errors
    assert styles["hostile"] == styles["clean"]
    assert "rgb(255, 0, 0)" not in str(styles["hostile"])

    # The other way: the page's own elements look the same with and without the widget.
    bare = new_page()
    bare.goto(demo_site.add_page("/no-widget", NO_WIDGET))
    assert bare.evaluate(HOST_STYLE) == host_with_widget


def test_history_survives_reload_and_tabs_share_state(new_page, demo_site, widget_tenant) -> None:
    first = new_page(open_shadow=True)
    url = demo_site.url(widget_inbox(widget_tenant).key)
    w1 = open_widget(first, url)
    second = new_page(open_shadow=True, context=first.context)
    second.goto(url)
    w2 = widget(second)
    expect(w2.locator(".k.isopen")).to_have_count(1)  # the open state came from the other tab
    type_and_send(first, "shared across tabs")
    conv = conversation_of(widget_tenant)
    wait_for(lambda: visitor_messages(conv), what="the message")
    send_message(conversation=conv, sender_type="agent", body="agent answer")
    expect(w2.locator(".b", has_text="agent answer")).to_be_visible()
    w1.locator(".x").click()
    expect(w2.locator(".k.isopen")).to_have_count(0)  # closing syncs too

    # Unread badge: a reply while closed shows on the launcher in both tabs.
    send_message(conversation=conv, sender_type="agent", body="are you there?")
    expect(w1.locator(".badge")).to_have_text("1")
    expect(w2.locator(".badge")).to_have_text("1")
    first.reload()
    w1 = widget(first)
    expect(w1.locator(".badge")).to_have_text("1")
    w1.locator(".lau").click()
    expect(w1.locator(".row.me .b")).to_have_text("shared across tabs")
    expect(w1.locator(".b", has_text="are you there?")).to_be_visible()
    expect(w2.locator(".badge")).to_be_hidden()  # read in one tab, read everywhere


def test_setuser_before_load_identifies_the_visitor(new_page, demo_site, widget_tenant) -> None:
    from kefu.models import Visitor
    from kefu.services.visitors import identity_hash

    user_hash = identity_hash(tenant=widget_tenant, external_id="u-42")
    page_html = (
        "<!doctype html><html><body><script>window.kefu=window.kefu||function(){(kefu.q=kefu.q||[]).push(arguments)};"
        f"kefu('setUser', {{id: 'u-42', name: 'Li Lei', email: 'li@example.com', hash: '{user_hash}'}});"
        "kefu('setLocale', 'zh-CN');kefu('on', 'open', function(){ window.opened = (window.opened||0) + 1; });"
        "kefu('open');</script>"
        '<script src="{product_url}/static/kefu/widget.js" data-key="{widget_key}" async></script></body></html>'
    )
    page = new_page(open_shadow=True)
    page.goto(demo_site.add_page("/identified", page_html) + f"?key={widget_inbox(widget_tenant).key}")
    w = widget(page)
    expect(w.locator("textarea")).to_have_attribute("placeholder", "输入消息…")
    assert page.evaluate("window.opened") == 1
    visitor = wait_for(
        lambda: Visitor.objects.filter(tenant=widget_tenant, external_id="u-42").first(), what="the verified visitor"
    )
    assert visitor.identity_verified and visitor.name == "Li Lei"


def test_prechat_form_comes_before_the_first_message(new_page, demo_site, widget_tenant) -> None:
    from kefu.models import Visitor

    online_agent(widget_tenant)
    inbox = widget_inbox(widget_tenant)
    inbox.widget_settings = {**inbox.widget_settings, "prechat": True}
    inbox.save(update_fields=["widget_settings"])
    page = new_page(open_shadow=True)
    w = open_widget(page, demo_site.url(widget_inbox(widget_tenant).key))
    card = w.locator(".card", has_text="Before we start")
    expect(card).to_be_visible()
    expect(w.locator("textarea")).to_be_disabled()
    card.locator("input").nth(0).fill("Wang Wu")
    card.locator("input").nth(1).fill("not-an-email")
    card.locator("button").click()
    expect(card.locator(".ferr")).to_have_text("Please enter a valid email")
    card.locator("input").nth(1).fill("wang@example.com")
    card.locator("button").click()
    expect(card).to_have_count(0)
    expect(w.locator("textarea")).to_be_enabled()
    visitor = wait_for(
        lambda: Visitor.objects.filter(tenant=widget_tenant, email="wang@example.com").first(),
        what="the pre-chat details",
    )
    assert visitor.name == "Wang Wu"


def test_offline_visitors_leave_contact_details(new_page, demo_site, widget_tenant) -> None:
    from kefu.models import Visitor

    inbox = widget_inbox(widget_tenant)
    inbox.widget_settings = {**inbox.widget_settings, "prechat": True}
    inbox.save(update_fields=["widget_settings"])
    page = new_page(open_shadow=True)
    w = open_widget(page, demo_site.url(widget_inbox(widget_tenant).key))
    # Nobody is online: a one-line offer replaces the pre-chat form; its button opens the
    # leave-a-message form, with phone.
    w.locator(".card.away button").click()
    card = w.locator(".card", has_text="Leave your contact details")
    expect(card).to_be_visible()
    card.locator("button").click()
    expect(card.locator(".ferr")).to_have_text("Please fill in your name")
    card.locator("input").nth(0).fill("<b>Zhang San</b>")
    card.locator("input").nth(1).fill("zhang@example.com")
    card.locator("input").nth(2).fill("+86 138 0000 0000")
    card.locator("button").click()
    expect(w.locator(".sys", has_text="We will contact you soon")).to_be_visible()
    visitor = wait_for(
        lambda: Visitor.objects.filter(tenant=widget_tenant, email="zhang@example.com").first(),
        what="the contact details",
    )
    assert visitor.name == "<b>Zhang San</b>" and visitor.phone == "+86 138 0000 0000"


def test_rating_when_the_conversation_closes(new_page, demo_site, widget_tenant) -> None:
    from kefu.services.conversations import conversation_close

    page = new_page(open_shadow=True)
    w = open_widget(page, demo_site.url(widget_inbox(widget_tenant).key))
    type_and_send(page, "bye")
    conv = conversation_of(widget_tenant)
    wait_for(lambda: visitor_messages(conv), what="the message")
    off_loop(conversation_close, conversation=conv)
    card = w.locator(".card", has_text="How did we do?")
    expect(card).to_be_visible()
    card.locator(".stars button").nth(3).click()
    card.locator("textarea").fill("quick and kind")
    card.locator(".pb").click()
    expect(w.locator(".sys", has_text="Thank you for your feedback")).to_be_visible()
    conv.refresh_from_db()
    wait_for(lambda: type(conv).objects.get(pk=conv.pk).rating == 4, what="the rating")


def test_screenshots_desktop_and_phone(new_page, demo_site, widget_tenant, browser) -> None:
    online_agent(widget_tenant, name="Alice")
    inbox = widget_inbox(widget_tenant)
    inbox.widget_settings = {
        **inbox.widget_settings,
        "name": "Demo Shop 客服",
        "welcome": "Hi! I'm the Demo Shop assistant. Ask me about **orders**, **shipping** or **returns**.",
    }
    inbox.save(update_fields=["widget_settings"])
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    url = demo_site.url(widget_inbox(widget_tenant).key)

    page = new_page(open_shadow=True, viewport={"width": 1280, "height": 820})
    w = open_widget(page, url)
    type_and_send(page, "Hi, where is my order #10234?")
    conv = conversation_of(widget_tenant)
    wait_for(lambda: visitor_messages(conv), what="the question")
    send_message(
        conversation=conv,
        sender_type="bot",
        body="Order **#10234** left our warehouse yesterday and should arrive within *2 days*.",
        metadata={
            "sources": [{"title": "Shipping times", "url": "https://shop.example.com/help/shipping"}],
            "quick_replies": ["Track parcel", "Change address", "Talk to a human"],
        },
    )
    expect(w.locator(".qr .chip")).to_have_count(3)
    page.wait_for_timeout(300)
    page.screenshot(path=str(SCREENSHOTS / "widget-desktop.png"))

    # The same visitor (same storage) on a phone, with a Chinese browser.
    phone = new_page(
        open_shadow=True,
        context=browser.new_context(
            viewport={"width": 390, "height": 844},
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
            locale="zh-CN",
            storage_state=page.context.storage_state(),
        ),
    )
    phone.goto(url)
    pw = widget(phone)
    panel = pw.locator(".isopen .panel")
    expect(panel).to_be_visible()
    expect(pw.locator(".hs")).to_have_text("通常几分钟内回复")  # connected, Chinese from navigator.language
    expect(pw.locator(".qr .chip")).to_have_count(3)  # the same visitor's history
    # Full screen on a phone: the panel covers the whole viewport.
    phone.wait_for_function("""() => {
      const p = document.querySelector('[data-kefu]').shadowRoot.querySelector('.isopen .panel');
      const r = p && p.getBoundingClientRect();
      return r && r.x === 0 && r.y === 0 && r.width === innerWidth && r.height === innerHeight && innerWidth === 390;
    }""")
    phone.wait_for_timeout(300)  # the open transition, for the picture only
    phone.screenshot(path=str(SCREENSHOTS / "widget-phone.png"))
    phone.context.close()
