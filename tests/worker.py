"""A real Celery worker process for tests, on the test database and Redis broker."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from tests.liveserver import ROOT, server_env


@dataclass
class Worker:
    process: subprocess.Popen
    log_path: Path

    def kill(self) -> None:
        """SIGKILL: the worker dies mid-task, as on an OOM kill or a lost node."""
        self.process.kill()
        self.process.wait()


@contextlib.contextmanager
def running_worker(*, log_path: Path | None = None, concurrency: int = 2, **env_extra: str) -> Iterator[Worker]:
    """Starts `celery worker`, waits until it is ready, yields a handle (log path, kill)."""
    env = server_env(KEFU_TASKS_MODE="celery", LOG_FORMAT="json", LOG_LEVEL="INFO", **env_extra)
    env["CELERY_BROKER_URL"] = env.get("REDIS_URL", settings.REDIS_URL)
    log_path = log_path or Path(settings.MEDIA_ROOT).parent / "celery-worker.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "ab")  # noqa: SIM115
    process = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "kefu",
            "worker",
            "-Q",
            settings.CELERY_TASK_DEFAULT_QUEUE,
            "-P",
            "threads",
            "-c",
            str(concurrency),
            "--without-gossip",
            "--without-mingle",
            "-l",
            "INFO",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while b"ready." not in log_path.read_bytes():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker did not start: {log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        yield Worker(process=process, log_path=log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
