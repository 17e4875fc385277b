"""Django admin: a tenant owner sees and edits only the tenant's rows."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from kefu.models import AuditLog, Conversation, Role
from tests.factories import AgentFactory, ConversationFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_tenants():
    mine = ConversationFactory()
    theirs = ConversationFactory()
    owner = AgentFactory(tenant=mine.tenant, role=Role.OWNER, user=UserFactory(is_staff=True))
    return owner, mine, theirs


def test_owner_lists_only_own_tenant_rows(client, two_tenants):
    owner, mine, theirs = two_tenants
    client.force_login(owner.user)
    response = client.get(reverse("admin:kefu_conversation_changelist"))
    assert response.status_code == 200
    ids = {c.pk for c in response.context["cl"].queryset}
    assert ids == {mine.pk}
    visitors = client.get(reverse("admin:kefu_visitor_changelist")).context["cl"].queryset
    assert set(visitors) == {mine.visitor}


def test_owner_cannot_open_another_tenants_row(client, two_tenants):
    owner, _mine, theirs = two_tenants
    client.force_login(owner.user)
    response = client.get(reverse("admin:kefu_conversation_change", args=[theirs.pk]))
    assert response.status_code == 302  # admin's "does not exist" redirect, same as a missing id
    response = client.get(reverse("admin:kefu_tenant_change", args=[theirs.tenant.pk]))
    assert response.status_code == 302


def test_owner_sees_own_tenant_and_choices_are_scoped(client, two_tenants):
    owner, mine, theirs = two_tenants
    client.force_login(owner.user)
    response = client.get(reverse("admin:kefu_conversation_change", args=[mine.pk]))
    assert response.status_code == 200
    assignee_choices = response.context["adminform"].form.fields["assignee"].queryset
    assert set(assignee_choices) == {owner}


def test_owner_adds_a_tag_into_own_tenant_and_it_is_audited(client, two_tenants):
    owner, mine, _ = two_tenants
    client.force_login(owner.user)
    response = client.post(reverse("admin:kefu_tag_add"), {"name": "VIP", "color": "#ff0000"})
    assert response.status_code == 302
    tag = mine.tenant.tags.get(name="VIP")
    assert AuditLog.objects.filter(tenant=mine.tenant, action="admin.add", target_id=str(tag.pk)).exists()


def test_plain_agent_and_non_staff_have_no_admin(client, two_tenants):
    _, mine, _ = two_tenants
    agent = AgentFactory(tenant=mine.tenant, role=Role.AGENT, user=UserFactory(is_staff=True))
    client.force_login(agent.user)
    assert client.get(reverse("admin:kefu_conversation_changelist")).status_code == 403


def test_superuser_sees_everything(client, two_tenants):
    _, mine, theirs = two_tenants
    admin = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(admin)
    response = client.get(reverse("admin:kefu_conversation_changelist"))
    assert {c.pk for c in response.context["cl"].queryset} == {mine.pk, theirs.pk}
    assert Conversation.objects.count() == 2


def test_every_admin_changelist_renders_for_an_owner(client, two_tenants):
    owner, *_ = two_tenants
    client.force_login(owner.user)
    for model in (
        "tenant",
        "team",
        "agent",
        "visitor",
        "conversation",
        "message",
        "attachment",
        "cannedreply",
        "tag",
        "apikey",
        "auditlog",
    ):
        assert client.get(reverse(f"admin:kefu_{model}_changelist")).status_code == 200, model


def test_api_key_issued_in_admin_is_shown_once_and_works(client, two_tenants):
    owner, mine, _ = two_tenants
    client.force_login(owner.user)
    response = client.post(reverse("admin:kefu_apikey_add"), {"name": "CRM", "scopes": ["read"]}, follow=True)
    shown = [str(m) for m in response.context["messages"]]
    token = next(re.search(r"kefu_[0-9a-f]+_[\w-]+", m).group(0) for m in shown if "kefu_" in m)
    client.logout()
    api = client.get("/api/v1/conversations/", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api.status_code == 200
    assert [c["id"] for c in api.json()["results"]] == [mine.pk]
