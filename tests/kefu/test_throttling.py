"""Rate limits per API key, per agent session, per IP (anonymous) and per widget visitor:
429, code rate_limited, Retry-After; another identity keeps its own budget."""

from __future__ import annotations

import secrets

import pytest

from kefu.services.api_keys import api_key_issue
from kefu.services.conversations import conversation_open
from kefu.visitor_tokens import token_issue
from tests.factories import AgentFactory, TenantFactory, VisitorFactory

pytestmark = pytest.mark.django_db


def assert_limited(response) -> None:
    assert response.status_code == 429, response.content
    assert response.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(response["Retry-After"]) <= 60


def test_each_api_key_has_its_own_budget(client, settings):
    settings.KEFU_API_RATE_KEY_PER_MINUTE = 3
    tenant = TenantFactory()
    _k, one = api_key_issue(tenant=tenant, name="one", scopes=["read"])
    _k, two = api_key_issue(tenant=tenant, name="two", scopes=["read"])
    codes = [client.get("/api/v1/tags/", HTTP_AUTHORIZATION=f"Bearer {one}").status_code for _ in range(3)]
    assert codes == [200, 200, 200]
    assert_limited(client.get("/api/v1/tags/", HTTP_AUTHORIZATION=f"Bearer {one}"))
    assert client.get("/api/v1/tags/", HTTP_AUTHORIZATION=f"Bearer {two}").status_code == 200


def test_sessions_and_anonymous_callers_are_limited_by_user_and_ip(client, settings):
    settings.KEFU_API_RATE_SESSION_PER_MINUTE = 2
    settings.KEFU_API_RATE_IP_PER_MINUTE = 2
    ip = {"REMOTE_ADDR": f"203.0.113.{secrets.randbelow(250) + 1}"}  # counters are shared: a fresh address
    wrong_key = {"HTTP_AUTHORIZATION": "Bearer kefu_abc_guess", **ip}
    assert client.get("/api/v1/tags/", **ip).status_code == 401
    assert client.get("/api/v1/tags/", **wrong_key).status_code == 401
    assert_limited(client.get("/api/v1/tags/", **wrong_key))  # key guessing spends the address's budget
    agent = AgentFactory()
    client.force_login(agent.user)
    assert [client.get("/api/v1/tags/").status_code for _ in range(2)] == [200, 200]
    assert_limited(client.get("/api/v1/tags/"))


def test_widget_calls_are_limited_per_visitor(client, settings):
    settings.KEFU_RL_VISITOR_HTTP_PER_MINUTE = 2
    tenant = TenantFactory()
    visitor = VisitorFactory(tenant=tenant)
    conversation_open(tenant=tenant, visitor=visitor)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token_issue(tenant_id=tenant.pk, visitor_id=visitor.pk)}"}
    origin = {"HTTP_ORIGIN": "http://shop.test"}
    assert [client.get("/widget/api/messages", **auth, **origin).status_code for _ in range(2)] == [200, 200]
    limited = client.get("/widget/api/messages", **auth, **origin)
    assert_limited(limited)
    assert limited["Access-Control-Allow-Origin"] == "http://shop.test"  # the widget can read why
    other = VisitorFactory(tenant=tenant)
    conversation_open(tenant=tenant, visitor=other)
    other_auth = {"HTTP_AUTHORIZATION": f"Bearer {token_issue(tenant_id=tenant.pk, visitor_id=other.pk)}"}
    assert client.get("/widget/api/messages", **other_auth, **origin).status_code == 200
