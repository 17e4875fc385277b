"""Agents: Django users who work for one tenant, with a role, capacity and presence."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from kefu.models.inboxes import Inbox
from kefu.models.tenants import Team, Tenant


class Role(models.TextChoices):
    OWNER = "owner", _("Owner")
    ADMIN = "admin", _("Admin")
    AGENT = "agent", _("Agent")


class Presence(models.TextChoices):
    ONLINE = "online", _("Online")
    AWAY = "away", _("Away")
    OFFLINE = "offline", _("Offline")


class Agent(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agent", verbose_name=_("user")
    )
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="agents", verbose_name=_("tenant"))
    display_name = models.CharField(_("display name"), max_length=80, blank=True)
    role = models.CharField(_("role"), max_length=10, choices=Role.choices, default=Role.AGENT)
    capacity = models.PositiveSmallIntegerField(
        _("capacity"), default=5, help_text=_("Maximum concurrent conversations.")
    )
    presence = models.CharField(_("presence"), max_length=10, choices=Presence.choices, default=Presence.OFFLINE)
    presence_changed_at = models.DateTimeField(_("presence changed"), null=True, blank=True)
    last_assigned_at = models.DateTimeField(_("last assigned"), null=True, blank=True)
    teams = models.ManyToManyField(Team, blank=True, related_name="agents", verbose_name=_("teams"))
    inboxes = models.ManyToManyField(
        Inbox,
        blank=True,
        related_name="agents",
        verbose_name=_("inboxes"),
        help_text=_("Empty: every inbox. Otherwise the agent sees and is assigned only these inboxes' conversations."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("agent")
        verbose_name_plural = _("agents")
        ordering = ["display_name"]
        indexes = [models.Index(fields=["tenant", "presence"], name="agent_tenant_presence")]

    def __str__(self) -> str:
        return self.display_name or self.user.get_username()

    @property
    def is_admin(self) -> bool:
        return self.role in (Role.OWNER, Role.ADMIN)
