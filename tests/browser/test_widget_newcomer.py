"""Widget defects a newcomer met in the first hour (issue 14), each seen in Chromium."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from kefu.models import Conversation, SenderType
from tests.browser.widget_helpers import (
    conversation_of,
    online_agent,
    open_widget,
    send_message,
    type_and_send,
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

# Records what the host page hears through the public API, before the loader runs.
LISTEN_UNREAD = """
window.__unread = [];
window.kefu = window.kefu || function () { (window.kefu.q = window.kefu.q || []).push(arguments); };
kefu("on", "unread", function (n) { window.__unread.push(n); });
"""


def _sent_frames(page, kind: str) -> list[str]:
    return [line for line in page.kefu_log if line.startswith("ws > ") and f'"type":"{kind}"' in line.replace(" ", "")]


def _resumes_from(page, seq: int) -> list[str]:
    """Resume frames asking from `seq` or later. (Early ones are fair: under load a live
    frame can overtake another, and the widget rightly asks for the missing one.)"""
    return [line for line in _sent_frames(page, "resume") if json.loads(line[len("ws > ") :]).get("last_seq", 0) >= seq]


def _visitor_read_seq(conversation_id: int) -> int:
    return Conversation.objects.get(pk=conversation_id).visitor_read_seq


def test_an_internal_note_leaves_no_hole_for_receipts_unread_or_resume(new_page, demo_site, widget_tenant) -> None:
    agent = online_agent(widget_tenant)
    page = new_page(open_shadow=True)
    page.add_init_script(LISTEN_UNREAD)
    w = open_widget(page, demo_site.url(widget_inbox(widget_tenant).key))
    type_and_send(page, "Where is my parcel?")
    conv = conversation_of(widget_tenant)
    first = send_message(conversation=conv, sender_type=SenderType.AGENT, agent=agent, body="Let me check.")
    expect(w.locator(".b", has_text="Let me check.")).to_be_visible()
    wait_for(lambda: _visitor_read_seq(conv.pk) >= first.seq, what="the first receipt")

    # The note between two replies (every handoff writes one too).
    send_message(conversation=conv, sender_type=SenderType.AGENT, agent=agent, body="VIP, be quick", is_internal=True)
    second = send_message(conversation=conv, sender_type=SenderType.AGENT, agent=agent, body="It ships today.")
    expect(w.locator(".b", has_text="It ships today.")).to_be_visible()
    # The chat is open: the reply is read, the host page's unread count falls back to 0,
    # and the widget never re-downloads the conversation.
    wait_for(lambda: _visitor_read_seq(conv.pk) >= second.seq, what="the receipt past the note")
    wait_for(lambda: page.evaluate("window.__unread[window.__unread.length - 1]") == 0, what="unread back to 0")
    # Stuck behind the note, the widget would ask from first.seq on every new message.
    assert not _resumes_from(page, first.seq), _sent_frames(page, "resume")
    assert "VIP, be quick" not in page.content()

    # After a reload the replay covers the note too: the next reply is read without a resume.
    page.reload()
    expect(w.locator(".b", has_text="It ships today.")).to_be_visible()
    third = send_message(conversation=conv, sender_type=SenderType.AGENT, agent=agent, body="Tracking: 123")
    expect(w.locator(".b", has_text="Tracking: 123")).to_be_visible()
    wait_for(lambda: _visitor_read_seq(conv.pk) >= third.seq, what="the receipt after a reload")
    assert not _resumes_from(page, first.seq), _sent_frames(page, "resume")
    assert not page.kefu_errors


def test_a_second_embed_tag_makes_no_second_widget(new_page, demo_site, widget_tenant) -> None:
    tag = '<script src="{product_url}/static/kefu/widget.js" data-key="{widget_key}" async></script>'
    url = demo_site.add_page("/twice", f"<!doctype html><html><body><h1>Shop</h1>{tag}{tag}</body></html>")
    page = new_page(open_shadow=True)
    page.goto(f"{url}?key={widget_inbox(widget_tenant).key}")
    page.evaluate("kefu('open')")
    expect(page.locator("[data-kefu] .isopen .panel")).to_be_visible()
    page.wait_for_load_state("networkidle")
    assert page.locator("[data-kefu]").count() == 1
    assert page.locator("[data-kefu] .lau").count() == 1
    assert not page.kefu_errors


def test_nobody_online_the_bot_keeps_answering_and_contact_details_are_offered_compactly(
    new_page, demo_site, widget_tenant
) -> None:
    from bots.knowledge.services import faq_create, knowledge_base_create
    from bots.models import Bot, ProviderKind

    kb = knowledge_base_create(tenant=widget_tenant, name="FAQ")
    faq_create(knowledge_base=kb, question="How long does a refund take?", answer="Refunds arrive in 3-5 working days.")
    faq_create(knowledge_base=kb, question="Which payment methods do you take?", answer="WeChat Pay, Alipay and cards.")
    bot = Bot.objects.create(tenant=widget_tenant, name="Shop bot", provider=ProviderKind.LOCAL)
    bot.knowledge_bases.add(kb)
    page = new_page(open_shadow=True)
    w = open_widget(page, demo_site.url(widget_inbox(widget_tenant).key))

    # Nobody is online: a one-line offer, not a form filling the panel before anyone typed.
    away = w.locator(".card.away")
    expect(away).to_contain_text("We are away right now.")
    assert w.locator(".card input").count() == 0
    expect(w.locator("textarea")).to_be_enabled()

    type_and_send(page, "How long does a refund take?")
    expect(w.locator(".b", has_text="3-5 working days")).to_be_visible()
    human = w.locator(".acts .chip", has_text="Talk to a human")
    expect(human).to_be_visible()
    human.click()
    expect(w.locator(".row:not(.me) .b", has_text="Nobody from our team is available right now")).to_be_visible()
    conv = conversation_of(widget_tenant)
    assert Conversation.objects.get(pk=conv.pk).status == "bot"

    # The bot still answers afterwards.
    type_and_send(page, "Which payment methods do you take?")
    expect(w.locator(".b", has_text="WeChat Pay, Alipay and cards.")).to_be_visible()

    away.locator("button").click()
    form = w.locator(".card form")
    form.locator("input[autocomplete=name]").fill("Li Lei")
    form.locator("input[type=email]").fill("li@example.com")
    form.locator("button[type=submit]").click()
    expect(w.locator(".sys", has_text="Thanks! We will contact you soon.")).to_be_visible()
    wait_for(lambda: Conversation.objects.get(pk=conv.pk).visitor.email == "li@example.com", what="contact saved")
    assert not page.kefu_errors
