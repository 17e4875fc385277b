"""Bots a tenant configures, business-system hooks, and the record of every bot turn."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, URLValidator
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


class MediaFallback(models.TextChoices):
    ASK_TEXT = "ask_text", _("Ask the visitor to type the question")
    HANDOFF = "handoff", _("Hand the conversation to a human")


class Bot(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="bots", verbose_name=_("tenant"))
    name = models.CharField(_("name"), max_length=80)
    enabled = models.BooleanField(
        _("answers new conversations"),
        default=True,
        help_text=_("Off: the bot is only used as another bot's backup."),
    )
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices, default=Channel.WIDGET)
    # No choices here: third-party providers (kefu.providers entry points) are valid too;
    # the console form offers the built-ins and the installed ones.
    provider = models.CharField(_("provider"), max_length=20, default=ProviderKind.LOCAL)
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
    middleware_options = models.JSONField(
        _("middleware options"),
        default=dict,
        blank=True,
        help_text=_('Keyword options per middleware, e.g. {"sensitive_words": {"extra_words": ["..."]}}.'),
    )
    vision = models.BooleanField(
        _("the model reads images"),
        default=False,
        help_text=_("Images from visitors go to the model (OpenAI image parts, Dify and Coze file inputs)."),
    )
    transcription_model = models.CharField(
        _("speech-to-text model"),
        max_length=120,
        blank=True,
        help_text=_("e.g. whisper-1: voice messages are transcribed by this OpenAI-compatible endpoint and answered."),
    )
    media_fallback = models.CharField(
        _("when a message cannot be read"),
        max_length=10,
        choices=MediaFallback.choices,
        default=MediaFallback.ASK_TEXT,
        help_text=_("Images, voice or files the bot cannot read get an immediate reply, never silence."),
    )
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

    def get_provider_display(self) -> str:
        return str(dict(ProviderKind.choices).get(self.provider, self.provider))


class HookPoint(models.TextChoices):
    ANSWER = "answer", _("Answer: asked beside the bot, may answer")
    MESSAGE_IN = "message_in", _("Message in: a visitor message before the bot sees it")
    BEFORE_SEND = "before_send", _("Before send: a bot reply before the visitor sees it")
    BEFORE_ASSIGN = "before_assign", _("Before assignment: choose the team or agent")
    ON_CLOSE = "on_close", _("On close: told when a conversation closes")


class HookTransport(models.TextChoices):
    HTTP = "http", _("HTTP (JSON, signed)")
    GRPC = "grpc", _("gRPC (kefu.hooks.v1, signed)")


_GRPC_TARGET = re.compile(r"^(grpcs?://)?\[?[A-Za-z0-9.:-]+\]?:\d{1,5}$")


class BusinessHook(models.Model):
    """A tenant's own system asked synchronously at one key point (order lookup, risk control, routing)."""

    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, related_name="business_hooks", verbose_name=_("tenant")
    )
    bot = models.ForeignKey(
        "Bot",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="hooks",
        verbose_name=_("bot"),
        help_text=_("Empty: every bot of the workspace."),
    )
    name = models.CharField(_("name"), max_length=80)
    point = models.CharField(_("hook point"), max_length=20, choices=HookPoint.choices, default=HookPoint.ANSWER)
    transport = models.CharField(
        _("transport"), max_length=10, choices=HookTransport.choices, default=HookTransport.HTTP
    )
    url = models.CharField(
        _("URL or gRPC target"), max_length=500, help_text=_("https://... for HTTP; host:port for gRPC.")
    )
    secret = EncryptedTextField(_("signing secret"), blank=True)
    keywords = models.JSONField(
        _("trigger keywords"), default=list, blank=True, help_text=_("Empty: asked for every question.")
    )
    timeout_ms = models.PositiveIntegerField(
        _("timeout (ms)"), default=1500, validators=[MinValueValidator(50), MaxValueValidator(30_000)]
    )
    fail_closed = models.BooleanField(
        _("fail closed"),
        default=False,
        help_text=_(
            "When the hook does not answer in time or fails: off lets the message through, "
            "on blocks it (or hands the visitor to a human)."
        ),
    )
    enabled = models.BooleanField(_("enabled"), default=True)

    class Meta:
        verbose_name = _("business hook")
        verbose_name_plural = _("business hooks")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        if self.transport == HookTransport.GRPC:
            if not _GRPC_TARGET.match(self.url or ""):
                raise ValidationError({"url": _("A gRPC target is host:port, e.g. risk.internal:50051.")})
        else:
            try:
                URLValidator(schemes=["http", "https"])(self.url)
            except ValidationError:
                raise ValidationError({"url": _("Enter an http:// or https:// URL.")}) from None
        if self.bot_id is not None and self.bot is not None and self.bot.tenant_id != self.tenant_id:
            raise ValidationError({"bot": _("That bot belongs to another workspace.")})


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
