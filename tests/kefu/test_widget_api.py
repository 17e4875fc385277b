"""Widget HTTP endpoints: bootstrap with origins and CORS, and per-visitor scoping."""

from __future__ import annotations

import io

import pytest
from django.core import signing
from django.test import Client
from PIL import Image

from kefu.models import Conversation, Message, Status
from kefu.services.conversations import conversation_open
from kefu.services.messages import message_send
from kefu.visitor_tokens import SALT, token_issue
from tests.factories import TenantFactory, VisitorFactory, widget_inbox

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

SHOP = "http://shop.test"


def bootstrap(client: Client, tenant, origin: str = SHOP, **extra):
    body = {"widget_key": widget_inbox(tenant).key, "visitor_id": None, "page_url": "http://shop.test/p", **extra}
    return client.post("/widget/api/bootstrap", body, content_type="application/json", HTTP_ORIGIN=origin)


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}", "HTTP_ORIGIN": SHOP}


def png_bytes() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def tenant():
    return TenantFactory(widget_settings={"color": "#000000", "welcome": "欢迎"})


def test_bootstrap_issues_token_and_cors_for_allowed_origin(client, tenant):
    response = bootstrap(client, tenant)
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == SHOP
    data = response.json()
    assert data["ws_path"] == "/ws/visitor/" and data["conversation"] is None
    assert data["settings"]["welcome"] == "欢迎" and data["online"] is False
    assert data["expires_in"] > 0 and data["visitor_id"]
    again = bootstrap(client, tenant, visitor_id=data["visitor_id"]).json()
    assert again["visitor_id"] == data["visitor_id"]


def test_bootstrap_refuses_foreign_origin_without_cors(client, tenant):
    response = bootstrap(client, tenant, origin="http://evil.test")
    assert response.status_code == 403
    assert "Access-Control-Allow-Origin" not in response


def test_bootstrap_unknown_key_is_404(client, tenant):
    response = client.post(
        "/widget/api/bootstrap", {"widget_key": "wk_nope"}, content_type="application/json", HTTP_ORIGIN=SHOP
    )
    assert response.status_code == 404


def test_bootstrap_refuses_blocked_visitor(client, tenant):
    visitor = VisitorFactory(tenant=tenant, is_blocked=True)
    response = bootstrap(client, tenant, visitor_id=visitor.anon_id)
    assert response.status_code == 403


def test_preflight_answers_cors_only_for_known_origins(client, tenant):
    ok = client.options("/widget/api/messages", HTTP_ORIGIN=SHOP, HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET")
    assert ok["Access-Control-Allow-Origin"] == SHOP and "Authorization" in ok["Access-Control-Allow-Headers"]
    bad = client.options("/widget/api/messages", HTTP_ORIGIN="http://evil.test")
    assert "Access-Control-Allow-Origin" not in bad


def test_bootstrap_is_rate_limited_per_ip_and_ignores_forged_forwarded_for(client, tenant, settings):
    settings.KEFU_RL_IP_BOOTSTRAPS_PER_MINUTE = 3
    from django.core.cache import cache

    cache.clear()
    codes = [bootstrap(client, tenant, HTTP_X_FORWARDED_FOR=f"10.0.0.{i}").status_code for i in range(5)]
    assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]
    cache.clear()


def test_messages_history_excludes_internal_and_is_scoped_to_the_token(client, tenant):
    a, b = VisitorFactory(tenant=tenant), VisitorFactory(tenant=tenant)
    conv_a, _ = conversation_open(tenant=tenant, visitor=a)
    conv_b, _ = conversation_open(tenant=tenant, visitor=b)
    message_send(conversation=conv_a, sender_type="visitor", body="mine")
    from tests.factories import AgentFactory

    agent = AgentFactory(tenant=tenant)
    message_send(conversation=conv_a, sender_type="agent", agent=agent, body="note", is_internal=True)
    message_send(conversation=conv_b, sender_type="visitor", body="b's secret")
    token_a = token_issue(tenant_id=tenant.pk, visitor_id=a.pk)
    data = client.get("/widget/api/messages?after_seq=0", **bearer(token_a)).json()
    bodies = [m["body"] for m in data["messages"]]
    assert "mine" in bodies and "note" not in bodies and "b's secret" not in bodies
    foreign = client.get(f"/widget/api/messages?conversation_id={conv_b.pk}", **bearer(token_a))
    assert foreign.status_code == 404
    assert (
        client.post(
            "/widget/api/close", {"conversation_id": conv_b.pk}, content_type="application/json", **bearer(token_a)
        ).status_code
        == 404
    )
    conv_b.refresh_from_db()
    assert conv_b.status != Status.CLOSED


def test_invalid_expired_and_cross_tenant_tokens(client, tenant):
    visitor = VisitorFactory(tenant=tenant)
    assert client.get("/widget/api/messages").status_code == 401
    assert client.get("/widget/api/messages", HTTP_AUTHORIZATION="Bearer garbage").status_code == 401
    other = TenantFactory()
    forged = token_issue(tenant_id=other.pk, visitor_id=visitor.pk)
    assert client.get("/widget/api/messages", **bearer(forged)).status_code == 401
    expired = signing.dumps({"t": tenant.pk, "v": visitor.pk}, salt=SALT)
    from django.test import override_settings

    with override_settings(KEFU_VISITOR_TOKEN_MAX_AGE=-1):
        assert client.get("/widget/api/messages", **bearer(expired)).status_code == 401


def test_token_from_allowed_origin_only(client, tenant):
    visitor = VisitorFactory(tenant=tenant)
    conversation_open(tenant=tenant, visitor=visitor)
    token = token_issue(tenant_id=tenant.pk, visitor_id=visitor.pk)
    response = client.get("/widget/api/messages", HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_ORIGIN="http://evil.test")
    assert response.status_code == 403 and "Access-Control-Allow-Origin" not in response


def test_upload_and_download_scoped_to_visitor(client, tenant):
    a, b = VisitorFactory(tenant=tenant), VisitorFactory(tenant=tenant)
    token_a = token_issue(tenant_id=tenant.pk, visitor_id=a.pk)
    token_b = token_issue(tenant_id=tenant.pk, visitor_id=b.pk)
    upload = client.post("/widget/api/upload", {"file": io.BytesIO(png_bytes())}, **bearer(token_a))
    assert upload.status_code == 201, upload.content
    attachment = upload.json()["attachment"]
    assert attachment["content_type"] == "image/png"
    conv = Conversation.objects.get(visitor=a)
    assert upload.json()["conversation_id"] == conv.pk
    own = client.get(f"/widget/api/attachments/{attachment['id']}", **bearer(token_a))
    assert own.status_code == 200 and own["X-Content-Type-Options"] == "nosniff"
    assert client.get(f"/widget/api/attachments/{attachment['id']}", **bearer(token_b)).status_code == 404
    link = client.get(attachment["url"])  # the signed link works without the token (for <img>)
    assert link.status_code == 200
    assert "token" not in attachment["url"].lower() and token_a not in attachment["url"]
    assert client.get(attachment["url"].split("?")[0] + "?s=forged").status_code == 401


def test_attachment_of_another_visitor_cannot_be_sent(client, tenant):
    """The socket checks that the attachment belongs to the sender's conversation."""
    a, b = VisitorFactory(tenant=tenant), VisitorFactory(tenant=tenant)
    token_b = token_issue(tenant_id=tenant.pk, visitor_id=b.pk)
    upload = client.post("/widget/api/upload", {"file": io.BytesIO(png_bytes())}, **bearer(token_b))
    attachment_id = upload.json()["attachment"]["id"]
    conv_a, _ = conversation_open(tenant=tenant, visitor=a)
    from kefu.errors import InvalidInput

    with pytest.raises(InvalidInput):
        from kefu.models import Attachment

        message_send(
            conversation=conv_a,
            sender_type="visitor",
            kind="image",
            attachment=Attachment.objects.get(pk=attachment_id),
        )
    assert not Message.objects.filter(conversation=conv_a, attachment_id=attachment_id).exists()


def test_visitor_can_close_own_conversation(client, tenant):
    visitor = VisitorFactory(tenant=tenant)
    conv, _ = conversation_open(tenant=tenant, visitor=visitor)
    token = token_issue(tenant_id=tenant.pk, visitor_id=visitor.pk)
    response = client.post("/widget/api/close", {}, content_type="application/json", **bearer(token))
    assert response.status_code == 200
    conv.refresh_from_db()
    assert conv.status == Status.CLOSED


def test_set_attributes_are_stored_and_bad_ones_refused(client, tenant):
    data = bootstrap(client, tenant, attributes={"plan": "Pro", "orders": 12}).json()
    visitor = tenant.visitors.get(anon_id=data["visitor_id"])
    assert visitor.attributes == {"plan": "Pro", "orders": 12}
    too_many = {f"k{i}": i for i in range(60)}
    assert bootstrap(client, tenant, visitor_id=data["visitor_id"], attributes=too_many).status_code == 400
    visitor.refresh_from_db()
    assert visitor.attributes == {"plan": "Pro", "orders": 12}


def test_bootstrap_passes_widget_texts_sound_and_upload_limit(client):
    tenant = TenantFactory(
        widget_settings={"name": "Shop 客服", "sound": True, "texts": {"en": {"title": "Hi"}}}, max_upload_mb=7
    )
    settings_ = bootstrap(client, tenant).json()["settings"]
    assert settings_["name"] == "Shop 客服" and settings_["sound"] is True
    assert settings_["texts"] == {"en": {"title": "Hi"}} and settings_["max_upload_mb"] == 7


@pytest.mark.django_db(transaction=True)
def test_a_newly_allowed_origin_passes_the_preflight_at_once(client, tenant):
    new_site = "http://new-shop.test"
    assert "Access-Control-Allow-Origin" not in client.options(
        "/widget/api/messages", HTTP_ORIGIN=new_site, HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET"
    )
    inbox = widget_inbox(tenant)
    inbox.allowed_origins = [*inbox.allowed_origins, new_site]
    inbox.save()
    ok = client.options("/widget/api/messages", HTTP_ORIGIN=new_site, HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET")
    assert ok["Access-Control-Allow-Origin"] == new_site
