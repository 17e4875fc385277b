"""System checks specific to Kefu's deployment."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, register


@register(Tags.security, deploy=True)
def check_production_services(app_configs: Any, **kwargs: Any) -> list[Error]:
    errors = []
    if not settings.DEBUG and settings.KEFU_TASKS_MODE == "eager":
        errors.append(Error("KEFU_TASKS_MODE=eager blocks requests; use celery in production.", id="kefu.E001"))
    return errors
