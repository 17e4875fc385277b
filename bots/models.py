"""Bots a tenant configures, business-system hooks, and the record of every bot turn."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from kefu.crypto import EncryptedTextField
from kefu.models import Channel, Conversation, Message, Tenant

DEFAULT_MIDDLEWARES = ["sensitive_words", "pii_mask", "intent", "language"]


def default_middlewares() -> list[str]:
    return list(DEFAULT_MIDDLEWARES)


class ProviderKind(models.TextChoices):
    LOCAL = "local", _("Local knowledge base (no API key)")
    OPENAI = "openai", _("OpenAI-compatible (OpenAI, DeepSeek, Qwen, vLLM, Ollama)")
    DIFY = "dify", _("Dify")
    COZE = "coze", _("Coze")
    FASTGPT = "fastgpt", _("FastGPT")


class Bot(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="bots", verbose_name=_("tenant"))
    name = models.CharField(_("name"), max_length=80)
    enabled = models.BooleanField(
        _("answers new conversations"),
        default=True,
        help_text=_("Off: the bot is only used as another bot's backup."),
    )
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices, default=Channel.WIDGET)
    provider = models.CharField(_("provider"), max_length=20, choices=ProviderKind.choices, default=ProviderKind.LOCAL)
    base_url = models.URLField(_("base URL"), max_length=300, blank=True)
    model = models.CharField(_("model"), max_length=120, blank=True)
    api_key = EncryptedTextField(_("API key"), blank=True)
    temperature = models.FloatField(
        _("temperature"), null=True, blank=True, validators=[MinValueValidator(0.0), MaxValueValidator(2.0)]
    )
    max_tokens = models.PositiveIntegerField(_("max tokens"), null=True, blank=True)
    system_prompt = models.TextField(_("system prompt"), blank=True)
    extra = models.JSONField(
        _("provider options"),
        default=dict,
        blank=True,
        help_text=_('Provider specific, e.g. {"app_type": "workflow"} for Dify or {"bot_id": "..."} for Coze.'),
    )
    backup = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("backup bot"),
        help_text=_("Used when this bot's provider fails."),
    )
    knowledge_bases = models.ManyToManyField(
        "knowledge.KnowledgeBase", blank=True, related_name="bots", verbose_name=_("knowledge bases")
    )
    history_messages = models.PositiveSmallIntegerField(_("messages of context"), default=20)
    faq_direct_threshold = models.FloatField(
        _("answer FAQ directly above confidence"),
        default=0.8,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
    )
    unsure_handoff_after = models.PositiveSmallIntegerField(_("hand off after unsure answers"), default=2)
    middlewares = models.JSONField(_("middlewares"), default=default_middlewares, blank=True)
    welcome_message = models.TextField(_("welcome message"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("bot")
        verbose_name_plural = _("bots")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "channel"], condition=Q(enabled=True), name="bot_one_enabled_per_channel"
            )
        ]

    def __str__(self) -> str:
        return self.name


class BusinessHook(models.Model):
    """A tenant's own HTTP endpoint asked in parallel with the bot (order lookup, CRM)."""

    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, related_name="business_hooks", verbose_name=_("tenant")
    )
    name = models.CharField(_("name"), max_length=80)
    url = models.URLField(_("URL"), max_length=500)
    secret = EncryptedTextField(_("signing secret"), blank=True)
    keywords = models.JSONField(
        _("trigger keywords"), default=list, blank=True, help_text=_("Empty: asked for every question.")
    )
    timeout_ms = models.PositiveIntegerField(_("timeout (ms)"), default=1500)
    enabled = models.BooleanField(_("enabled"), default=True)

    class Meta:
        verbose_name = _("business hook")
        verbose_name_plural = _("business hooks")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class TurnStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    RUNNING = "running", _("Running")
    DONE = "done", _("Answered")
    HANDOFF = "handoff", _("Handed to a human")
    FAILED = "failed", _("Failed")


class BotTurn(models.Model):
    """One visitor message answered by a bot; state and attempts make the task idempotent."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", verbose_name=_("tenant"))
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="bot_turns", verbose_name=_("conversation")
    )
    bot = models.ForeignKey(Bot, on_delete=models.SET_NULL, null=True, related_name="turns", verbose_name=_("bot"))
    trigger = models.OneToOneField(
        Message, on_delete=models.CASCADE, related_name="bot_turn", verbose_name=_("visitor message")
    )
    reply = models.ForeignKey(
        Message, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("reply")
    )
    status = models.CharField(_("status"), max_length=10, choices=TurnStatus.choices, default=TurnStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    provider = models.CharField(_("answered by"), max_length=40, blank=True)
    flagged = models.BooleanField(_("flagged for review"), default=False)
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("bot turn")
        verbose_name_plural = _("bot turns")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "created_at"], name="botturn_status_created")]

    def __str__(self) -> str:
        return f"turn {self.pk} ({self.status})"


class ConversationBotState(models.Model):
    """Per-conversation memory of the bot: provider handles and the unsure streak."""

    conversation = models.OneToOneField(
        Conversation, on_delete=models.CASCADE, related_name="bot_state", verbose_name=_("conversation")
    )
    provider_state = models.JSONField(_("provider state"), default=dict, blank=True)
    unsure_streak = models.PositiveSmallIntegerField(_("unsure answers in a row"), default=0)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("bot state")
        verbose_name_plural = _("bot states")

    def __str__(self) -> str:
        return f"bot state of conversation {self.conversation_id}"


class AlertKind(models.TextChoices):
    WECOM = "wecom", _("WeCom (企业微信)")
    DINGTALK = "dingtalk", _("DingTalk (钉钉)")
    FEISHU = "feishu", _("Feishu (飞书)")
    SLACK = "slack", _("Slack")
    GENERIC = "generic", _("Generic webhook")


class AlertChannel(models.Model):
    """Where operators hear that a provider's circuit opened or recovered."""

    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, related_name="alert_channels", verbose_name=_("tenant")
    )
    name = models.CharField(_("name"), max_length=80)
    kind = models.CharField(_("kind"), max_length=10, choices=AlertKind.choices)
    url = models.URLField(_("webhook URL"), max_length=500)
    secret = EncryptedTextField(_("signing secret"), blank=True)
    enabled = models.BooleanField(_("enabled"), default=True)

    class Meta:
        verbose_name = _("alert channel")
        verbose_name_plural = _("alert channels")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
