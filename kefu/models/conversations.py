"""Conversations between a visitor and the tenant (bot, queue or a human agent)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from kefu.models.agents import Agent
from kefu.models.inboxes import Channel, Inbox
from kefu.models.misc import Tag
from kefu.models.tenants import Team, Tenant
from kefu.models.visitors import Visitor


class Status(models.TextChoices):
    BOT = "bot", _("With bot")
    QUEUED = "queued", _("Queued")
    ASSIGNED = "assigned", _("Assigned")
    CLOSED = "closed", _("Closed")


class Priority(models.IntegerChoices):
    LOW = 0, _("Low")
    NORMAL = 1, _("Normal")
    HIGH = 2, _("High")
    URGENT = 3, _("Urgent")


class Conversation(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="conversations", verbose_name=_("tenant"))
    visitor = models.ForeignKey(
        Visitor, on_delete=models.CASCADE, related_name="conversations", verbose_name=_("visitor")
    )
    # RESTRICT: an inbox with history is deactivated, not deleted (a tenant's deletion
    # still takes both, since it cascades to the conversations too).
    inbox = models.ForeignKey(Inbox, on_delete=models.RESTRICT, related_name="conversations", verbose_name=_("inbox"))
    # A copy of inbox.channel (an inbox never changes channel): filters and the bot's
    # choice read it without a join.
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices, default=Channel.WIDGET)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.QUEUED)
    assignee = models.ForeignKey(
        Agent,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_conversations",
        verbose_name=_("assignee"),
    )
    team = models.ForeignKey(Team, on_delete=models.SET_NULL, null=True, blank=True, verbose_name=_("team"))
    priority = models.SmallIntegerField(_("priority"), choices=Priority.choices, default=Priority.NORMAL)
    tags = models.ManyToManyField(Tag, blank=True, related_name="conversations", verbose_name=_("tags"))
    last_seq = models.PositiveBigIntegerField(_("last sequence number"), default=0)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    assigned_at = models.DateTimeField(_("assigned"), null=True, blank=True)
    first_response_at = models.DateTimeField(_("first agent response"), null=True, blank=True)
    last_message_at = models.DateTimeField(_("last message"), null=True, blank=True)
    last_visitor_message_at = models.DateTimeField(_("last visitor message"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    rating = models.PositiveSmallIntegerField(_("rating"), null=True, blank=True)
    rating_comment = models.TextField(_("rating comment"), blank=True)
    attributes = models.JSONField(_("custom attributes"), default=dict, blank=True)
    visitor_read_seq = models.PositiveBigIntegerField(_("read by visitor up to"), default=0)
    agent_read_seq = models.PositiveBigIntegerField(_("read by agent up to"), default=0)

    class Meta:
        verbose_name = _("conversation")
        verbose_name_plural = _("conversations")
        ordering = ["-last_message_at", "-id"]
        constraints = [
            # "One open conversation per visitor and inbox" is the database's job, not a
            # check-then-write.
            models.UniqueConstraint(
                fields=["visitor", "inbox"], condition=~Q(status="closed"), name="conversation_one_open_per_inbox"
            ),
            models.CheckConstraint(
                condition=Q(rating__isnull=True) | Q(rating__gte=1, rating__lte=5), name="conversation_rating_1_5"
            ),
            models.CheckConstraint(
                condition=~Q(status="assigned") | Q(assignee__isnull=False), name="conversation_assigned_has_assignee"
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "status", "-last_message_at"], name="conv_tenant_status_recent"),
            models.Index(fields=["tenant", "assignee", "status"], name="conv_tenant_assignee_status"),
            models.Index(fields=["tenant", "-created_at"], name="conv_tenant_created"),
            models.Index(fields=["inbox", "status", "-last_message_at"], name="conv_inbox_status_recent"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.visitor}"

    @property
    def is_open(self) -> bool:
        return self.status != Status.CLOSED
