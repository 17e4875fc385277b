"""The REST API v1 resources: conversations, messages, contacts, attachments, directory."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.db import connection
from PIL import Image

from kefu.models import Attachment, AuditLog, Conversation, Message, Role, SenderType, Status, Visitor
from kefu.services.api_keys import api_key_issue
from kefu.services.conversations import conversation_open
from kefu.services.messages import message_send
from tests.factories import AgentFactory, TagFactory, TeamFactory, TenantFactory, VisitorFactory, widget_inbox

pytestmark = pytest.mark.django_db


class Api:
    def __init__(self, client, token: str) -> None:
        self.client, self.auth = client, {"HTTP_AUTHORIZATION": f"Bearer {token}"}

    def get(self, url: str, **params):
        return self.client.get("/api/v1/" + url, params, **self.auth)

    def post(self, url: str, body=None):
        return self.client.post("/api/v1/" + url, body or {}, content_type="application/json", **self.auth)

    def patch(self, url: str, body):
        return self.client.patch("/api/v1/" + url, body, content_type="application/json", **self.auth)

    def delete(self, url: str):
        return self.client.delete("/api/v1/" + url, **self.auth)


@pytest.fixture
def tenant():
    return TenantFactory()


@pytest.fixture
def api(client, tenant):
    return Api(client, api_key_issue(tenant=tenant, name="admin", scopes=["admin"])[1])


def png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (3, 3), "blue").save(buf, "PNG")
    return buf.getvalue()


def test_conversation_list_filters_and_pages_without_gaps(api, tenant):
    team = TeamFactory(tenant=tenant)
    tag = TagFactory(tenant=tenant, name="vip")
    convs = [conversation_open(tenant=tenant, visitor=VisitorFactory(tenant=tenant, name=f"V{i}"))[0] for i in range(7)]
    Conversation.objects.filter(pk=convs[0].pk).update(team=team, priority=3)
    convs[1].tags.add(tag)
    message_send(conversation=convs[2], sender_type=SenderType.VISITOR, body="where is my parcel")
    seen, cursor = [], None
    while True:
        page = api.get("conversations/", limit=3, **({"cursor": cursor} if cursor else {})).json()
        seen += [c["id"] for c in page["results"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == sorted((c.pk for c in convs), reverse=True)
    assert [c["id"] for c in api.get("conversations/", team_id=team.pk).json()["results"]] == [convs[0].pk]
    assert [c["id"] for c in api.get("conversations/", priority=3).json()["results"]] == [convs[0].pk]
    assert [c["id"] for c in api.get("conversations/", tag="vip").json()["results"]] == [convs[1].pk]
    assert [c["id"] for c in api.get("conversations/", q="parcel").json()["results"]] == [convs[2].pk]
    assert [c["id"] for c in api.get("conversations/", q="V3").json()["results"]] == [convs[3].pk]
    assert len(api.get("conversations/", assignee_id="none").json()["results"]) == 7
    bad = api.get("conversations/", limit=0)
    assert bad.status_code == 400 and "limit" in bad.json()["error"]["fields"]
    assert api.get("conversations/", cursor="%%%").json()["error"]["code"] == "bad_cursor"


def test_update_assign_transfer_tag_read_close_reopen(api, tenant):
    agent, other = AgentFactory(tenant=tenant), AgentFactory(tenant=tenant)
    team = TeamFactory(tenant=tenant)
    conv, _ = conversation_open(tenant=tenant, visitor=VisitorFactory(tenant=tenant))
    url = f"conversations/{conv.pk}/"
    body = api.patch(url, {"priority": 2, "attributes": {"order": "A-1", "x": 1}}).json()
    assert body["priority"] == 2 and body["attributes"] == {"order": "A-1", "x": 1}
    assert api.patch(url, {"attributes": {"x": None}}).json()["attributes"] == {"order": "A-1"}
    assigned = api.post(url + "assign/", {"agent_id": agent.pk}).json()
    assert assigned["status"] == "assigned" and assigned["assignee"]["id"] == agent.pk
    moved = api.post(url + "transfer/", {"agent_id": other.pk, "note": "over to you"}).json()
    assert moved["assignee"]["id"] == other.pk
    assert Message.objects.filter(conversation=conv, is_internal=True, body="over to you").exists()
    to_team = api.post(url + "transfer/", {"team_id": team.pk}).json()
    assert to_team["team_id"] == team.pk and to_team["status"] == "queued" and to_team["assignee"] is None
    assert api.post(url + "transfer/", {}).status_code == 400
    tag = api.post(url + "tags/", {"name": "refund"}).json()
    assert [t["name"] for t in api.get(url).json()["tags"]] == ["refund"]
    assert api.delete(url + f"tags/{tag['id']}/").status_code == 204
    message_send(conversation=conv, sender_type=SenderType.VISITOR, body="hi")
    assert api.post(url + "read/").json()["agent_read_seq"] == Conversation.objects.get(pk=conv.pk).last_seq
    assert api.post(url + "close/").json()["status"] == "closed"
    assert api.post(url + "reopen/").json()["status"] in ("queued", "assigned")
    assert api.patch(url, {"status": "closed"}).json()["status"] == "closed"
    assert api.patch(url, {"status": "open"}).json()["status"] != "closed"
    assert api.patch(url, {"assignee_id": agent.pk}).json()["assignee"]["id"] == agent.pk
    foreign = AgentFactory()
    assert api.post(url + "assign/", {"agent_id": foreign.pk}).status_code == 404


def test_messages_as_agent_bot_note_attachment_and_paging(api, tenant, client):
    agent = AgentFactory(tenant=tenant)
    conv, _ = conversation_open(tenant=tenant, visitor=VisitorFactory(tenant=tenant))
    url = f"conversations/{conv.pk}/messages/"
    reply = api.post(url, {"body": "hello", "agent_id": agent.pk, "client_msg_id": "r1"})
    assert reply.status_code == 201 and reply.json()["sender_name"] == str(agent)
    assert api.post(url, {"body": "hello", "agent_id": agent.pk, "client_msg_id": "r1"}).status_code == 200
    assert api.post(url, {"body": "**bold**", "kind": "rich_text", "sender": "bot"}).json()["sender_type"] == "bot"
    note = api.post(url, {"body": "psst", "is_internal": True}).json()
    assert note["is_internal"] is True
    refused = api.post(url, {"sender": "contact", "body": "from a widget conversation?"})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "not_api_channel"
    upload = client.post(
        "/api/v1/attachments/",
        {"file": io.BytesIO(png()), "conversation_id": conv.pk},
        **api.auth,
    )
    assert upload.status_code == 201, upload.content
    attachment = upload.json()
    sent = api.post(url, {"attachment_id": attachment["id"]}).json()
    assert sent["kind"] == "image" and sent["attachment"]["url"].startswith("/api/v1/attachments/")
    download = client.get(sent["attachment"]["url"], **api.auth)
    assert download.status_code == 200 and b"".join(download.streaming_content) == png()
    public = api.get(url, include_internal="false").json()["results"]
    assert "psst" not in [m["body"] for m in public]
    first = api.get(url, limit=2).json()
    assert len(first["results"]) == 2 and first["next_cursor"]
    rest = api.get(url, after_seq=first["next_cursor"], limit=100).json()
    assert [m["seq"] for m in first["results"] + rest["results"]] == list(
        range(1, conv.__class__.objects.get(pk=conv.pk).last_seq + 1)
    )


def test_contacts_create_search_update_and_conversations(api, tenant):
    created = api.post("contacts/", {"name": "王芳", "email": "fang@example.com", "external_id": "crm-1"})
    assert created.status_code == 201 and created.json()["identity_verified"] is True
    cid = created.json()["id"]
    assert api.post("contacts/", {"external_id": "crm-1"}).status_code == 409
    assert api.get("contacts/", q="王").json()["results"][0]["id"] == cid
    assert api.get("contacts/", external_id="crm-1").json()["results"][0]["id"] == cid
    bad = api.patch(f"contacts/{cid}/", {"email": "nope"})
    assert bad.status_code == 400 and "email" in bad.json()["error"]["fields"]
    assert api.patch(f"contacts/{cid}/", {"attributes": {"plan": "pro"}}).json()["attributes"] == {"plan": "pro"}
    conv = api.post("conversations/", {"contact_id": cid, "priority": 2}).json()
    assert conv["channel"] == "api" and conv["priority"] == 2
    again = api.post("conversations/", {"contact_id": cid})
    assert again.status_code == 200 and again.json()["id"] == conv["id"]
    assert [c["id"] for c in api.get(f"contacts/{cid}/conversations/").json()["results"]] == [conv["id"]]


def test_merge_moves_every_conversation_and_the_verified_identity_wins(api, tenant):
    verified = Visitor.objects.create(tenant=tenant, anon_id="a1", external_id="u-9", identity_verified=True, name="Li")
    anonymous = VisitorFactory(tenant=tenant, email="li@example.com", attributes={"city": "杭州"})
    old, _ = conversation_open(tenant=tenant, visitor=verified)
    newer, _ = conversation_open(tenant=tenant, visitor=anonymous)
    merged = api.post(f"contacts/{anonymous.pk}/merge/", {"contact_id": verified.pk})
    assert merged.status_code == 200
    body = merged.json()
    assert body["id"] == verified.pk and body["external_id"] == "u-9"
    assert body["email"] == "li@example.com" and body["attributes"] == {"city": "杭州"}
    assert set(Conversation.objects.filter(visitor=verified).values_list("pk", flat=True)) == {old.pk, newer.pk}
    assert Conversation.objects.filter(visitor=verified).exclude(status=Status.CLOSED).count() == 1
    assert api.get(f"contacts/{anonymous.pk}/").status_code == 200  # a forwarding record
    assert anonymous.pk not in [c["id"] for c in api.get("contacts/").json()["results"]]
    assert AuditLog.objects.filter(action="contact.merge").exists()


def _text_anywhere(needle: str) -> list[str]:
    """Every table and text column of the database that still holds `needle`."""
    hits = []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' "
            "AND data_type IN ('text', 'character varying', 'jsonb')"
        )
        for table, column in cursor.fetchall():
            cursor.execute(f'SELECT 1 FROM "{table}" WHERE "{column}"::text LIKE %s LIMIT 1', [f"%{needle}%"])
            if cursor.fetchone():
                hits.append(f"{table}.{column}")
    return hits


@pytest.mark.postgres
def test_erase_leaves_nothing_behind_files_included(api, tenant, client, django_capture_on_commit_callbacks):
    agent = AgentFactory(tenant=tenant)
    person = Visitor.objects.create(
        tenant=tenant,
        anon_id="anon-erase",
        external_id="zhang-77",
        identity_verified=True,
        name="张伟独特",
        email="zhangwei-unique@example.com",
        phone="13900001111",
        attributes={"addr": "幸福路88号"},
    )
    conv, _ = conversation_open(tenant=tenant, visitor=person)
    message_send(conversation=conv, sender_type=SenderType.VISITOR, body="我的地址是幸福路88号")
    message_send(conversation=conv, sender_type=SenderType.AGENT, agent=agent, body="收到 张伟独特", is_internal=True)
    from kefu.services.attachments import attachment_create

    attachment = attachment_create(
        tenant=tenant, data=b"ID card of zhangwei-unique", filename="id.txt", conversation=conv
    )
    message_send(conversation=conv, sender_type=SenderType.VISITOR, kind="file", attachment=attachment)
    path = Path(attachment.file.path)
    assert path.exists()
    from kefu.services.conversations import conversation_rate

    conversation_rate(conversation=conv, rating=2, comment="call 13900001111")
    assert "kefu_message.body" in _text_anywhere("幸福路88号")  # the search does find what is there
    with django_capture_on_commit_callbacks(execute=True):  # files go when the erasure commits
        response = api.delete(f"contacts/{person.pk}/")
    assert response.status_code == 200
    done = response.json()
    assert done["erased"] is True and done["messages"] == 3 and done["files"] == 1
    assert not path.exists()
    assert Attachment.objects.filter(pk=attachment.pk).count() == 0
    for needle in ("张伟独特", "zhangwei-unique", "13900001111", "幸福路88号", "zhang-77", "anon-erase"):
        assert _text_anywhere(needle) == [], needle
    audit = AuditLog.objects.get(action="contact.erase")
    assert audit.data["messages"] == 3 and "张伟" not in str(audit.data)
    assert Message.objects.filter(conversation=conv).count() == 3  # counts stay for reports


def test_export_returns_what_the_contact_could_see(api, tenant):
    agent = AgentFactory(tenant=tenant)
    person = VisitorFactory(tenant=tenant, name="Export Me")
    conv, _ = conversation_open(tenant=tenant, visitor=person)
    message_send(conversation=conv, sender_type=SenderType.VISITOR, body="hello")
    message_send(conversation=conv, sender_type=SenderType.AGENT, agent=agent, body="internal", is_internal=True)
    data = api.get(f"contacts/{person.pk}/export/").json()
    assert data["contact"]["name"] == "Export Me"
    assert [m["body"] for m in data["conversations"][0]["messages"]] == ["hello"]


def test_a_verified_user_on_a_new_device_sees_their_history(client, tenant):
    from kefu.services.visitors import identity_hash

    inbox = widget_inbox(tenant)
    inbox.allowed_origins = ["http://shop.test"]
    inbox.save()
    sig = identity_hash(tenant=tenant, external_id="user-5")

    def boot(anon: str):
        return client.post(
            "/widget/api/bootstrap",
            {"widget_key": inbox.key, "visitor_id": anon, "user_id": "user-5", "user_hash": sig},
            content_type="application/json",
            HTTP_ORIGIN="http://shop.test",
        ).json()

    first = boot("laptop-1")
    holder = Visitor.objects.get(tenant=tenant, external_id="user-5")
    conv, _ = conversation_open(tenant=tenant, visitor=holder)
    message_send(conversation=conv, sender_type=SenderType.VISITOR, body="from my laptop")
    phone = boot("phone-1")
    assert phone["visitor_id"] == first["visitor_id"] and phone["conversation"]["id"] == conv.pk
    history = client.get(
        "/widget/api/messages", HTTP_AUTHORIZATION=f"Bearer {phone['token']}", HTTP_ORIGIN="http://shop.test"
    ).json()
    assert [m["body"] for m in history["messages"]] == ["from my laptop"]
    # The phone's browser, when it comes back with its own id, still reaches the same contact.
    again = boot("phone-1")
    assert again["visitor_id"] == first["visitor_id"]


def test_directory_reads_for_any_key_writes_need_admin(client, tenant):
    reader = Api(client, api_key_issue(tenant=tenant, name="r", scopes=["directory:read"])[1])
    admin = Api(client, api_key_issue(tenant=tenant, name="a", scopes=["directory:admin"])[1])
    agent = AgentFactory(tenant=tenant, role=Role.AGENT)
    assert agent.pk in [a["id"] for a in reader.get("agents/").json()["results"]]
    assert reader.post("teams/", {"name": "Billing"}).status_code == 403
    team = admin.post("teams/", {"name": "Billing"}).json()
    assert admin.post("teams/", {"name": "Billing"}).status_code == 409
    assert admin.post(f"teams/{team['id']}/members/", {"agent_id": agent.pk}).json()["member_ids"] == [agent.pk]
    assert reader.get(f"agents/{agent.pk}/").json()["team_ids"] == [team["id"]]
    assert admin.delete(f"teams/{team['id']}/members/{agent.pk}/").status_code == 204
    assert admin.patch(f"teams/{team['id']}/", {"name": "Billing 2"}).json()["name"] == "Billing 2"
    tag = admin.post("tags/", {"name": "vip", "color": "#FF0000"}).json()
    assert tag["color"] == "#ff0000"
    canned = admin.post("canned-replies/", {"shortcut": "hi", "title": "Hi", "body": "Hello!"}).json()
    assert admin.patch(f"canned-replies/{canned['id']}/", {"body": "Hello again"}).json()["body"] == "Hello again"
    assert [c["shortcut"] for c in reader.get("canned-replies/").json()["results"]] == ["hi"]
    for url in (f"teams/{team['id']}/", f"tags/{tag['id']}/", f"canned-replies/{canned['id']}/"):
        assert admin.delete(url).status_code == 204


def test_a_session_sees_what_the_console_shows(client, tenant):
    mine_agent = AgentFactory(tenant=tenant)
    colleague = AgentFactory(tenant=tenant)
    mine, _ = conversation_open(tenant=tenant, visitor=VisitorFactory(tenant=tenant))
    theirs, _ = conversation_open(tenant=tenant, visitor=VisitorFactory(tenant=tenant))
    Conversation.objects.filter(pk=mine.pk).update(assignee=mine_agent, status="assigned")
    Conversation.objects.filter(pk=theirs.pk).update(assignee=colleague, status="assigned")
    client.force_login(mine_agent.user)
    listed = [c["id"] for c in client.get("/api/v1/conversations/").json()["results"]]
    assert listed == [mine.pk]
    contacts = [c["id"] for c in client.get("/api/v1/contacts/").json()["results"]]
    assert contacts == [mine.visitor_id]
    assert client.post("/api/v1/teams/", {"name": "x"}, content_type="application/json").status_code == 403
