"""Visitors: the people on a tenant's website, anonymous until the host site vouches."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from kefu.models.tenants import Tenant


class Visitor(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="visitors", verbose_name=_("tenant"))
    anon_id = models.CharField(_("anonymous id"), max_length=64)
    external_id = models.CharField(
        _("external id"),
        max_length=128,
        null=True,
        blank=True,
        help_text=_("Host-site user id; set only when its HMAC was verified."),
    )
    identity_verified = models.BooleanField(_("identity verified"), default=False)
    name = models.CharField(_("name"), max_length=120, blank=True)
    email = models.EmailField(_("email"), blank=True)
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    attributes = models.JSONField(_("custom attributes"), default=dict, blank=True)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=400, blank=True)
    first_seen_at = models.DateTimeField(_("first seen"), auto_now_add=True)
    last_seen_at = models.DateTimeField(_("last seen"), auto_now_add=True)
    current_url = models.URLField(_("current page"), max_length=1000, blank=True)
    referrer = models.URLField(_("referrer"), max_length=1000, blank=True)
    is_blocked = models.BooleanField(_("blocked"), default=False)
    merged_into = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("merged into"),
        help_text=_("Set when this contact was merged into another; its browser then reaches that one."),
    )

    class Meta:
        verbose_name = _("visitor")
        verbose_name_plural = _("visitors")
        ordering = ["-last_seen_at"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "anon_id"], name="visitor_unique_anon_per_tenant"),
            models.UniqueConstraint(
                fields=["tenant", "external_id"],
                condition=Q(external_id__isnull=False),
                name="visitor_unique_external_per_tenant",
            ),
        ]
        indexes = [models.Index(fields=["tenant", "-last_seen_at"], name="visitor_tenant_seen")]

    def __str__(self) -> str:
        return self.name or self.email or f"#{self.anon_id[:8]}"
