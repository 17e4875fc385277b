"""Migrations 0002-0004: a populated database from before inboxes loses nothing.

The data is built with the historical models of 0001 (as a live database holds it),
then migrated forward; and back again, which restores the tenant's widget columns.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.postgres

BEFORE = ("kefu", "0001_initial")
AFTER = ("kefu", "0004_inbox_required")


def _populate(apps) -> dict:
    Tenant = apps.get_model("kefu", "Tenant")
    Visitor = apps.get_model("kefu", "Visitor")
    Conversation = apps.get_model("kefu", "Conversation")
    Message = apps.get_model("kefu", "Message")
    Team = apps.get_model("kefu", "Team")
    shop = Tenant.objects.create(
        name="Shop",
        slug="shop",
        locale="zh-hans",
        widget_key="wk_shop_embedded_in_pages",
        allowed_origins=["https://shop.example.com", "https://m.shop.example.com"],
        widget_settings={
            "color": "#e8590c",
            "position": "left",
            "welcome": "您好！",
            "prechat": True,
            "texts": {"zh-hans": {"title": "在线客服"}},
        },
        business_hours={"0": [["09:00", "18:00"]], "5": []},
        timezone="Asia/Shanghai",
    )
    empty = Tenant.objects.create(name="Empty", slug="empty", locale="en", widget_key="wk_empty")
    team = Team.objects.create(tenant=shop, name="Sales")
    alice = Visitor.objects.create(tenant=shop, anon_id="alice")
    bob = Visitor.objects.create(tenant=shop, anon_id="bob")
    open_widget = Conversation.objects.create(tenant=shop, visitor=alice, channel="widget", status="queued", team=team)
    closed_widget = Conversation.objects.create(
        tenant=shop, visitor=alice, channel="widget", status="closed", last_seq=1
    )
    from_api = Conversation.objects.create(tenant=shop, visitor=bob, channel="api", status="bot", last_seq=2)
    Message.objects.create(tenant=shop, conversation=closed_widget, seq=1, sender_type="visitor", body="旧消息")
    for seq in (1, 2):
        Message.objects.create(tenant=shop, conversation=from_api, seq=seq, sender_type="visitor", body=f"api {seq}")
    return {
        "shop": shop.pk,
        "empty": empty.pk,
        "team": team.pk,
        "open_widget": open_widget.pk,
        "closed_widget": closed_widget.pk,
        "from_api": from_api.pk,
    }


def test_each_tenants_widget_becomes_its_first_inbox_and_back(migrator) -> None:
    old = migrator.apply_initial_migration(BEFORE)
    ids = _populate(old.apps)

    new = migrator.apply_tested_migration(AFTER)
    Inbox = new.apps.get_model("kefu", "Inbox")
    Conversation = new.apps.get_model("kefu", "Conversation")
    Message = new.apps.get_model("kefu", "Message")

    widget = Inbox.objects.get(tenant_id=ids["shop"], channel="widget")
    assert widget.key == "wk_shop_embedded_in_pages"  # embed codes already on sites keep working
    assert widget.name == "网站" and widget.is_active and widget.timezone == ""
    assert widget.allowed_origins == ["https://shop.example.com", "https://m.shop.example.com"]
    assert widget.widget_settings["color"] == "#e8590c" and widget.widget_settings["prechat"] is True
    assert widget.widget_settings["texts"] == {"zh-hans": {"title": "在线客服"}}
    assert widget.business_hours == {"0": [["09:00", "18:00"]], "5": []}
    api = Inbox.objects.get(tenant_id=ids["shop"], channel="api")
    assert Inbox.objects.filter(tenant_id=ids["shop"]).count() == 2

    # Every conversation, open or closed, found its inbox; nothing else about it moved.
    by_id = {c.pk: c for c in Conversation.objects.filter(tenant_id=ids["shop"])}
    assert by_id[ids["open_widget"]].inbox_id == widget.pk and by_id[ids["open_widget"]].team_id == ids["team"]
    assert by_id[ids["closed_widget"]].inbox_id == widget.pk and by_id[ids["closed_widget"]].status == "closed"
    assert by_id[ids["from_api"]].inbox_id == api.pk and by_id[ids["from_api"]].last_seq == 2
    assert Message.objects.filter(tenant_id=ids["shop"]).count() == 3
    assert list(
        Message.objects.filter(conversation_id=ids["from_api"]).order_by("seq").values_list("body", flat=True)
    ) == ["api 1", "api 2"]

    # A tenant with no conversation still gets its website widget (English name).
    (empty_widget,) = Inbox.objects.filter(tenant_id=ids["empty"])
    assert empty_widget.key == "wk_empty" and empty_widget.name == "Website" and empty_widget.allowed_origins == []

    Tenant = new.apps.get_model("kefu", "Tenant")
    assert not {"widget_key", "allowed_origins", "widget_settings", "business_hours"} & {
        f.name for f in Tenant._meta.get_fields()
    }

    # Backwards: the tenant gets its widget back, exactly.
    back = migrator.apply_tested_migration(BEFORE)
    shop = back.apps.get_model("kefu", "Tenant").objects.get(pk=ids["shop"])
    assert shop.widget_key == "wk_shop_embedded_in_pages"
    assert shop.allowed_origins == ["https://shop.example.com", "https://m.shop.example.com"]
    assert shop.widget_settings["texts"] == {"zh-hans": {"title": "在线客服"}}
    assert shop.business_hours == {"0": [["09:00", "18:00"]], "5": []}
    assert back.apps.get_model("kefu", "Conversation").objects.filter(tenant_id=ids["shop"]).count() == 3
