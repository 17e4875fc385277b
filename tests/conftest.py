"""Shared fixtures; service-dependent tests are skipped loudly, or fail in CI."""

from __future__ import annotations

import os
import shutil

import pytest
from django.conf import settings

REQUIRE = os.environ.get("KEFU_REQUIRE_SERVICES") == "1"


def _missing(marker: str) -> str | None:
    if marker == "postgres" and not settings.IS_POSTGRES:
        return "PostgreSQL is not reachable (set DATABASE_URL or start it on 127.0.0.1:5432)"
    if marker == "redis" and not settings.REDIS_URL:
        return "Redis is not reachable (set REDIS_URL or start it on 127.0.0.1:6379)"
    if marker == "browser" and not shutil.which("chromium"):
        return "Chromium is not installed (apt-get install chromium fonts-noto-cjk)"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Playwright's sync API keeps an event loop running in the main thread for as long as
    # its session-scoped browser lives; asyncio tests after it would fail, so browsers go last.
    items.sort(key=lambda item: item.nodeid.startswith("tests/browser/"))
    for item in items:
        for marker in ("postgres", "redis", "browser"):
            if item.get_closest_marker(marker) is None:
                continue
            reason = _missing(marker)
            if reason is None:
                continue
            if REQUIRE:
                item.add_marker(pytest.mark.xfail(reason=f"REQUIRED but {reason}", strict=True, run=False))
            else:
                item.add_marker(pytest.mark.skip(reason=f"NOT RUN: {reason}"))


def pytest_terminal_summary(terminalreporter: object, exitstatus: int, config: pytest.Config) -> None:
    db = "PostgreSQL" if settings.IS_POSTGRES else "SQLite"
    redis = "Redis" if settings.REDIS_URL else "no Redis (in-memory layer)"
    terminalreporter.write_line(f"kefu test services: {db}, {redis}")  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def _media_root(settings: object, tmp_path: object) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def _fresh_process_caches() -> None:
    """SQLite hands out the same ids again after a rolled-back test, so caches keyed by id
    (prompt context) must not outlive a test there; the Redis cache is shared with live
    server processes and is left alone. This process's knowledge-base indexes are always
    forgotten: a test may build one under switched settings (dictionary off, thresholds)."""
    from django.core.cache import caches
    from django.core.cache.backends.locmem import LocMemCache

    from bots.knowledge.index import clear_local_indexes

    if isinstance(caches["default"], LocMemCache):
        caches["default"].clear()
    clear_local_indexes()


def _postgres_admin_execute(statements: list[str]) -> list[tuple]:
    """Runs statements on the server's maintenance database (not the test database)."""
    import psycopg

    db = settings.DATABASES["default"]
    with psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"] or "postgres",
        password=db["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    ) as conn:
        rows: list[tuple] = []
        for statement in statements:
            cursor = conn.execute(statement)
            if cursor.description:
                rows.extend(cursor.fetchall())
        return rows


def pytest_sessionstart(session: pytest.Session) -> None:
    """Drops the databases of earlier runs whose process is gone (a killed run leaves one)."""
    if not settings.IS_POSTGRES:
        return
    try:
        names = _postgres_admin_execute(["SELECT datname FROM pg_database WHERE datname LIKE 'test_kefu_%'"])
    except Exception:  # noqa: BLE001 - the suite reports an unreachable server itself
        return
    for (name,) in names:
        pid = name.rsplit("_", 1)[-1]
        if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            _postgres_admin_execute([f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'])


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: object) -> object:
    """pytest-django's setup; before its drop, ends the sessions that server and worker
    processes may still hold, so the database never outlives the run."""
    yield
    if settings.IS_POSTGRES:
        name = settings.DATABASES["default"]["NAME"]
        _postgres_admin_execute(
            [
                f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' "
                "AND pid <> pg_backend_pid()"
            ]
        )
