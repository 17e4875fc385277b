"""Operational endpoints (health, readiness, metrics) and attachment downloads."""

from __future__ import annotations

import hmac
import logging
import time

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django_prometheus.exports import ExportToDjangoView

from kefu import access
from kefu.errors import NotFound
from kefu.services.attachments import INLINE_TYPES

logger = logging.getLogger(__name__)


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_redis() -> None:
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    finally:
        client.close()


def _check_broker() -> None:
    from kefu.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    checks = {"database": _check_database}
    if settings.REDIS_URL:
        checks["redis"] = _check_redis
    if settings.KEFU_TASKS_MODE == "celery":
        checks["broker"] = _check_broker
    results: dict[str, str] = {}
    ok = True
    for name, check in checks.items():
        started = time.perf_counter()
        try:
            check()
            results[name] = f"ok ({(time.perf_counter() - started) * 1000:.1f} ms)"
        except Exception as exc:
            ok = False
            results[name] = f"error: {type(exc).__name__}"
            logger.warning("readiness check %s failed", name, exc_info=True)
    return JsonResponse({"status": "ok" if ok else "unavailable", "checks": results}, status=200 if ok else 503)


def metrics(request: HttpRequest) -> HttpResponse:
    token = settings.METRICS_TOKEN
    bearer = request.headers.get("Authorization", "")
    if token and hmac.compare_digest(bearer, f"Bearer {token}"):
        return ExportToDjangoView(request)
    if request.META.get("REMOTE_ADDR") in settings.METRICS_ALLOWED_IPS:
        return ExportToDjangoView(request)
    raise Http404()


@login_required
def attachment_download(request: HttpRequest, attachment_id: int) -> FileResponse:
    agent = access.agent_for_user(request.user)
    if agent is None:
        raise Http404()
    try:
        attachment = access.access_attachment(tenant=agent.tenant, attachment_id=attachment_id, agent=agent)
    except NotFound:
        raise Http404() from None
    return serve_attachment(attachment)


def serve_attachment(attachment: object) -> FileResponse:
    """Only known-safe types are inline; nothing can run script from our origin."""
    inline = attachment.content_type in INLINE_TYPES  # type: ignore[attr-defined]
    response = FileResponse(
        attachment.file.open("rb"),  # type: ignore[attr-defined]
        as_attachment=not inline,
        filename=attachment.original_name,  # type: ignore[attr-defined]
        content_type=attachment.content_type if inline else "application/octet-stream",  # type: ignore[attr-defined]
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; media-src 'self'; sandbox"
    response["Cache-Control"] = "private, max-age=3600"
    return response
