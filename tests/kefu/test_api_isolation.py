"""Every REST route x two tenants, generated from the URL conf so no route is forgotten."""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from kefu.api.auth import api_key_issue, api_key_revoke
from kefu.models import SenderType
from kefu.services.attachments import attachment_create
from kefu.services.messages import message_send
from tests.factories import AgentFactory, CannedReplyFactory, ConversationFactory, TagFactory, TeamFactory

pytestmark = pytest.mark.django_db

API_PREFIXES = ("api/v1/", "widget/api/")


def _walk(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


def api_routes() -> list[str]:
    return sorted({route for route, _ in _walk(get_resolver().url_patterns) if route.startswith("api/v1/")})


@pytest.fixture
def world():
    conv = ConversationFactory()
    tenant = conv.tenant
    msg = message_send(conversation=conv, sender_type=SenderType.VISITOR, body="secret of A").message
    attachment = attachment_create(tenant=tenant, data=b"hello", filename="a.txt", conversation=conv)
    objects = {
        "conversation_id": conv.pk,
        "visitor_id": conv.visitor_id,
        "message_id": msg.pk,
        "attachment_id": attachment.pk,
        "agent_id": AgentFactory(tenant=tenant).pk,
        "team_id": TeamFactory(tenant=tenant).pk,
        "tag_id": TagFactory(tenant=tenant).pk,
        "canned_reply_id": CannedReplyFactory(tenant=tenant).pk,
    }
    other = ConversationFactory()
    _, token_b = api_key_issue(tenant=other.tenant, name="B")
    _, token_a = api_key_issue(tenant=tenant, name="A")
    return objects, token_a, token_b


def _fill(route: str, ids: dict[str, int]) -> str | None:
    def repl(match: re.Match) -> str:
        name = match.group(2)
        if name in ids:
            return str(ids[name])
        if name.endswith("_id") or name == "pk":
            return str(ids.get("conversation_id"))
        return "x"

    return "/" + re.sub(r"<(?:(\w+):)?(\w+)>", repl, route)


def test_the_route_list_is_not_empty():
    assert len(api_routes()) >= 5


def test_every_api_route_hides_tenant_a_objects_from_tenant_b(client, world):
    ids, token_a, token_b = world
    leaks = []
    for route in api_routes():
        url = _fill(route, ids)
        has_id = "<" in route
        for method in ("get", "post", "patch", "put", "delete"):
            response = getattr(client, method)(
                url, HTTP_AUTHORIZATION=f"Bearer {token_b}", content_type="application/json"
            )
            if response.status_code == 405:
                continue
            body = response.content.decode()
            if has_id and response.status_code != 404:
                leaks.append((method, url, response.status_code))
            if "secret of A" in body:
                leaks.append((method, url, "content"))
    assert leaks == []


def test_every_api_route_refuses_anonymous_callers(client, world):
    ids, *_ = world
    open_routes = []
    for route in api_routes():
        url = _fill(route, ids)
        for method in ("get", "post"):
            response = getattr(client, method)(url, content_type="application/json")
            if response.status_code not in (401, 403, 405):
                open_routes.append((method, url, response.status_code))
    assert open_routes == []


def test_tenant_a_reaches_its_own_objects(client, world):
    ids, token_a, _ = world
    response = client.get(
        f"/api/v1/conversations/{ids['conversation_id']}/messages/", HTTP_AUTHORIZATION=f"Bearer {token_a}"
    )
    assert response.status_code == 200 and response.json()[0]["body"] == "secret of A"


def test_revoked_key_and_deactivated_agent_lose_access_at_once(client, world):
    ids, token_a, _ = world
    from kefu.models import ApiKey

    key = ApiKey.objects.get(name="A")
    api_key_revoke(key=key)
    assert client.get("/api/v1/conversations/", HTTP_AUTHORIZATION=f"Bearer {token_a}").status_code in (401, 403)
    agent = AgentFactory()
    client.force_login(agent.user)
    assert client.get("/api/v1/conversations/").status_code == 200
    agent.is_active = False
    agent.save()
    assert client.get("/api/v1/conversations/").status_code in (401, 403)


def test_message_post_is_idempotent_and_validated(client, world):
    ids, token_a, _ = world
    url = f"/api/v1/conversations/{ids['conversation_id']}/messages/"
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token_a}"}
    first = client.post(url, {"body": "hi", "client_msg_id": "k1"}, content_type="application/json", **auth)
    again = client.post(url, {"body": "hi", "client_msg_id": "k1"}, content_type="application/json", **auth)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["seq"] == again.json()["seq"]
    empty = client.post(url, {"body": "  "}, content_type="application/json", **auth)
    assert empty.status_code == 400 and empty.json()["code"] == "empty"


def test_openapi_schema_is_served(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert "/api/v1/conversations/" in response.content.decode()
