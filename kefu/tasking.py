"""Task dispatch for the three modes: a Celery worker, an in-process pool, or inline.

Code everywhere calls ``task.delay_on_commit(...)``; only this module knows whether a
broker exists. The trace id of the caller travels with the task in every mode.
"""

from __future__ import annotations

import contextvars
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from celery.contrib.django.task import DjangoTask
from django.conf import settings
from django.db import close_old_connections

from kefu import tracing

logger = logging.getLogger(__name__)

_pool: ThreadPoolExecutor | None = None


def _get_pool() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="kefu-task")
    return _pool


def _run_inline(task: DjangoTask, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    try:
        task.apply(args=args, kwargs=kwargs, throw=False)
    except Exception:  # the pool must survive any task failure
        logger.exception("in-process task %s failed", task.name)
    finally:
        close_old_connections()


class KefuTask(DjangoTask):
    abstract = True

    def apply_async(
        self, args: Any = None, kwargs: Any = None, *positional: Any, **options: Any
    ) -> Any:  # Celery's positional options (task_id, producer, ...) pass through unchanged
        args, kwargs = tuple(args or ()), dict(kwargs or {})
        mode = settings.KEFU_TASKS_MODE
        if mode == "eager":
            return self.apply(args=args, kwargs=kwargs)
        if mode == "thread":
            ctx = contextvars.copy_context()
            return _get_pool().submit(ctx.run, _run_inline, self, args, kwargs)
        headers = dict(options.pop("headers", None) or {})
        headers.setdefault("trace_id", tracing.get_trace_id())
        return super().apply_async(args, kwargs, *positional, headers=headers, **options)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        incoming = getattr(self.request, "trace_id", None)
        token = tracing.set_trace_id(incoming or tracing.get_trace_id() or tracing.new_trace_id())
        try:
            return super().__call__(*args, **kwargs)
        finally:
            tracing.reset_trace_id(token)
