"""REST endpoints of the agent console: auth, tenant isolation, visibility, validation."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from kefu.console import assist
from kefu.models import Conversation, Role, SenderType, Status
from kefu.services.messages import message_send
from tests.factories import (
    AgentFactory,
    CannedReplyFactory,
    ConversationFactory,
    TagFactory,
    TeamFactory,
    TenantFactory,
    VisitorFactory,
)

pytestmark = pytest.mark.django_db

API = "/api/v1/console/"


@pytest.fixture
def agent():
    return AgentFactory(tenant=TenantFactory())


@pytest.fixture
def signed_in(client, agent):
    client.force_login(agent.user)
    return client


def _conv(tenant, **kwargs) -> Conversation:
    return ConversationFactory(tenant=tenant, **kwargs)


def test_anonymous_and_non_agent_users_are_refused(client, agent):
    conv = _conv(agent.tenant)
    assert client.get(API + "inbox/").status_code in (401, 403)
    assert client.get(f"{API}conversations/{conv.pk}/history/").status_code in (401, 403)
    from tests.factories import UserFactory

    client.force_login(UserFactory())
    assert client.get(API + "inbox/").status_code == 403


def test_inbox_boxes_and_counts(signed_in, agent):
    tenant = agent.tenant
    mine = _conv(tenant, status=Status.ASSIGNED, assignee=agent)
    queued = _conv(tenant, status=Status.QUEUED)
    bot = _conv(tenant, status=Status.BOT)
    message_send(conversation=mine, sender_type=SenderType.VISITOR, body="hello there")
    _conv(TenantFactory(), status=Status.QUEUED)  # another tenant's row never shows
    res = signed_in.get(API + "inbox/", {"box": "mine"}).json()
    assert [c["id"] for c in res["results"]] == [mine.pk]
    assert res["results"][0]["unread"] == 1 and res["results"][0]["preview"]["body"] == "hello there"
    assert res["counts"] == {"mine": 1, "queued": 1, "bot": 1, "all": 0, "unread": 1}
    assert [c["id"] for c in signed_in.get(API + "inbox/", {"box": "queued"}).json()["results"]] == [queued.pk]
    assert [c["id"] for c in signed_in.get(API + "inbox/", {"box": "bot"}).json()["results"]] == [bot.pk]


def test_inbox_all_box_hides_other_agents_work_from_plain_agents(client, agent):
    other = AgentFactory(tenant=agent.tenant)
    theirs = _conv(agent.tenant, status=Status.ASSIGNED, assignee=other)
    queued = _conv(agent.tenant, status=Status.QUEUED)
    client.force_login(agent.user)
    ids = {c["id"] for c in client.get(API + "inbox/", {"box": "all"}).json()["results"]}
    assert ids == {queued.pk}
    admin = AgentFactory(tenant=agent.tenant, role=Role.ADMIN)
    client.force_login(admin.user)
    ids = {c["id"] for c in client.get(API + "inbox/", {"box": "all"}).json()["results"]}
    assert ids == {queued.pk, theirs.pk}


def test_inbox_filters_by_team_tag_and_search(signed_in, agent):
    tenant = agent.tenant
    team, tag = TeamFactory(tenant=tenant), TagFactory(tenant=tenant)
    agent.teams.add(team)
    a = _conv(tenant, team=team, visitor=VisitorFactory(tenant=tenant, name="Alice Zhang"))
    b = _conv(tenant)
    a.tags.add(tag)
    message_send(conversation=b, sender_type=SenderType.VISITOR, body="我的订单 ORDER-778 还没到")
    message_send(conversation=a, sender_type=SenderType.VISITOR, body="hi")

    def ids(**q):
        return [c["id"] for c in signed_in.get(API + "inbox/", {"box": "queued", **q}).json()["results"]]

    assert ids(team_id=team.pk) == [a.pk]
    assert ids(tag_id=tag.pk) == [a.pk]
    assert ids(q="alice") == [a.pk]
    assert ids(q="order-778") == [b.pk]
    assert ids(q="订单") == [b.pk]
    assert signed_in.get(API + "inbox/", {"box": "nope"}).status_code == 400


def test_history_pages_backwards_by_seq(signed_in, agent):
    conv = _conv(agent.tenant)
    for n in range(7):
        message_send(conversation=conv, sender_type=SenderType.VISITOR, body=f"m{n}")
    page = signed_in.get(f"{API}conversations/{conv.pk}/history/", {"limit": 3}).json()
    assert [m["seq"] for m in page["messages"]] == [5, 6, 7] and page["has_more"]
    page = signed_in.get(f"{API}conversations/{conv.pk}/history/", {"limit": 5, "before_seq": 5}).json()
    assert [m["seq"] for m in page["messages"]] == [1, 2, 3, 4] and not page["has_more"]
    assert signed_in.get(f"{API}conversations/{conv.pk}/history/", {"before_seq": "x"}).status_code == 400


def test_other_tenants_ids_are_404_everywhere(signed_in, agent):
    foreign = _conv(TenantFactory())
    tag = TagFactory(tenant=foreign.tenant)
    urls = [
        ("get", f"{API}conversations/{foreign.pk}/"),
        ("get", f"{API}conversations/{foreign.pk}/history/"),
        ("post", f"{API}conversations/{foreign.pk}/tags/"),
        ("post", f"{API}conversations/{foreign.pk}/transfer/"),
        ("post", f"{API}conversations/{foreign.pk}/take-over/"),
        ("post", f"{API}conversations/{foreign.pk}/hand-back/"),
        ("post", f"{API}conversations/{foreign.pk}/upload/"),
        ("post", f"{API}conversations/{foreign.pk}/assist/"),
        ("get", f"{API}visitors/{foreign.visitor_id}/"),
        ("patch", f"{API}visitors/{foreign.visitor_id}/"),
    ]
    for method, url in urls:
        assert getattr(signed_in, method)(url, content_type="application/json").status_code == 404, url
    own = _conv(agent.tenant)
    assert signed_in.delete(f"{API}conversations/{own.pk}/tags/{tag.pk}/").status_code == 404
    assert (
        signed_in.post(
            f"{API}conversations/{own.pk}/tags/", {"tag_id": tag.pk}, content_type="application/json"
        ).status_code
        == 404
    )
    other_agent = AgentFactory(tenant=foreign.tenant)
    assert (
        signed_in.post(
            f"{API}conversations/{own.pk}/transfer/", {"agent_id": other_agent.pk}, content_type="application/json"
        ).status_code
        == 404
    )


def test_plain_agent_cannot_open_a_colleagues_conversation_but_admin_can(client, agent):
    colleague = AgentFactory(tenant=agent.tenant)
    conv = _conv(agent.tenant, status=Status.ASSIGNED, assignee=colleague)
    client.force_login(agent.user)
    assert client.get(f"{API}conversations/{conv.pk}/").status_code == 404
    supervisor = AgentFactory(tenant=agent.tenant, role=Role.OWNER)
    client.force_login(supervisor.user)
    assert client.get(f"{API}conversations/{conv.pk}/").status_code == 200


def test_api_keys_have_no_console(client, agent):
    from kefu.api.auth import api_key_issue

    _, token = api_key_issue(tenant=agent.tenant, name="k")
    assert client.get(API + "inbox/", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 404


def test_tags_add_by_name_and_remove(signed_in, agent):
    conv = _conv(agent.tenant)
    res = signed_in.post(f"{API}conversations/{conv.pk}/tags/", {"name": "vip"}, content_type="application/json")
    assert res.status_code == 201
    tag_id = res.json()["id"]
    again = signed_in.post(f"{API}conversations/{conv.pk}/tags/", {"name": "vip"}, content_type="application/json")
    assert again.json()["id"] == tag_id and conv.tags.count() == 1
    assert signed_in.post(f"{API}conversations/{conv.pk}/tags/", {}, content_type="application/json").status_code == 400
    assert signed_in.delete(f"{API}conversations/{conv.pk}/tags/{tag_id}/").status_code == 204
    assert conv.tags.count() == 0


def test_transfer_to_agent_and_team_and_validation(signed_in, agent):
    conv = _conv(agent.tenant, status=Status.ASSIGNED, assignee=agent)
    other, team = AgentFactory(tenant=agent.tenant), TeamFactory(tenant=agent.tenant)
    url = f"{API}conversations/{conv.pk}/transfer/"
    assert signed_in.post(url, {}, content_type="application/json").status_code == 400
    assert (
        signed_in.post(url, {"agent_id": other.pk, "team_id": team.pk}, content_type="application/json").status_code
        == 400
    )
    res = signed_in.post(url, {"agent_id": other.pk, "note": "VIP, be nice"}, content_type="application/json")
    assert res.status_code == 200 and res.json()["assignee"]["id"] == other.pk
    event, note = conv.messages.order_by("-seq")[1], conv.messages.order_by("-seq")[0]
    assert event.metadata["event"] == "transferred" and event.metadata["note"] == "VIP, be nice"
    assert note.is_internal and note.body == "VIP, be nice"
    # After the transfer the conversation is no longer this agent's to move.
    assert signed_in.post(url, {"team_id": team.pk}, content_type="application/json").status_code == 404


def test_take_over_and_hand_back(signed_in, agent):
    conv = _conv(agent.tenant, status=Status.BOT)
    res = signed_in.post(f"{API}conversations/{conv.pk}/take-over/")
    assert res.status_code == 200 and res.json()["status"] == Status.ASSIGNED
    res = signed_in.post(f"{API}conversations/{conv.pk}/hand-back/")
    assert res.status_code == 200 and res.json()["status"] == Status.BOT and res.json()["assignee"] is None
    conv.refresh_from_db()
    conv.status, conv.assignee = Status.CLOSED, agent
    conv.save()
    assert signed_in.post(f"{API}conversations/{conv.pk}/take-over/").status_code == 409


def test_team_queue_is_hidden_from_agents_outside_the_team(client, agent):
    team = TeamFactory(tenant=agent.tenant)
    conv = _conv(agent.tenant, status=Status.QUEUED, team=team)
    client.force_login(agent.user)
    assert client.get(f"{API}conversations/{conv.pk}/").status_code == 404
    assert client.get(API + "inbox/", {"box": "queued"}).json()["results"] == []
    agent.teams.add(team)
    assert client.get(f"{API}conversations/{conv.pk}/").status_code == 200


def test_upload_returns_attachment_and_kind(signed_in, agent):
    conv = _conv(agent.tenant)
    buf = io.BytesIO()
    Image.new("RGB", (4, 3), "red").save(buf, "PNG")
    buf.seek(0)
    buf.name = "<img src=x onerror=alert(1)>.png"
    res = signed_in.post(f"{API}conversations/{conv.pk}/upload/", {"file": buf})
    assert res.status_code == 201
    body = res.json()
    assert body["kind"] == "image" and body["attachment"]["width"] == 4
    assert "<" not in body["attachment"]["name"]
    assert signed_in.post(f"{API}conversations/{conv.pk}/upload/", {}).status_code == 400
    empty = io.BytesIO(b"")
    empty.name = "e.txt"
    assert signed_in.post(f"{API}conversations/{conv.pk}/upload/", {"file": empty}).status_code == 400


def test_canned_replies_are_the_tenants_only(signed_in, agent):
    CannedReplyFactory(tenant=agent.tenant, shortcut="hi", body="Hello! How can I help?")
    CannedReplyFactory(tenant=TenantFactory(), shortcut="secret", body="other tenant")
    res = signed_in.get(API + "canned-replies/").json()
    assert [c["shortcut"] for c in res] == ["hi"]


def test_visitor_panel_and_update(signed_in, agent):
    visitor = VisitorFactory(
        tenant=agent.tenant,
        name="Li",
        attributes={"plan": "pro"},
        user_agent="Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
        current_url="https://shop.test/cart",
    )
    old = _conv(agent.tenant, visitor=visitor, status=Status.CLOSED)
    conv = _conv(agent.tenant, visitor=visitor)
    res = signed_in.get(f"{API}visitors/{visitor.pk}/", {"conversation_id": conv.pk}).json()
    assert res["device"]["browser"] == "Safari" and res["device"]["os"] == "iOS" and res["device"]["device"] == "mobile"
    assert [c["id"] for c in res["past_conversations"]] == [old.pk]
    assert res["location"] is None and "ip" not in res
    res = signed_in.patch(
        f"{API}visitors/{visitor.pk}/", {"name": "Li Lei", "phone": "138"}, content_type="application/json"
    )
    assert res.status_code == 200 and res.json()["name"] == "Li Lei"
    bad = signed_in.patch(f"{API}visitors/{visitor.pk}/", {"email": "not-an-email"}, content_type="application/json")
    assert bad.status_code == 400


def test_assist_not_configured_then_provider_answers(signed_in, agent):
    conv = _conv(agent.tenant)
    url = f"{API}conversations/{conv.pk}/assist/"
    assert signed_in.post(url).json() == {"configured": False, "provider": "", "summary": "", "suggestions": []}

    def provider(conversation, who):
        assert conversation.pk == conv.pk and who.pk == agent.pk
        return assist.AssistResult(
            suggestions=[
                assist.AssistSuggestion("Try restarting.", [assist.AssistSource("FAQ", "https://x.test/faq")])
            ],
            summary="Visitor cannot log in.",
            provider="test",
        )

    assist.register_assist_provider(provider)
    try:
        res = signed_in.post(url).json()
    finally:
        assist.assist_providers.remove(provider)
    assert res["configured"] and res["summary"] == "Visitor cannot log in."
    assert res["suggestions"][0]["sources"][0]["url"] == "https://x.test/faq"


def test_assist_provider_failure_is_503(signed_in, agent):
    conv = _conv(agent.tenant)

    def broken(conversation, who):
        raise TimeoutError("slow")

    assist.register_assist_provider(broken)
    try:
        res = signed_in.post(f"{API}conversations/{conv.pk}/assist/")
    finally:
        assist.assist_providers.remove(broken)
    assert res.status_code == 503 and res.json()["error"]["code"] == "assist_unavailable"


def test_meta_lists_agents_teams_tags_of_the_tenant(signed_in, agent):
    TeamFactory(tenant=agent.tenant, name="Sales")
    TeamFactory(tenant=TenantFactory(), name="Foreign")
    res = signed_in.get(API + "meta/").json()
    assert [t["name"] for t in res["teams"]] == ["Sales"]
    assert res["me"]["id"] == agent.pk and res["me"]["is_admin"] is False
