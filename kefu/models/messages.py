"""Messages and their attachments; the database is the one source of truth for chat."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from kefu.models.agents import Agent
from kefu.models.conversations import Conversation
from kefu.models.tenants import Tenant


class SenderType(models.TextChoices):
    VISITOR = "visitor", _("Visitor")
    AGENT = "agent", _("Agent")
    BOT = "bot", _("Bot")
    SYSTEM = "system", _("System")


class Kind(models.TextChoices):
    TEXT = "text", _("Text")
    IMAGE = "image", _("Image")
    AUDIO = "audio", _("Audio")
    FILE = "file", _("File")
    RICH_TEXT = "rich_text", _("Rich text")
    EVENT = "event", _("Event")


def attachment_path(instance: Attachment, filename: str) -> str:
    # The stored name is random; the sanitized original name lives in a column.
    return f"attachments/{instance.tenant_id}/{instance.sha256[:2]}/{instance.sha256}"


class Attachment(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="attachments", verbose_name=_("tenant"))
    conversation = models.ForeignKey(
        Conversation,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="attachments",
        verbose_name=_("conversation"),
    )
    file = models.FileField(_("file"), upload_to=attachment_path, max_length=300)
    content_type = models.CharField(_("content type (sniffed)"), max_length=100)
    size = models.PositiveBigIntegerField(_("size"))
    original_name = models.CharField(_("original name"), max_length=200)
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    width = models.PositiveIntegerField(_("width"), null=True, blank=True)
    height = models.PositiveIntegerField(_("height"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.original_name


class Message(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="messages", verbose_name=_("tenant"))
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages", verbose_name=_("conversation")
    )
    seq = models.PositiveBigIntegerField(_("sequence number"))
    client_msg_id = models.CharField(_("client message id"), max_length=64, null=True, blank=True)
    sender_type = models.CharField(_("sender"), max_length=10, choices=SenderType.choices)
    sender_agent = models.ForeignKey(
        Agent, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("agent")
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.TEXT)
    body = models.TextField(_("body"), blank=True)
    attachment = models.ForeignKey(
        Attachment, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("attachment")
    )
    is_internal = models.BooleanField(_("internal note"), default=False)
    metadata = models.JSONField(_("metadata"), default=dict, blank=True)
    trace_id = models.CharField(_("trace id"), max_length=64, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering = ["conversation", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["conversation", "seq"], name="message_unique_seq"),
            models.UniqueConstraint(
                fields=["conversation", "client_msg_id"],
                condition=Q(client_msg_id__isnull=False),
                name="message_unique_client_msg_id",
            ),
            models.CheckConstraint(condition=Q(seq__gte=1), name="message_seq_positive"),
        ]
        indexes = [models.Index(fields=["tenant", "created_at"], name="message_tenant_created")]

    def __str__(self) -> str:
        return f"{self.conversation_id}#{self.seq}"
