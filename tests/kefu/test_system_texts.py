"""System texts are stored as a code and parameters and read in the reader's language (issue 14 item 6)."""

from __future__ import annotations

import pytest
from django.utils import translation

from kefu import system_texts
from kefu.models import Message, Presence, Status
from kefu.payloads import message_payload
from kefu.services.conversations import (
    conversation_assign,
    conversation_close,
    conversation_nobody_online,
    conversation_transfer,
)
from tests.factories import AgentFactory, ConversationFactory, TeamFactory

pytestmark = pytest.mark.django_db


def test_the_widget_copy_of_the_catalogue_is_current():
    # The widget bundles static/kefu/shared/system-texts.json; after editing kefu/system_texts.py
    # or the .po files, run `manage.py system_texts` (then `npm run build`).
    assert system_texts.CATALOGUE_FILE.read_text(encoding="utf-8") == system_texts.catalogue_json()


def test_events_carry_code_and_params_and_render_in_either_language():
    conv = ConversationFactory(status=Status.QUEUED)
    alice = AgentFactory(tenant=conv.tenant, display_name="Alice")
    team = TeamFactory(tenant=conv.tenant, name="售后")
    with translation.override("zh-hans"):
        conversation_assign(conversation=conv, agent=alice)
        conversation_transfer(conversation=conv, actor=alice, to_team=team, note="internal detail")
        conversation_close(conversation=conv, actor=alice)
    events = list(Message.objects.filter(conversation=conv, kind="event").order_by("seq"))
    assert [(e.metadata["code"], e.metadata["params"]) for e in events] == [
        ("assigned", {"agent": "Alice"}),
        ("transferred_team", {"team": "售后"}),
        ("closed", {}),
    ]
    # The body is the fallback in the language active at the time.
    assert events[0].body == "Alice 已加入会话。"
    with translation.override("en"):
        assert system_texts.render(events[0].metadata["code"], events[0].metadata["params"]) == (
            "Alice joined the conversation."
        )
    # Clients get the code and params; the transfer note stays out of what visitors could see.
    meta = message_payload(events[1])["meta"]
    assert meta["code"] == "transferred_team" and "internal detail" not in str(meta)


def test_nobody_online_names_the_time_the_team_is_back():
    conv = ConversationFactory(status=Status.BOT)
    conv.inbox.business_hours = {str(d): [["09:00", "18:00"]] for d in range(7)}
    conv.inbox.save()
    conv.tenant.timezone = "Asia/Shanghai"  # the inbox follows the tenant's time zone
    conv.tenant.save()
    AgentFactory(tenant=conv.tenant, presence=Presence.OFFLINE)
    with translation.override("en"):
        conversation_nobody_online(conversation=conv)
    said = Message.objects.filter(conversation=conv, is_internal=False).get()
    assert said.sender_type == "bot" and said.metadata["code"] == "nobody_online_until"
    back = said.metadata["params"]["back_at"]["time"]
    assert back.endswith("+08:00") and "T09:00:00" in back
    note = Message.objects.filter(conversation=conv, is_internal=True).get()
    assert note.metadata["code"] == "nobody_online_note"
    conv.refresh_from_db()
    assert conv.status == Status.BOT


def test_unknown_codes_render_nothing_and_missing_params_stay_visible():
    assert system_texts.render("no_such_code") == ""
    with translation.override("en"):
        assert system_texts.render("assigned", {}) == "{agent} joined the conversation."
