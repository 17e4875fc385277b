"""Trace ids: one id follows a request, a WebSocket frame and the tasks they enqueue."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from contextvars import ContextVar, Token
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse

_trace_id: ContextVar[str] = ContextVar("kefu_trace_id", default="")
_VALID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
HEADER = "X-Request-ID"


def new_trace_id() -> str:
    return uuid.uuid4().hex


def get_trace_id() -> str:
    return _trace_id.get()


def set_trace_id(value: str) -> Token[str]:
    return _trace_id.set(value)


def reset_trace_id(token: Token[str]) -> None:
    _trace_id.reset(token)


def accept_or_new(candidate: str | None) -> str:
    """Reuse a caller's id when it is well formed; never log attacker-shaped strings."""
    if candidate and _VALID.match(candidate):
        return candidate
    return new_trace_id()


class TraceIdLogFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "trace_id", None):
            record.trace_id = _trace_id.get()
        return True


class TraceIdMiddleware:
    """Sets the trace id from X-Request-ID (or a new one) and echoes it in the response."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if iscoroutinefunction(self):
            return self.__acall__(request)
        token = _trace_id.set(accept_or_new(request.headers.get(HEADER)))
        try:
            response: HttpResponse = self.get_response(request)
            response[HEADER] = _trace_id.get()
            return response
        finally:
            _trace_id.reset(token)

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        token = _trace_id.set(accept_or_new(request.headers.get(HEADER)))
        try:
            response: HttpResponse = await self.get_response(request)
            response[HEADER] = _trace_id.get()
            return response
        finally:
            _trace_id.reset(token)
