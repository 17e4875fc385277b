"""Tenants (one per customer company) and their teams; their entry points are inboxes."""

from __future__ import annotations

import secrets

from django.db import models
from django.utils.translation import gettext_lazy as _


def new_identity_secret() -> str:
    return secrets.token_urlsafe(32)


# The widget moved to kefu.models.inboxes.Inbox (migration 0002); migration 0001 still
# names these defaults, so they stay importable.
def new_widget_key() -> str:
    return "wk_" + secrets.token_urlsafe(18)


def default_business_hours() -> dict:
    return {}


def default_widget_settings() -> dict:
    return {"color": "#1677ff", "position": "right", "welcome": "", "avatar": "", "prechat": False}


class RoutingPolicy(models.TextChoices):
    LEAST_LOAD = "least_load", _("Least load")
    ROUND_ROBIN = "round_robin", _("Round robin")


class Tenant(models.Model):
    name = models.CharField(_("name"), max_length=120)
    slug = models.SlugField(_("slug"), max_length=60, unique=True)
    identity_secret = models.CharField(
        _("identity secret"),
        max_length=128,
        default=new_identity_secret,
        help_text=_("HMAC-SHA256 key with which the host site signs visitor user ids."),
    )
    timezone = models.CharField(_("time zone"), max_length=64, default="Asia/Shanghai")
    locale = models.CharField(_("locale"), max_length=10, default="zh-hans")
    routing_policy = models.CharField(
        _("routing policy"), max_length=20, choices=RoutingPolicy.choices, default=RoutingPolicy.LEAST_LOAD
    )
    reassign_after_seconds = models.PositiveIntegerField(
        _("reassign after (seconds)"), default=0, help_text=_("0 disables reassignment.")
    )
    inactivity_close_minutes = models.PositiveIntegerField(_("close after visitor inactivity (minutes)"), default=0)
    max_agents = models.PositiveIntegerField(_("maximum agents"), default=50)
    max_upload_mb = models.PositiveIntegerField(_("maximum upload size (MB)"), default=20)
    visitor_messages_per_minute = models.PositiveIntegerField(_("visitor messages per minute"), default=30)
    notify_email = models.EmailField(_("notification email"), blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("tenant")
        verbose_name_plural = _("tenants")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Team(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="teams", verbose_name=_("tenant"))
    name = models.CharField(_("name"), max_length=80)

    class Meta:
        verbose_name = _("team")
        verbose_name_plural = _("teams")
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="team_unique_name_per_tenant")]

    def __str__(self) -> str:
        return self.name
