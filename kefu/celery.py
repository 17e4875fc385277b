"""The Celery application; every task in the project uses KefuTask as its base."""

from __future__ import annotations

import os

from celery import Celery

from kefu.tasking import KefuTask

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kefu.settings")

app = Celery("kefu", task_cls=KefuTask)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="kefu.ping")
def ping() -> str:
    """A no-op that proves a worker consumes the queue; logs with the caller's trace id."""
    import logging

    from kefu import tracing

    logging.getLogger("kefu.ping").info("pong")
    return tracing.get_trace_id()
