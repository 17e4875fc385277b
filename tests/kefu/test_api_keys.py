"""API keys: hashed, shown once, scoped, expiring, revocable, last-used, created-by;
managed in the console settings and the admin."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from kefu.models import ApiKey, AuditLog, Role
from kefu.services.api_keys import api_key_issue, hash_secret
from kefu.services.conversations import conversation_open
from tests.factories import AgentFactory, TenantFactory, VisitorFactory

pytestmark = pytest.mark.django_db


def auth(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


@pytest.fixture
def conv():
    tenant = TenantFactory()
    conversation, _ = conversation_open(tenant=tenant, visitor=VisitorFactory(tenant=tenant))
    return conversation


def test_only_a_hash_of_the_secret_is_stored(conv):
    key, token = api_key_issue(tenant=conv.tenant, name="crm", scopes=["read"])
    row = ApiKey.objects.get(pk=key.pk)
    secret = token[len(f"kefu_{row.prefix}_") :]
    assert secret not in str(row.__dict__) and row.key_hash == hash_secret(secret)
    assert token.startswith(f"kefu_{row.prefix}_")


def test_scopes_decide_reads_and_writes(client, conv):
    _k, read_only = api_key_issue(tenant=conv.tenant, name="ro", scopes=["read"])
    _k, writer = api_key_issue(tenant=conv.tenant, name="rw", scopes=["conversations:write"])
    _k, contacts = api_key_issue(tenant=conv.tenant, name="c", scopes=["contacts:read"])
    url = f"/api/v1/conversations/{conv.pk}/messages/"
    body = {"body": "hello", "client_msg_id": "x1"}
    assert client.get(url, **auth(read_only)).status_code == 200
    refused = client.post(url, body, content_type="application/json", **auth(read_only))
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    assert client.post(url, body, content_type="application/json", **auth(writer)).status_code == 201
    assert client.get(url, **auth(writer)).status_code == 200  # write includes read
    assert client.get(url, **auth(contacts)).status_code == 403  # another resource
    assert client.get(f"/api/v1/contacts/{conv.visitor_id}/", **auth(contacts)).status_code == 200


def test_expired_and_revoked_keys_are_refused_and_last_use_is_recorded(client, conv):
    key, token = api_key_issue(
        tenant=conv.tenant, name="k", scopes=["read"], expires_at=timezone.now() + timedelta(days=1)
    )
    assert client.get("/api/v1/conversations/", **auth(token)).status_code == 200
    key.refresh_from_db()
    assert key.last_used_at is not None
    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    expired = client.get("/api/v1/conversations/", **auth(token))
    assert expired.status_code == 401 and expired.json()["error"]["code"] == "auth_failed"
    ApiKey.objects.filter(pk=key.pk).update(expires_at=None, revoked_at=timezone.now())
    assert client.get("/api/v1/conversations/", **auth(token)).status_code == 401


def test_unknown_scopes_and_past_expiry_are_refused():
    from kefu.errors import InvalidInput

    tenant = TenantFactory()
    with pytest.raises(InvalidInput):
        api_key_issue(tenant=tenant, name="k", scopes=["everything"])
    with pytest.raises(InvalidInput):
        api_key_issue(tenant=tenant, name="k", scopes=["read"], expires_at=timezone.now() - timedelta(days=1))


def test_console_issues_the_key_once_and_revokes_it(client, conv):
    owner = AgentFactory(tenant=conv.tenant, role=Role.OWNER)
    client.force_login(owner.user)
    page = client.post(
        "/console/settings/api-keys/",
        {"action": "create", "name": "Order system", "scopes": ["conversations:write", "contacts:read"]},
    )
    assert page.status_code == 200
    token = re.search(r"kefu_[0-9a-f]+_[\w-]+", page.content.decode()).group(0)
    key = ApiKey.objects.get(name="Order system")
    assert key.created_by == owner.user and key.scopes == ["contacts:read", "conversations:write"]
    assert AuditLog.objects.filter(action="apikey.issue", target_id=str(key.pk)).exists()
    listing = client.get("/console/settings/api-keys/").content.decode()
    assert token not in listing and f"kefu_{key.prefix}_" in listing  # shown once
    url = f"/api/v1/conversations/{conv.pk}/"
    client.logout()
    assert client.get(url, **auth(token)).status_code == 200
    client.force_login(owner.user)
    client.post("/console/settings/api-keys/", {"action": "revoke", "key_id": key.pk})
    client.logout()
    assert client.get(url, **auth(token)).status_code == 401


def test_agents_cannot_manage_keys(client):
    agent = AgentFactory(role=Role.AGENT)
    client.force_login(agent.user)
    assert client.get("/console/settings/api-keys/").status_code == 403


def test_admin_issues_a_scoped_key_shown_once(admin_client):
    tenant = TenantFactory()
    response = admin_client.post(
        "/admin/kefu/apikey/add/",
        {"tenant": tenant.pk, "name": "From admin", "scopes": ["read"], "expires_at_0": "", "expires_at_1": ""},
        follow=True,
    )
    assert response.status_code == 200
    key = ApiKey.objects.get(name="From admin")
    assert key.scopes == ["read"] and key.created_by is not None
    assert "kefu_" + key.prefix in response.content.decode()
