"""Console pages: login, the app shell, admin-only settings with audit records."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from kefu.console.useragent import parse_user_agent
from kefu.models import Agent, AuditLog, CannedReply, Role, RoutingPolicy, Team
from tests.factories import AgentFactory, CannedReplyFactory, TeamFactory, TenantFactory, UserFactory, widget_inbox

pytestmark = pytest.mark.django_db

SECTIONS = ["widget", "origins", "identity", "hours", "routing", "teams", "agents", "canned"]


@pytest.fixture
def admin(client):
    agent = AgentFactory(tenant=TenantFactory(), role=Role.ADMIN)
    client.force_login(agent.user)
    return agent


def test_login_page_renders_and_redirects_to_console(client):
    agent = AgentFactory()
    page = client.get("/accounts/login/")
    assert page.status_code == 200 and b'id="login-submit"' in page.content
    res = client.post("/accounts/login/", {"username": agent.user.username, "password": "pw-123456"})
    assert res.status_code == 302 and res["Location"] == "/console/"


def test_console_requires_login_and_an_agent(client):
    assert client.get("/console/").status_code == 302
    client.force_login(UserFactory())
    assert client.get("/console/").status_code == 403


def test_console_shell_passes_config_as_json(client):
    agent = AgentFactory(display_name="</script><script>alert(1)</script>")
    client.force_login(agent.user)
    page = client.get("/console/", HTTP_ACCEPT_LANGUAGE="en")
    html = page.content.decode()
    assert page.status_code == 200 and 'id="kefu-config"' in html
    assert "<script>alert(1)" not in html  # json_script escapes <, > and &


@pytest.mark.parametrize("section", SECTIONS)
def test_agents_get_403_on_every_settings_page(client, section):
    agent = AgentFactory(role=Role.AGENT)
    client.force_login(agent.user)
    assert client.get(f"/console/settings/{section}/").status_code == 403
    assert client.post(f"/console/settings/{section}/", {"action": "rotate"}).status_code == 403


@pytest.mark.parametrize("section", SECTIONS)
def test_admins_see_every_settings_page(client, admin, section):
    assert client.get(f"/console/settings/{section}/").status_code == 200


def test_widget_settings_save_and_audit(client, admin):
    res = client.post("/console/settings/widget/", {"color": "#FF0000", "position": "left", "welcome": "你好"})
    assert res.status_code == 302
    inbox = widget_inbox(admin.tenant)
    assert inbox.widget_settings["color"] == "#ff0000" and inbox.widget_settings["position"] == "left"
    assert AuditLog.objects.filter(tenant=admin.tenant, action="inbox.widget", actor=admin.user).exists()
    page = client.get("/console/settings/widget/").content.decode()
    assert inbox.key in page  # the embed code
    bad = client.post("/console/settings/widget/", {"color": "red", "position": "left"})
    assert bad.status_code == 200 and "errorlist" in bad.content.decode()


def test_origins_are_validated(client, admin):
    bad = client.post("/console/settings/origins/", {"allowed_origins": "javascript:alert(1)"})
    assert bad.status_code == 200
    client.post("/console/settings/origins/", {"allowed_origins": "https://a.test\nhttps://B.test/\n"})
    assert widget_inbox(admin.tenant).allowed_origins == ["https://a.test", "https://b.test"]


def test_identity_secret_is_hidden_until_asked_and_rotates(client, admin):
    secret = admin.tenant.identity_secret
    assert secret not in client.get("/console/settings/identity/").content.decode()
    assert secret in client.get("/console/settings/identity/?show=1").content.decode()
    client.post("/console/settings/identity/", {"action": "rotate"})
    admin.tenant.refresh_from_db()
    assert admin.tenant.identity_secret != secret
    log = AuditLog.objects.get(action="tenant.identity_secret.rotate")
    assert admin.tenant.identity_secret not in str(log.data)


def test_business_hours_and_routing(client, admin):
    data = {"timezone": "Asia/Shanghai", "day0": "09:00-12:00, 13:00-18:00", "day5": ""}
    assert client.post("/console/settings/hours/", data).status_code == 302
    inbox = widget_inbox(admin.tenant)
    assert inbox.business_hours["0"] == [["09:00", "12:00"], ["13:00", "18:00"]]
    assert inbox.business_hours["5"] == [] and inbox.timezone == "Asia/Shanghai"
    assert client.post("/console/settings/hours/", {"timezone": "UTC", "day1": "18:00-09:00"}).status_code == 200
    client.post("/console/settings/hours/", {"timezone": "", "always_open": "on"})
    inbox.refresh_from_db()
    assert inbox.business_hours == {} and inbox.timezone == ""  # the workspace's time zone again
    client.post("/console/settings/routing/", {"routing_policy": "round_robin", "reassign_after_seconds": 120})
    admin.tenant.refresh_from_db()
    assert admin.tenant.routing_policy == RoutingPolicy.ROUND_ROBIN and admin.tenant.reassign_after_seconds == 120


def test_teams_create_and_delete(client, admin):
    client.post("/console/settings/teams/", {"action": "create", "name": "售后"})
    team = Team.objects.get(tenant=admin.tenant, name="售后")
    foreign = TeamFactory()
    assert client.post("/console/settings/teams/", {"action": "delete", "team_id": foreign.pk}).status_code == 404
    client.post("/console/settings/teams/", {"action": "delete", "team_id": team.pk})
    assert not Team.objects.filter(pk=team.pk).exists() and Team.objects.filter(pk=foreign.pk).exists()
    assert AuditLog.objects.filter(action="team.delete").exists()


def test_invite_shows_the_password_once_and_it_works(client, admin):
    res = client.post(
        "/console/settings/agents/",
        {"action": "invite", "username": "newbie", "display_name": "New", "role": "agent", "capacity": 3},
    )
    html = res.content.decode()
    assert res.status_code == 200 and 'id="one-time"' in html
    new = Agent.objects.get(user__username="newbie")
    assert new.tenant_id == admin.tenant_id and new.capacity == 3
    password = html.split('id="one-time-password">')[1].split("<")[0]
    assert password and get_user_model().objects.get(username="newbie").check_password(password)
    assert 'id="one-time"' not in client.get("/console/settings/agents/").content.decode()
    # An admin may not mint owners.
    client.post("/console/settings/agents/", {"action": "invite", "username": "boss", "role": "owner", "capacity": 3})
    assert not Agent.objects.filter(user__username="boss").exists()


def test_deactivate_agent_and_no_foreign_agents(client, admin):
    target = AgentFactory(tenant=admin.tenant)
    client.post(
        "/console/settings/agents/", {"action": "update", "agent_id": target.pk, "role": "agent", "capacity": 7}
    )
    target.refresh_from_db()
    assert not target.is_active and target.capacity == 7
    foreign = AgentFactory()
    res = client.post(
        "/console/settings/agents/", {"action": "update", "agent_id": foreign.pk, "role": "agent", "capacity": 1}
    )
    assert res.status_code == 404
    foreign.refresh_from_db()
    assert foreign.is_active
    # Nobody locks themselves out.
    client.post("/console/settings/agents/", {"action": "update", "agent_id": admin.pk, "role": "admin", "capacity": 5})
    admin.refresh_from_db()
    assert admin.is_active


def test_canned_replies_crud(client, admin):
    client.post("/console/settings/canned/", {"action": "save", "shortcut": "hi", "title": "Hi", "body": "Hello!"})
    canned = CannedReply.objects.get(tenant=admin.tenant, shortcut="hi")
    dup = client.post("/console/settings/canned/", {"action": "save", "shortcut": "hi", "title": "Hi", "body": "x"})
    assert dup.status_code == 200 and CannedReply.objects.filter(tenant=admin.tenant).count() == 1
    foreign = CannedReplyFactory()
    assert client.post("/console/settings/canned/", {"action": "delete", "canned_id": foreign.pk}).status_code == 404
    client.post("/console/settings/canned/", {"action": "delete", "canned_id": canned.pk})
    assert not CannedReply.objects.filter(pk=canned.pk).exists()
    assert AuditLog.objects.filter(action__in=["canned.create", "canned.delete"]).count() == 2


@pytest.mark.parametrize(
    "ua,expected",
    [
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
            "Safari/537.36 Edg/120.0.2210.91",
            ("Edge", "120", "Windows", "desktop"),
        ),
        (
            "Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0 Mobile "
            "Safari/537.36",
            ("Chrome", "119", "Android", "mobile"),
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:121.0) Gecko/20100101 Firefox/121.0",
            ("Firefox", "121", "macOS", "desktop"),
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 16_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 "
            "MicroMessenger/8.0.40",
            ("WeChat", "8", "iOS", "mobile"),
        ),
        ("", ("", "", "", "desktop")),
    ],
)
def test_user_agent_parser(ua, expected):
    parsed = parse_user_agent(ua)
    assert (parsed.browser, parsed.browser_version, parsed.os, parsed.device) == expected
