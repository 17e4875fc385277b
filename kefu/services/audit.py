"""The audit trail of privileged actions."""

from __future__ import annotations

from typing import Any

from django.db import models

from kefu import tracing
from kefu.models import AuditLog, Tenant


def audit_record(
    *,
    tenant: Tenant | None,
    actor: Any,
    action: str,
    target: models.Model | None = None,
    data: dict[str, Any] | None = None,
    ip: str | None = None,
) -> AuditLog:
    return AuditLog.objects.create(
        tenant=tenant,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        action=action,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        data=data or {},
        ip=ip,
        trace_id=tracing.get_trace_id(),
    )
