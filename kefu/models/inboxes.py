"""Inboxes: the entry points through which customers reach a tenant.

An inbox is one website widget (a tenant may have several, each with its own key,
allowed origins, appearance, texts and business hours), the REST API channel, a WeChat
Official Account, a WeCom customer-service account, an e-mail address or a Telegram
bot. Every conversation belongs to exactly one inbox; routing (team, policy,
auto-assignment), business hours and the bot are chosen per inbox, and agents can be
limited to some inboxes (`Agent.inboxes`).
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _

from kefu.crypto import EncryptedTextField
from kefu.models.tenants import RoutingPolicy, Team, Tenant


class Channel(models.TextChoices):
    WIDGET = "widget", _("Website widget")
    API = "api", _("API")
    WECHAT = "wechat", _("WeChat Official Account")
    WECOM = "wecom", _("WeCom customer service")
    EMAIL = "email", _("E-mail")
    TELEGRAM = "telegram", _("Telegram")


def new_inbox_key(channel: str = Channel.WIDGET) -> str:
    # Widget keys keep their historical prefix: they are pasted into host pages.
    # Other keys name the inbox in its callback URL, so they are unguessable too.
    prefix = "wk_" if channel == Channel.WIDGET else "ib_"
    return prefix + secrets.token_urlsafe(18)


def default_widget_settings() -> dict[str, Any]:
    return {"color": "#1677ff", "position": "right", "welcome": "", "avatar": "", "prechat": False}


class Inbox(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="inboxes", verbose_name=_("tenant"))
    name = models.CharField(_("name"), max_length=80)
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    key = models.CharField(
        _("public key"),
        max_length=64,
        unique=True,
        default=new_inbox_key,
        help_text=_("The widget key in the embed code, or the last part of the channel's callback URL."),
    )
    is_active = models.BooleanField(_("active"), default=True)

    # Website widget: who may embed it and how it looks.
    allowed_origins = models.JSONField(
        _("allowed widget origins"),
        default=list,
        blank=True,
        help_text=_('Sites that may embed the widget, e.g. ["https://shop.example.com"].'),
    )
    widget_settings = models.JSONField(_("widget settings"), default=default_widget_settings, blank=True)

    # When someone answers: empty hours mean always open; weekday (0=Mon) -> [[start, end]].
    business_hours = models.JSONField(_("business hours"), default=dict, blank=True)
    timezone = models.CharField(
        _("time zone"), max_length=64, blank=True, help_text=_("Empty: the tenant's time zone.")
    )

    # Routing of the inbox's new conversations.
    team = models.ForeignKey(
        Team,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="inboxes",
        verbose_name=_("team"),
        help_text=_("New conversations wait in this team's queue."),
    )
    routing_policy = models.CharField(
        _("routing policy"),
        max_length=20,
        choices=RoutingPolicy.choices,
        blank=True,
        help_text=_("Empty: the tenant's policy."),
    )
    auto_assign = models.BooleanField(
        _("assign automatically"), default=True, help_text=_("Off: agents pick conversations from the queue.")
    )

    # Channel connection: plain settings (app id, IMAP host...) and encrypted credentials.
    config = models.JSONField(_("channel settings"), default=dict, blank=True)
    credentials_data = EncryptedTextField(_("channel credentials"), blank=True, db_column="credentials")
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("inbox")
        verbose_name_plural = _("inboxes")
        ordering = ["tenant", "created_at", "id"]
        indexes = [models.Index(fields=["tenant", "channel"], name="inbox_tenant_channel")]

    def __str__(self) -> str:
        return self.name

    @property
    def credentials(self) -> dict[str, str]:
        """The channel's secrets (app secret, tokens, AES key, passwords), decrypted."""
        if not self.credentials_data:
            return {}
        try:
            data = json.loads(self.credentials_data)
        except ValueError:
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    @credentials.setter
    def credentials(self, value: dict[str, str]) -> None:
        cleaned = {str(k): str(v) for k, v in (value or {}).items() if v not in (None, "")}
        self.credentials_data = json.dumps(cleaned, ensure_ascii=False, sort_keys=True) if cleaned else ""

    @property
    def effective_timezone(self) -> str:
        return self.timezone or self.tenant.timezone or "UTC"

    @property
    def effective_routing_policy(self) -> str:
        return self.routing_policy or self.tenant.routing_policy
