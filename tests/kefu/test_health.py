"""Health, readiness and the guarded metrics endpoint; a real daphne process answers."""

from __future__ import annotations

import json
import urllib.request

import pytest

from tests.liveserver import running_servers

pytestmark = pytest.mark.django_db


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert len(response["X-Request-ID"]) == 32


def test_readyz_reports_each_dependency(client, settings):
    response = client.get("/readyz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["checks"]["database"].startswith("ok")
    if settings.REDIS_URL:
        assert body["checks"]["redis"].startswith("ok")


def test_readyz_fails_with_503_when_redis_is_unreachable(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["redis"].startswith("error")


def test_readyz_checks_the_broker_in_celery_mode(client, settings):
    settings.KEFU_TASKS_MODE = "celery"
    from kefu.celery import app

    old = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"
    try:
        response = client.get("/readyz")
    finally:
        app.conf.broker_url = old
    assert response.status_code == 503
    assert response.json()["checks"]["broker"].startswith("error")


def test_metrics_only_for_allowed_addresses_or_token(client, settings):
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    assert b"django_http_requests" in client.get("/metrics", REMOTE_ADDR="127.0.0.1").content
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 404
    settings.METRICS_TOKEN = "s3cret-token"
    assert (
        client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer s3cret-token").status_code == 200
    )
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer wrong").status_code == 404


def test_well_formed_incoming_request_id_is_kept_and_garbage_replaced(client):
    assert client.get("/healthz", HTTP_X_REQUEST_ID="abc12345-trace")["X-Request-ID"] == "abc12345-trace"
    assert client.get("/healthz", HTTP_X_REQUEST_ID="<script>")["X-Request-ID"] != "<script>"


@pytest.mark.slow
@pytest.mark.postgres  # a second process cannot see pytest's in-memory SQLite database
@pytest.mark.django_db(transaction=True)
def test_a_real_daphne_process_serves_health_and_readiness():
    with running_servers(1) as (server,):
        with urllib.request.urlopen(f"{server.url}/readyz", timeout=5) as response:  # noqa: S310
            body = json.loads(response.read())
    assert body["status"] == "ok", body
