"""schemathesis against the live schema of a real server process: every operation of the
REST API with generated (valid and invalid) input, with an API key and with an agent's
session. Required: no server error and no response outside the documented schema (the
error shape included). Its run time is bounded (few examples per operation, no shrinking)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore

from kefu.models import Role, SenderType
from kefu.services.api_keys import api_key_issue
from kefu.services.conversations import conversation_open
from kefu.services.messages import message_send
from tests.factories import AgentFactory, TagFactory, TeamFactory, TenantFactory, VisitorFactory
from tests.liveserver import ROOT, running_servers

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.slow]

CSRF = "k" * 32  # an unmasked token equal to the cookie's secret is accepted by Django


def _world():
    tenant = TenantFactory()
    owner = AgentFactory(tenant=tenant, role=Role.OWNER)
    AgentFactory(tenant=tenant)
    TeamFactory(tenant=tenant)
    TagFactory(tenant=tenant)
    for i in range(3):
        conv, _ = conversation_open(tenant=tenant, visitor=VisitorFactory(tenant=tenant, name=f"C{i}"))
        message_send(conversation=conv, sender_type=SenderType.VISITOR, body=f"hello {i}")
    _key, token = api_key_issue(tenant=tenant, name="contract", scopes=["admin"])
    session = SessionStore()
    session[SESSION_KEY] = str(owner.user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = owner.user.get_session_auth_hash()
    session.create()
    return token, session.session_key


def _run(url: str, headers: list[str], report) -> subprocess.CompletedProcess:
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{url}/api/schema/",
        "--checks",
        "not_a_server_error,response_schema_conformance",
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        "6",
        "--no-shrink",
        "--seed",
        "15",
        "--request-timeout",
        "20",
        "--workers",
        "2",
        "--exclude-path-regex",
        "^/api/v1/console/conversations/\\{conversation_id\\}/assist/$",
        "--report",
        "junit",
        "--report-junit-path",
        str(report),
    ]
    for header in headers:
        command += ["-H", header]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)  # noqa: S603


def test_the_live_schema_holds_with_a_key_and_with_a_session(tmp_path):
    token, session_key = _world()
    env = {
        "KEFU_API_RATE_KEY_PER_MINUTE": "1000000",
        "KEFU_API_RATE_SESSION_PER_MINUTE": "1000000",
        "KEFU_API_RATE_IP_PER_MINUTE": "1000000",
    }
    with running_servers(1, kinds=("uvicorn",), **env) as (server,):
        by_key = _run(server.url, [f"Authorization: Bearer {token}"], tmp_path / "key.xml")
        by_session = _run(
            server.url,
            [f"Cookie: sessionid={session_key}; csrftoken={CSRF}", f"X-CSRFToken: {CSRF}", f"Referer: {server.url}/"],
            tmp_path / "session.xml",
        )
    for name, result in (("API key", by_key), ("session", by_session)):
        failures = result.stdout[result.stdout.find("FAILURES") :][:8000]
        assert result.returncode == 0, f"schemathesis with an {name}:\n{failures}\n{result.stderr[-2000:]}"
