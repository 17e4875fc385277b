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
    owner = AgentFactory(tenant=tenant)
    conv.assignee, conv.status = owner, "assigned"
    conv.save()
    msg = message_send(conversation=conv, sender_type=SenderType.VISITOR, body="secret of A").message
    message_send(conversation=conv, sender_type=SenderType.AGENT, agent=owner, body="note of A", is_internal=True)
    attachment = attachment_create(tenant=tenant, data=b"hello", filename="a.txt", conversation=conv)
    from kefu.models import WebhookDelivery, WebhookSubscription

    hook = WebhookSubscription.objects.create(tenant=tenant, url="https://hooks.example.com/a", secret="s")
    delivery = WebhookDelivery.objects.create(
        tenant=tenant, subscription=hook, event="message.created", payload={"secret": "secret of A"}
    )
    objects = {
        "conversation_id": conv.pk,
        "visitor_id": conv.visitor_id,
        "contact_id": conv.visitor_id,
        "webhook_id": hook.pk,
        "delivery_id": delivery.pk,
        "message_id": msg.pk,
        "attachment_id": attachment.pk,
        "agent_id": AgentFactory(tenant=tenant).pk,
        "team_id": TeamFactory(tenant=tenant).pk,
        "tag_id": TagFactory(tenant=tenant).pk,
        "canned_reply_id": CannedReplyFactory(tenant=tenant).pk,
    }
    other = ConversationFactory()
    _, token_b = api_key_issue(tenant=other.tenant, name="B", scopes=["admin"])
    _, token_a = api_key_issue(tenant=tenant, name="A", scopes=["admin"])
    _, read_only = api_key_issue(tenant=tenant, name="A-read", scopes=["read"])
    objects["read_only_token"] = read_only
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


def test_a_read_only_key_cannot_write_anywhere(client, world):
    """Every write on every route with tenant A's own read-only key: 403 (or 405 where the
    route has no such method), and nothing changes."""
    from kefu.models import Message

    ids, *_ = world
    token = ids["read_only_token"]
    before = Message.objects.count()
    writes = []
    for route in api_routes():
        url = _fill(route, ids)
        for method in ("post", "patch", "put", "delete"):
            response = getattr(client, method)(
                url, {"body": "x"}, HTTP_AUTHORIZATION=f"Bearer {token}", content_type="application/json"
            )
            # The console's endpoints do not exist for a key at all (404).
            refused = (403, 404, 405) if route.startswith("api/v1/console/") else (403, 405)
            if response.status_code not in refused:
                writes.append((method, url, response.status_code))
    assert writes == [] and Message.objects.count() == before


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


MISSING = dict.fromkeys(
    (
        "conversation_id",
        "visitor_id",
        "contact_id",
        "attachment_id",
        "message_id",
        "agent_id",
        "team_id",
        "tag_id",
        "canned_reply_id",
        "webhook_id",
        "delivery_id",
    ),
    999_999_999,
)
HIDDEN_IDS = ("conversation_id", "visitor_id", "contact_id", "attachment_id", "message_id")


def test_every_route_hides_a_colleagues_conversation_from_an_agent_without_access(client, world):
    """Same tenant, signed in, but the conversation is assigned to someone else: every
    route that names it (or its visitor, messages, attachments) answers as if it did not
    exist, and no list carries its content."""
    ids, *_ = world
    from kefu.models import Conversation

    tenant = Conversation.objects.get(pk=ids["conversation_id"]).tenant
    stranger = AgentFactory(tenant=tenant)
    client.force_login(stranger.user)
    leaks = []
    routes = [r for r in _session_routes() if any(f"<int:{name}>" in r for name in HIDDEN_IDS)]
    assert len(routes) >= 5
    for route in routes:
        url = _fill(route, ids)
        for method in ("get", "post", "patch", "put", "delete"):
            response = getattr(client, method)(url, {}, content_type="application/json")
            if response.status_code == 405:
                continue
            if response.status_code != 404:
                # Refused before any lookup (an admin-only operation) is fine only if a
                # missing id gets exactly the same answer: nothing is learnt.
                missing = getattr(client, method)(_fill(route, MISSING), {}, content_type="application/json")
                same = (missing.status_code, missing.json()["error"]["code"]) == (
                    response.status_code,
                    response.json()["error"]["code"] if response.status_code >= 400 else None,
                )
                if not same:
                    leaks.append((method, url, response.status_code))
    for route in _session_routes():
        if "<" in route:
            continue
        body = client.get("/" + route).content.decode()
        if "secret of A" in body or "note of A" in body:
            leaks.append(("get", route, "content"))
    assert leaks == []


def test_the_conversation_is_visible_once_assigned_to_the_agent(client, world):
    ids, *_ = world
    from kefu.models import Attachment, Conversation

    conv = Conversation.objects.get(pk=ids["conversation_id"])
    colleague = AgentFactory(tenant=conv.tenant)
    client.force_login(colleague.user)
    url = f"/api/v1/conversations/{conv.pk}/"
    download = f"/attachments/{Attachment.objects.get(pk=ids['attachment_id']).pk}/"
    assert client.get(url).status_code == 404 and client.get(download).status_code == 404
    conv.assignee = colleague
    conv.save()
    assert client.get(url).status_code == 200 and client.get(download).status_code == 200


def _session_routes() -> list[str]:
    """Every route an agent's session reaches with an id: the REST API, the console's
    REST endpoints and attachment downloads."""
    routes = {route for route, _ in _walk(get_resolver().url_patterns)}
    return sorted(r for r in routes if r.startswith("api/v1/") or r.startswith("attachments/"))


def test_tenant_a_reaches_its_own_objects(client, world):
    ids, token_a, _ = world
    response = client.get(
        f"/api/v1/conversations/{ids['conversation_id']}/messages/", HTTP_AUTHORIZATION=f"Bearer {token_a}"
    )
    assert response.status_code == 200 and response.json()["results"][0]["body"] == "secret of A"


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
    assert empty.status_code == 400 and empty.json()["error"]["code"] == "empty"


def test_openapi_schema_is_served(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert "/api/v1/conversations/" in response.content.decode()
