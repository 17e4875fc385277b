"""Outbound webhooks: a tenant's subscriptions and one row per delivery (an outbox)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from kefu.crypto import EncryptedTextField
from kefu.models.tenants import Tenant


class WebhookEvent(models.TextChoices):
    PING = "ping", _("Ping (test delivery)")
    CONVERSATION_CREATED = "conversation.created", _("Conversation created")
    CONVERSATION_ASSIGNED = "conversation.assigned", _("Conversation assigned")
    CONVERSATION_TRANSFERRED = "conversation.transferred", _("Conversation transferred")
    CONVERSATION_STATUS_CHANGED = "conversation.status_changed", _("Conversation status changed")
    CONVERSATION_CLOSED = "conversation.closed", _("Conversation closed")
    CONVERSATION_RATED = "conversation.rated", _("Conversation rated")
    MESSAGE_CREATED = "message.created", _("Message created")
    CONTACT_CREATED = "contact.created", _("Contact created")
    CONTACT_UPDATED = "contact.updated", _("Contact updated")
    CONTACT_MERGED = "contact.merged", _("Contacts merged")
    CONTACT_ERASED = "contact.erased", _("Contact erased")


class WebhookSubscription(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="webhooks", verbose_name=_("tenant"))
    url = models.URLField(_("URL"), max_length=1000)
    description = models.CharField(_("description"), max_length=200, blank=True)
    events = models.JSONField(_("events"), default=list, help_text=_("Event names; empty means every event."))
    include_internal = models.BooleanField(
        _("include internal notes"), default=False, help_text=_("Send message.created for agents' internal notes too.")
    )
    secret = EncryptedTextField(_("signing secret"))
    is_active = models.BooleanField(_("active"), default=True)
    consecutive_failures = models.PositiveIntegerField(_("consecutive failed attempts"), default=0)
    disabled_at = models.DateTimeField(_("disabled"), null=True, blank=True)
    disabled_reason = models.CharField(_("why disabled"), max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, verbose_name=_("created by")
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("webhook")
        verbose_name_plural = _("webhooks")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.url

    def wants(self, event: str) -> bool:
        return not self.events or event in self.events


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENDING = "sending", _("Sending")
    SUCCEEDED = "succeeded", _("Delivered")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")


class WebhookDelivery(models.Model):
    """One event for one subscription. Written in the transaction of the change it reports,
    so a committed change always has its deliveries (and a rolled-back one none)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", verbose_name=_("tenant"))
    subscription = models.ForeignKey(
        WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries", verbose_name=_("webhook")
    )
    event = models.CharField(_("event"), max_length=40, choices=WebhookEvent.choices)
    # Deliveries of one lane (one conversation, one contact) are sent one at a time, in order.
    lane = models.CharField(_("ordering lane"), max_length=40, blank=True)
    payload = models.JSONField(_("payload"))
    status = models.CharField(
        _("status"), max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    lease_until = models.DateTimeField(_("sending until"), null=True, blank=True)
    response_status = models.PositiveSmallIntegerField(_("last response code"), null=True, blank=True)
    response_body = models.TextField(_("last response (start)"), blank=True)
    response_ms = models.PositiveIntegerField(_("last response time (ms)"), null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=300, blank=True)
    attempt_log = models.JSONField(_("attempts log"), default=list, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["subscription", "-id"], name="delivery_sub_recent"),
            models.Index(
                fields=["subscription", "lane", "id"],
                condition=Q(status__in=["pending", "sending"]),
                name="delivery_lane_open",
            ),
            models.Index(fields=["status", "next_attempt_at"], name="delivery_due"),
        ]

    def __str__(self) -> str:
        return f"{self.event} #{self.pk}"
