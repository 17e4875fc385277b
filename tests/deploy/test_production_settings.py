"""Production settings: `check --deploy` is clean on a safe environment, unsafe ones are refused.

Each case runs manage.py in a fresh process, because kefu/settings.py decides at import
time. The environment is built from scratch (not inherited) so the test's own DEBUG=true
and tests.settings cannot leak in; empty values are passed explicitly so that a stray
.env file (read with setdefault semantics) cannot fill them in either.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from django.conf import settings
from django.db import connection

from tests.deploy._deployfiles import (
    DEPLOY,
    ENTRYPOINT,
    ROOT,
    env_example_active,
    free_port_in_range,
    k8s_objects,
)

pytestmark = pytest.mark.slow


def _service_urls() -> dict[str, str]:
    db = connection.settings_dict
    return {
        "DATABASE_URL": f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/"
        f"{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
    }


def production_env(**overrides: str) -> dict[str, str]:
    env = {
        "PATH": f"{ROOT / '.venv' / 'bin'}:/usr/bin:/bin",
        "HOME": "/tmp",
        "DJANGO_SETTINGS_MODULE": "kefu.settings",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(48),  # 64 characters
        "ALLOWED_HOSTS": "kefu.example.com",
        "LOG_FORMAT": "console",
        "KEFU_TASKS_MODE": "celery",
        **_service_urls(),
    }
    env.update(overrides)
    return env


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return manage("check", "--deploy", "--fail-level", "WARNING", env=env)


@pytest.mark.postgres
@pytest.mark.redis
def test_check_deploy_is_clean_on_a_safe_production_environment():
    env = production_env()
    assert len(env["SECRET_KEY"]) == 64
    result = check_deploy(env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_is_strict_enough_to_fail_on_debug():
    # Negative control: the same command does report a development configuration.
    result = check_deploy(production_env(DEBUG="true"))
    assert result.returncode != 0
    assert "security.W018" in result.stderr  # DEBUG on in deployment


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"SECRET_KEY": ""}, "SECRET_KEY must be set"),
        ({"SECRET_KEY": "x" * 49}, "SECRET_KEY must be set"),
        ({"SECRET_KEY": "django-insecure-" + secrets.token_urlsafe(48)}, "SECRET_KEY must be set"),
        ({"ALLOWED_HOSTS": ""}, "ALLOWED_HOSTS must be set"),
    ],
    ids=["no-secret-key", "short-secret-key", "insecure-prefix", "no-allowed-hosts"],
)
def test_unsafe_production_configuration_is_refused(overrides, message):
    result = check_deploy(production_env(**overrides))
    assert result.returncode != 0
    assert "django.core.exceptions.ImproperlyConfigured" in result.stderr
    assert message in result.stderr


def test_every_process_refuses_to_start_unsafely_not_only_check():
    # The ASGI application and the Celery app import the same settings.
    env = production_env(SECRET_KEY="")
    for code in ("import kefu.asgi", "from kefu.celery import app; app.loader.import_default_modules()"):
        result = subprocess.run(  # noqa: S603
            [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        assert result.returncode != 0, code
        assert "ImproperlyConfigured" in result.stderr, code


def test_check_deploy_refuses_eager_tasks_in_production():
    result = check_deploy(production_env(KEFU_TASKS_MODE="eager"))
    assert result.returncode != 0
    assert "kefu.E001" in result.stderr


@pytest.mark.postgres
@pytest.mark.redis
def test_shipped_k8s_configmap_is_a_clean_production_configuration():
    env = production_env(**k8s_objects("ConfigMap")["kefu-config"]["data"])
    env["MEDIA_ROOT"] = "/tmp/kefu-deploy-media"
    result = check_deploy(env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.postgres
@pytest.mark.redis
def test_env_example_values_are_a_clean_production_configuration():
    values = {name: value for name, value in env_example_active().items() if value}
    values.update(_service_urls())  # the example's URLs point at servers that do not exist here
    result = check_deploy(production_env(**values))
    assert result.returncode == 0, result.stdout + result.stderr
    # As shipped (empty SECRET_KEY) the example must not start.
    refused = check_deploy(production_env(**{**values, "SECRET_KEY": env_example_active()["SECRET_KEY"]}))
    assert refused.returncode != 0 and "SECRET_KEY must be set" in refused.stderr


# --- The image's web role, for real ----------------------------------------------------


def _get(url: str, host: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    request = urllib.request.Request(url, headers={"Host": host, **headers})  # noqa: S310
    try:
        with opener.open(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def _healthcheck(port: int, allowed_hosts: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [sys.executable, str(DEPLOY / "healthcheck.py")],
        env={"PATH": "/usr/bin:/bin", "PORT": str(port), "ALLOWED_HOSTS": allowed_hosts},
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db
def test_entrypoint_web_role_serves_probes_under_production_settings(tmp_path):
    """deploy/docker-entrypoint.sh web + healthcheck.py against a production-mode daphne."""
    port = free_port_in_range()
    log = tmp_path / "web.log"
    token = secrets.token_urlsafe(32)
    env = production_env(
        PORT=str(port),
        MEDIA_ROOT=str(tmp_path / "media"),
        LOG_LEVEL="WARNING",
        METRICS_ALLOWED_IPS="203.0.113.1",
        METRICS_TOKEN=token,
    )
    with open(log, "wb") as output:
        process = subprocess.Popen(  # noqa: S603
            ["/bin/sh", str(ENTRYPOINT), "web"], cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 60
        while _healthcheck(port, "kefu.example.com").returncode != 0:
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)
        # The container HEALTHCHECK fails when it would present a host Django does not allow.
        assert _healthcheck(port, "other.example.org").returncode == 1

        base = f"http://127.0.0.1:{port}"
        status, _, body = _get(f"{base}/readyz", "kefu.example.com")
        assert status == 200, body
        assert b'"database": "ok' in body and b'"redis": "ok' in body and b'"broker": "ok' in body
        # Probes are exempt from the HTTPS redirect; everything else is redirected.
        status, headers, _ = _get(f"{base}/admin/login/", "kefu.example.com")
        assert status == 301 and headers["Location"].startswith("https://kefu.example.com/")
        assert _get(f"{base}/healthz", "evil.example.net")[0] == 400
        # /metrics: hidden without the token (as Prometheus sends it), served with it.
        assert _get(f"{base}/metrics", "kefu.example.com")[0] == 404
        status, _, body = _get(f"{base}/metrics", "kefu.example.com", Authorization=f"Bearer {token}")
        assert status == 200 and b"django_http_requests" in body
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
