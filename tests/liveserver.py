"""Real ASGI server processes for tests: daphne (or uvicorn) subprocesses on the test database.

Use from tests marked ``django_db(transaction=True)`` so that rows are committed and
visible to the server processes. With REDIS_URL set the processes share the Redis
channel layer; with the in-memory layer a second process would be an island.
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import connection

from bench.chat.setup import server_command

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_port_in(ports: range, exclude: Iterable[int] = ()) -> int:
    """A free port of a suite's reserved range, tried in random order so parallel runs rarely collide."""
    candidates = [port for port in ports if port not in set(exclude)]
    random.shuffle(candidates)
    for port in candidates:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {ports.start}-{ports.stop - 1}")


def server_env(**extra: str) -> dict[str, str]:
    """Environment for a subprocess that talks to the same test database and Redis."""
    env = dict(os.environ)
    db = connection.settings_dict
    if settings.IS_POSTGRES:
        env["DATABASE_URL"] = (
            f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        )
    else:
        env["DATABASE_URL"] = f"sqlite:///{db['NAME']}"
    if settings.REDIS_URL:
        env["REDIS_URL"] = settings.REDIS_URL
    prefix = settings.CHANNEL_LAYERS["default"].get("CONFIG", {}).get("prefix")
    if prefix:
        env["CHANNEL_LAYER_PREFIX"] = prefix
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "kefu.settings",
            "DEBUG": "true",
            "MEDIA_ROOT": str(settings.MEDIA_ROOT),
            "KEFU_TASKS_MODE": env.get("KEFU_TASKS_MODE", "thread"),
            "LOG_FORMAT": "console",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


@dataclass
class Server:
    port: int
    process: subprocess.Popen
    log_path: Path
    env: dict[str, str] = field(repr=False, default_factory=dict)
    kind: str = "daphne"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def restart(self) -> None:
        self.stop()
        fresh = start_server(port=self.port, env=self.env, log_path=self.log_path, kind=self.kind)
        self.process = fresh.process


def _wait_ready(server: Server, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited: {server.log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{server.url}/healthz", timeout=1) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server did not start: {server.log_path.read_text()[-3000:]}")


def start_server(
    *, port: int | None = None, env: dict[str, str] | None = None, log_path: Path | None = None, kind: str = "daphne"
) -> Server:
    port = port or free_port()
    env = env or server_env()
    log_path = log_path or Path(settings.MEDIA_ROOT).parent / f"{kind}-{port}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "ab")  # noqa: SIM115  (closed with the process)
    process = subprocess.Popen(  # noqa: S603
        # The command lines bench.chat measures (uvicorn's are the web-uvicorn deploy flags).
        server_command(kind, "kefu.asgi:application", port),
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = Server(port=port, process=process, log_path=log_path, env=env, kind=kind)
    _wait_ready(server)
    return server


@contextlib.contextmanager
def running_servers(count: int = 1, kinds: tuple[str, ...] = (), **env_extra: str) -> Iterator[list[Server]]:
    """`count` servers; `kinds` names the ASGI server of each (daphne when not named)."""
    env = server_env(**env_extra)
    servers: list[Server] = []
    try:
        for i in range(count):
            servers.append(start_server(env=env, kind=kinds[i] if i < len(kinds) else "daphne"))
        yield servers
    finally:
        for server in servers:
            server.stop()
