"""Issue 13 item 12: every error under /api/ and /widget/api/ is JSON in the one documented
shape, never one of Django's HTML pages, for any status and in production mode too."""

from __future__ import annotations

import pytest

from kefu.services.conversations import conversation_open
from kefu.visitor_tokens import token_issue
from tests.factories import TenantFactory, VisitorFactory, widget_inbox
from tests.kefu.live_helpers import open_visitor, send, until, visitor_token

pytestmark = pytest.mark.django_db

SHOP = "http://shop.test"


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code and isinstance(error["message"], str) and error["message"]
    return error


@pytest.fixture(params=[True, False], ids=["debug", "production"])
def mode(request, settings):
    settings.DEBUG = request.param
    return request.param


def test_unknown_routes_and_methods_are_json(client, mode):
    assert_error(client.get("/api/v1/no-such-thing/"), 404, "not_found")
    assert_error(client.get("/api/no-such-thing"), 404, "not_found")
    assert_error(client.get("/widget/api/nope"), 404, "not_found")
    refused = client.put("/widget/api/bootstrap", "{}", content_type="application/json")
    assert_error(refused, 405, "method_not_allowed")
    assert "POST" in refused["Allow"]


def test_api_errors_have_the_shape_for_each_status(client, mode):
    from kefu.api.auth import api_key_issue

    tenant = TenantFactory()
    _key, token = api_key_issue(tenant=tenant, name="k", scopes=["read", "write"])
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    assert_error(client.get("/api/v1/conversations/"), 401, "not_authenticated")
    assert_error(client.get("/api/v1/conversations/", HTTP_AUTHORIZATION="Bearer kefu_x_y"), 401, "auth_failed")
    assert_error(client.get("/api/v1/conversations/999999/", **auth), 404, "not_found")
    assert_error(client.delete("/api/v1/conversations/", **auth), 405, "method_not_allowed")
    conv, _ = conversation_open(tenant=tenant, visitor=VisitorFactory(tenant=tenant))
    url = f"/api/v1/conversations/{conv.pk}/messages/"
    bad_json = client.post(url, "{not json", content_type="application/json", **auth)
    assert_error(bad_json, 400, "bad_json")
    invalid = assert_error(client.post(url, {"kind": "nope"}, content_type="application/json", **auth), 400, "invalid")
    assert set(invalid["fields"]) >= {"kind"}
    big = client.post(url, b'{"body": "' + b"x" * (10 * 1024 * 1024) + b'"}', content_type="application/json", **auth)
    assert_error(big, 413, "too_large")


def test_widget_errors_are_json_for_huge_bodies_and_long_file_names(client, mode):
    tenant = TenantFactory()
    big = client.post("/widget/api/bootstrap", b"{" + b" " * (10 * 1024 * 1024) + b"}", content_type="application/json")
    assert_error(big, 413, "too_large")
    visitor = VisitorFactory(tenant=tenant)
    token = token_issue(tenant_id=tenant.pk, visitor_id=visitor.pk)
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("a" * 1000 + ".txt", b"hello", content_type="text/plain")
    response = client.post(
        "/widget/api/upload", {"file": upload}, HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_ORIGIN=SHOP
    )
    assert response["Content-Type"].startswith("application/json")
    assert response.status_code in (201, 400), response.content[:300]
    if response.status_code == 201:
        assert len(response.json()["attachment"]["name"]) <= 200


def test_widget_history_without_an_origin_is_refused_like_bootstrap(client):
    tenant = TenantFactory()
    visitor = VisitorFactory(tenant=tenant)
    token = token_issue(tenant_id=tenant.pk, visitor_id=visitor.pk)
    conversation_open(tenant=tenant, visitor=visitor)
    assert_error(client.get("/widget/api/messages", HTTP_AUTHORIZATION=f"Bearer {token}"), 403, "origin")
    ok = client.get("/widget/api/messages", HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_ORIGIN=SHOP)
    assert ok.status_code == 200
    no_origin_boot = client.post(
        "/widget/api/bootstrap", {"widget_key": widget_inbox(tenant).key}, content_type="application/json"
    )
    assert_error(no_origin_boot, 403, "origin")


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
@pytest.mark.redis
async def test_an_invalid_email_in_the_contact_frame_is_a_validation_error():
    from asgiref.sync import sync_to_async

    tenant = await sync_to_async(TenantFactory)()
    visitor = await sync_to_async(VisitorFactory)(tenant=tenant)
    comm, _welcome = await open_visitor(visitor_token(visitor))
    await send(comm, {"type": "contact", "name": "Li", "email": "not-an-email", "text": "call me"})
    error = await until(comm, "error")
    assert error["code"] == "invalid" and "email" in error["message"].lower()
    await comm.disconnect()
