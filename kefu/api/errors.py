"""One JSON error shape for everything under /api/ and /widget/api/.

    {"error": {"code": "not_found", "message": "Not found.", "fields": {...}, "trace_id": "..."}}

`code` is stable (clients branch on it), `message` is for people (translated), `fields`
appears on validation errors only and maps a field name to its messages (nested objects
nest). DRF's exceptions come through `exception_handler`; whatever Django answers on
its own (an unknown URL, a body over the size limit, a method a plain view refuses, a
crash) is rewritten by `JsonErrorMiddleware`, so no HTML page reaches an API client.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation, TooManyFieldsSent
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from rest_framework import exceptions as drf
from rest_framework.response import Response

from kefu import tracing
from kefu.errors import KefuError

logger = logging.getLogger(__name__)

# Paths whose every error is JSON (the widget's script and pages are not under these).
JSON_PREFIXES = ("/api/", "/widget/api/")

STATUS_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    408: "timeout",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    500: "internal",
    502: "bad_gateway",
    503: "unavailable",
}


def _default_message(status: int) -> str:
    messages = {
        400: _("The request is not valid."),
        401: _("Authentication is required."),
        403: _("You are not allowed to do that."),
        404: _("Not found."),
        405: _("This method is not allowed here."),
        413: _("The request body is too large."),
        415: _("This content type is not supported."),
        429: _("Too many requests; slow down."),
        500: _("Something went wrong on our side."),
        503: _("The service is unavailable; try again shortly."),
    }
    return str(messages.get(status, _("The request failed.")))


def error_body(code: str, message: str, *, fields: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": str(message)}
    if fields:
        error["fields"] = fields
    trace_id = tracing.get_trace_id()
    if trace_id:
        error["trace_id"] = trace_id
    return {"error": error}


def json_error(status: int, code: str | None = None, message: str | None = None, *, fields: Any = None) -> JsonResponse:
    return JsonResponse(
        error_body(code or STATUS_CODES.get(status, "error"), message or _default_message(status), fields=fields),
        status=status,
    )


def _first_message(detail: Any) -> str:
    if isinstance(detail, dict):
        for value in detail.values():
            return _first_message(value)
        return ""
    if isinstance(detail, list):
        return _first_message(detail[0]) if detail else ""
    return str(detail)


def _fields(detail: Any) -> Any:
    """DRF's detail as plain strings (ErrorDetail carries codes we do not expose)."""
    if isinstance(detail, dict):
        return {str(k): _fields(v) for k, v in detail.items()}
    if isinstance(detail, list):
        return [_fields(v) for v in detail]
    return str(detail)


_DRF_CODES = {
    drf.ParseError: "bad_json",
    drf.AuthenticationFailed: "auth_failed",
    drf.NotAuthenticated: "not_authenticated",
    drf.PermissionDenied: "forbidden",
    drf.NotFound: "not_found",
    drf.MethodNotAllowed: "method_not_allowed",
    drf.NotAcceptable: "not_acceptable",
    drf.UnsupportedMediaType: "unsupported_media_type",
    drf.Throttled: "rate_limited",
}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler: every error it knows, in the one shape; anything else is a 500
    (logged by Django and rewritten by the middleware)."""
    headers: dict[str, str] = {}
    if isinstance(exc, KefuError):
        status, body = exc.status, error_body(exc.code, exc.message, fields=exc.fields)
    elif isinstance(exc, drf.ValidationError):
        detail = exc.detail
        fields = _fields(detail) if isinstance(detail, dict) else {"non_field_errors": _fields(detail)}
        message = _first_message(detail) or _default_message(400)
        status, body = 400, error_body("invalid", message, fields=fields)
    elif isinstance(exc, drf.APIException):
        status = exc.status_code
        code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), STATUS_CODES.get(status, "error"))
        body = error_body(code, _first_message(exc.detail) or _default_message(status))
        wait = getattr(exc, "wait", None) if isinstance(exc, drf.Throttled) else None  # not in the stubs
        if wait is not None:
            headers["Retry-After"] = str(max(1, int(wait + 0.999)))
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header  # type: ignore[attr-defined]
    elif isinstance(exc, RequestDataTooBig):
        status, body = 413, error_body("too_large", _default_message(413))
    elif isinstance(exc, SuspiciousOperation):
        status, body = 400, error_body("bad_request", _default_message(400))
    else:
        return None
    return Response(body, status=status, headers=headers)


def _is_json(response: HttpResponse) -> bool:
    return response.get("Content-Type", "").startswith("application/json")


class JsonErrorMiddleware:
    """Under the JSON prefixes, Django's own error pages become the API's error shape."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code < 400 or not request.path.startswith(JSON_PREFIXES) or _is_json(response):
            return response
        rewritten = json_error(response.status_code)
        for header in ("Allow", "Retry-After", "WWW-Authenticate", "Vary", "Access-Control-Allow-Origin"):
            if header in response:
                rewritten[header] = response[header]
        return rewritten

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        """A body over the size limit or a malformed request: the client's fault, a 4xx
        (Django would log it as a crash-like 400 page)."""
        if not request.path.startswith(JSON_PREFIXES):
            return None
        if isinstance(exception, RequestDataTooBig):
            return json_error(413)
        if isinstance(exception, TooManyFieldsSent | SuspiciousOperation):
            return json_error(400)
        return None
