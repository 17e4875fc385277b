"""Benchmark fixtures: database, seed rows, server processes, process statistics."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CLK_TCK = os.sysconf("SC_CLK_TCK")


def bench_env(args: Any) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": args.database_url,
            "REDIS_URL": args.redis_url,
            "CELERY_BROKER_URL": "",
            "KEFU_TASKS_MODE": "thread",
            "CHANNEL_LAYER_PREFIX": "kefubench",
            "CACHE_PREFIX": "kefubench",
            "SECRET_KEY": env.get("BENCH_SECRET_KEY") or "bench-" + "x" * 60,
            # As in production: DEBUG off (Django's debug cursor records every query otherwise);
            # plain HTTP on 127.0.0.1, so no HTTPS redirect.
            "DEBUG": "false",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "false",
            "LOG_LEVEL": "ERROR",
            "LOG_FORMAT": "console",
            "DB_POOL_MAX": str(args.db_pool),
            # One client address drives everything: per-IP limits would measure the limiter.
            "KEFU_RL_IP_CONNECTS_PER_MINUTE": "0",
            "KEFU_RL_VISITOR_CONNECTS_PER_MINUTE": "0",
            "KEFU_RL_IP_MESSAGES_PER_MINUTE": "0",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def ensure_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def migrate(env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)


@dataclass
class Seed:
    tenant_id: int
    origin: str
    visitors: list[tuple[int, int, str]]  # (visitor id, conversation id, token)
    agents: list[tuple[int, str, list[int]]]  # (agent id, session key, conversation ids)


def seed(visitors: int, agents: int) -> Seed:
    """A fresh tenant with visitors, each with an open conversation assigned to an agent."""
    from django.contrib.auth import get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from django.utils import timezone

    from kefu.models import Agent, Channel, Conversation, Inbox, Status, Tenant, Visitor
    from kefu.visitor_tokens import token_issue

    suffix = secrets.token_hex(4)
    origin = "http://bench.test"
    tenant = Tenant.objects.create(name=f"Bench {suffix}", slug=f"bench-{suffix}", visitor_messages_per_minute=0)
    inbox = Inbox.objects.create(
        tenant=tenant, name="Bench", channel=Channel.WIDGET, key=f"wk_bench_{suffix}", allowed_origins=[origin]
    )
    users = get_user_model().objects.bulk_create(
        [get_user_model()(username=f"bench-{suffix}-{i}") for i in range(agents)]
    )
    agent_rows = Agent.objects.bulk_create(
        [Agent(user=u, tenant=tenant, display_name=f"Agent {i}", capacity=30000) for i, u in enumerate(users)]
    )
    visitor_rows = Visitor.objects.bulk_create(
        [Visitor(tenant=tenant, anon_id=f"b{suffix}{i}") for i in range(visitors)], batch_size=2000
    )
    now = timezone.now()
    convs = Conversation.objects.bulk_create(
        [
            Conversation(
                tenant=tenant,
                inbox=inbox,
                visitor=v,
                status=Status.ASSIGNED,
                assignee=agent_rows[i % agents],
                assigned_at=now,
                last_message_at=now,
            )
            for i, v in enumerate(visitor_rows)
        ],
        batch_size=2000,
    )
    by_agent: dict[int, list[int]] = {a.pk: [] for a in agent_rows}
    for conv in convs:
        by_agent[conv.assignee_id].append(conv.pk)
    sessions = []
    for user in users:
        store = SessionStore()
        store["_auth_user_id"] = str(user.pk)
        store["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
        store["_auth_user_hash"] = user.get_session_auth_hash()
        store.create()
        sessions.append(store.session_key)
    return Seed(
        tenant_id=tenant.pk,
        origin=origin,
        visitors=[
            (v.pk, c.pk, token_issue(tenant_id=tenant.pk, visitor_id=v.pk, inbox_id=inbox.pk))
            for v, c in zip(visitor_rows, convs, strict=True)
        ],
        agents=[(a.pk, s, by_agent[a.pk]) for a, s in zip(agent_rows, sessions, strict=True)],
    )


@dataclass
class ServerProcess:
    port: int
    process: subprocess.Popen
    log: Path

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"


def server_command(server: str, app: str, port: int) -> list[str]:
    if server == "uvicorn":
        # The deploy role `web-uvicorn` runs the same flags (deploy/docker-entrypoint.sh).
        return [
            sys.executable,
            "-m",
            "uvicorn",
            app,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--ws",
            "websockets-sansio",
            "--no-access-log",
            "--no-proxy-headers",
            "--no-server-header",
            "--ws-per-message-deflate",
            "false",
        ]
    return [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), app]


def start_servers(
    ports: list[int],
    env: dict[str, str],
    app: str = "kefu.asgi:application",
    log_dir: Path | None = None,
    server: str = "daphne",
) -> list[ServerProcess]:
    log_dir = log_dir or ROOT / "var" / "bench"
    log_dir.mkdir(parents=True, exist_ok=True)
    servers = []
    for port in ports:
        log = log_dir / f"{server}-{port}.log"
        proc = subprocess.Popen(  # noqa: S603
            server_command(server, app, port),
            cwd=ROOT,
            env=env,
            stdout=open(log, "wb"),
            stderr=subprocess.STDOUT,  # noqa: SIM115
        )
        servers.append(ServerProcess(port, proc, log))
    for server in servers:
        _wait(server, health=app.startswith("kefu."))
    return servers


def _wait(server: ServerProcess, health: bool, timeout: float = 60) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(server.log.read_text()[-2000:])
        try:
            if health:
                with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/healthz", timeout=1):  # noqa: S310
                    return
            else:
                with socket.create_connection(("127.0.0.1", server.port), timeout=1):
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"server on {server.port} did not start")


def stop_servers(servers: list[ServerProcess]) -> None:
    for server in servers:
        if server.process.poll() is None:
            server.process.terminate()
    for server in servers:
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.process.kill()


def proc_stats(pid: int) -> dict[str, float]:
    """CPU seconds (user+system) and RSS in MB from /proc."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
    rss_kb = 0
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                rss_kb = int(line.split()[1])
    return {"cpu_s": cpu, "rss_mb": rss_kb / 1024}


def service_cpu_s(comm: str) -> float:
    """CPU seconds of every process named `comm` (postgres, redis-server), from /proc.
    Processes that exit in a window take their share with them: pooled backends do not."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                head, tail = fh.read().rsplit(")", 1)
        except OSError:
            continue
        if head.split("(", 1)[1] == comm:
            fields = tail.split()
            total += (int(fields[11]) + int(fields[12])) / CLK_TCK
    return total


def machine_busy_cpu_s() -> float:
    """CPU seconds the whole machine spent busy (all but idle and iowait), from /proc/stat."""
    with open("/proc/stat") as fh:
        values = [int(v) for v in fh.readline().split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / CLK_TCK


def redis_clients(url: str) -> int | None:
    try:
        import redis

        return int(redis.Redis.from_url(url).info("clients")["connected_clients"])
    except Exception:
        return None
