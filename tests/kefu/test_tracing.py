"""Trace ids follow a request into logs and into a task run by a real Celery worker."""

from __future__ import annotations

import json
import logging
import time

import pytest

from kefu import tracing
from kefu.celery import ping
from kefu.tasking import KefuTask
from tests.worker import running_worker


def test_json_log_lines_carry_the_trace_id():
    from pythonjsonlogger.json import JsonFormatter

    record = logging.LogRecord("kefu.test", logging.INFO, __file__, 1, "hello %s", ("world",), None)
    token = tracing.set_trace_id("trace-abc-123")
    try:
        tracing.TraceIdLogFilter().filter(record)
    finally:
        tracing.reset_trace_id(token)
    line = JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s %(trace_id)s").format(record)
    data = json.loads(line)
    assert data["message"] == "hello world" and data["trace_id"] == "trace-abc-123"


def test_in_process_tasks_inherit_the_trace_id(settings):
    settings.KEFU_TASKS_MODE = "thread"
    token = tracing.set_trace_id("thread-trace-1")
    try:
        future = ping.delay()
    finally:
        tracing.reset_trace_id(token)
    future.result(timeout=10)
    assert isinstance(ping, KefuTask)


def test_eager_task_returns_the_callers_trace_id(settings):
    settings.KEFU_TASKS_MODE = "eager"
    token = tracing.set_trace_id("eager-trace-1")
    try:
        assert ping.delay().get() == "eager-trace-1"
    finally:
        tracing.reset_trace_id(token)


@pytest.mark.redis
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_logs_with_the_callers_trace_id(settings):
    settings.KEFU_TASKS_MODE = "celery"
    with running_worker() as worker:
        log_path = worker.log_path
        token = tracing.set_trace_id("worker-trace-42")
        try:
            ping.delay()
        finally:
            tracing.reset_trace_id(token)
        deadline = time.monotonic() + 30
        found = None
        while time.monotonic() < deadline and found is None:
            for line in log_path.read_text().splitlines():
                if line.startswith("{") and '"pong"' in line:
                    found = json.loads(line)
            time.sleep(0.2)
    assert found is not None, log_path.read_text()[-2000:]
    assert found["trace_id"] == "worker-trace-42"
