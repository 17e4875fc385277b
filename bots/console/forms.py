"""Forms of the AI console pages: they validate and keep secrets write-only; services write."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from bots.knowledge.models import KnowledgeBase
from bots.middlewares import build_chain, middleware_class
from bots.models import AlertChannel, Bot, BusinessHook, HookPoint, HookTransport, MediaFallback, ProviderKind
from bots.providers.base import available_kinds
from bots.providers.coze import POLLING, RESPONSE_MODES, STREAMING
from kefu.models import Tenant

_LIST_SPLIT = re.compile(r"[\n,，;；|]+")
UPLOAD_EXTENSIONS = ".txt,.md,.markdown,.html,.htm,.pdf,.docx"
FAQ_EXTENSIONS = ".csv,.xlsx"
OPTION_FIELDS = ("response_mode", "dataset_id")  # provider options with a form field of their own


def split_list(value: str) -> list[str]:
    """Comma, semicolon or one-per-line lists (Chinese punctuation too) into clean items."""
    return [item.strip() for item in _LIST_SPLIT.split(value or "") if item.strip()]


def secret_field(label: Any) -> forms.CharField:
    # Never rendered back (render_value=False); a blank submission keeps the stored value.
    return forms.CharField(
        label=label,
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )


class SecretKeepingModelForm(forms.ModelForm):
    """Blank secret fields keep the stored value; ``clear_<field>`` empties it on purpose."""

    secret_fields: tuple[str, ...] = ()

    def set_secret_help(self) -> None:
        for name in self.secret_fields:
            field = self.fields[name]
            has_value = bool(self.instance.pk and getattr(self.instance, name))
            field.help_text = _("Stored. Leave blank to keep it.") if has_value else _("Not set.")

    def keep_secrets(self) -> None:
        for name in self.secret_fields:
            if self.cleaned_data.get(f"clear_{name}"):
                self.cleaned_data[name] = ""
            elif not self.cleaned_data.get(name) and self.instance.pk:
                self.cleaned_data[name] = getattr(self.instance, name)

    def clean(self) -> dict[str, Any]:
        # clean() runs before the model copies cleaned_data onto the instance.
        super().clean()
        self.keep_secrets()
        return self.cleaned_data


# --- Knowledge bases --------------------------------------------------------------------


class KnowledgeBaseForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120)
    description = forms.CharField(label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 2}))


class KnowledgeBaseSettingsForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120)
    description = forms.CharField(label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    embedding_base_url = forms.URLField(
        label=_("Embeddings base URL"),
        required=False,
        max_length=300,
        assume_scheme="https",
        help_text=_("Optional, OpenAI-compatible (…/v1). Without it, search is keyword-only."),
    )
    embedding_model = forms.CharField(label=_("Embeddings model"), max_length=120, required=False)
    embedding_api_key = secret_field(_("Embeddings API key"))
    llm_base_url = forms.URLField(
        label=_("Answer-check base URL"),
        required=False,
        max_length=300,
        assume_scheme="https",
        help_text=_(
            "Optional, OpenAI-compatible (…/v1). A chat model then checks which entry or passage answers "
            "a question, and translates it into the question's language."
        ),
    )
    llm_model = forms.CharField(label=_("Answer-check model"), max_length=120, required=False)
    llm_api_key = secret_field(_("Answer-check API key"))

    def __init__(self, *args: Any, knowledge_base: KnowledgeBase, **kwargs: Any) -> None:
        kb = knowledge_base
        kwargs.setdefault(
            "initial",
            {
                "name": kb.name,
                "description": kb.description,
                "embedding_base_url": kb.embedding_base_url,
                "embedding_model": kb.embedding_model,
                "llm_base_url": kb.llm_base_url,
                "llm_model": kb.llm_model,
            },
        )
        super().__init__(*args, **kwargs)
        for name in ("embedding_api_key", "llm_api_key"):
            self.fields[name].help_text = _("Stored. Leave blank to keep it.") if getattr(kb, name) else _("Not set.")


class DocumentUploadForm(forms.Form):
    file = forms.FileField(
        label=_("File"),
        help_text=_("TXT, Markdown, HTML, PDF or Word (.docx)"),
        widget=forms.ClearableFileInput(attrs={"accept": UPLOAD_EXTENSIONS}),
    )
    title = forms.CharField(label=_("Title"), max_length=255, required=False)


class DocumentPasteForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=255, required=False)
    text = forms.CharField(label=_("Text"), widget=forms.Textarea(attrs={"rows": 3}), strip=False)

    def clean_text(self) -> str:
        text = self.cleaned_data["text"]
        if not text.strip():
            raise forms.ValidationError(_("Paste some text."))
        return text


class FaqForm(forms.Form):
    question = forms.CharField(label=_("Question"), max_length=500)
    alternates = forms.CharField(
        label=_("Other ways to ask"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("One per line."),
    )
    answer = forms.CharField(label=_("Answer"), widget=forms.Textarea(attrs={"rows": 3}))
    enabled = forms.BooleanField(label=_("Enabled"), required=False, initial=True)

    def clean_alternates(self) -> list[str]:
        return [line.strip() for line in self.cleaned_data["alternates"].splitlines() if line.strip()]


class FaqImportForm(forms.Form):
    file = forms.FileField(
        label=_("CSV or XLSX file"),
        help_text=_("Columns: question, answer, and optionally alternates (separated by |) and id."),
        widget=forms.ClearableFileInput(attrs={"accept": FAQ_EXTENSIONS}),
    )


class AskForm(forms.Form):
    q = forms.CharField(label=_("Question"), max_length=500)


# --- Bots -----------------------------------------------------------------------------------


def provider_kinds() -> list[str]:
    return [kind for kind in available_kinds() if kind != "openai_compat"]  # an alias of openai


class BotForm(SecretKeepingModelForm):
    secret_fields = ("api_key",)
    api_key = secret_field(_("API key"))
    clear_api_key = forms.BooleanField(label=_("Remove the stored API key"), required=False)
    middlewares = forms.CharField(
        label=_("Middlewares"),
        required=False,
        help_text=_("Comma-separated, in order. Built in: language, intent, sensitive_words, pii_mask."),
    )
    extra = forms.JSONField(
        label=_("Provider options (JSON)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_('Provider specific, e.g. {"app_type": "workflow"} for Dify or {"bot_id": "..."} for Coze.'),
    )
    # Stored in the provider options (extra) under the same names; shown as fields of their own.
    response_mode = forms.ChoiceField(
        label=_("Coze response mode"),
        required=False,
        initial=STREAMING,
        choices=[
            (STREAMING, _("Streaming (the answer appears as it is written)")),
            (POLLING, _("Polling (wait for the whole answer, checking once a second)")),
        ],
        help_text=_(
            "Coze only. Polling suits bots or networks that cannot stream; "
            "the provider's total timeout bounds the wait."
        ),
    )
    dataset_id = forms.CharField(
        label=_("FastGPT dataset id"),
        required=False,
        max_length=64,
        help_text=_(
            "FastGPT only. Also searched on every question, in parallel with the knowledge bases, "
            "to ground answers and show sources. The API key must be allowed to search it."
        ),
    )

    class Meta:
        model = Bot
        fields = [
            "name",
            "enabled",
            "channel",
            "provider",
            "base_url",
            "model",
            "api_key",
            "temperature",
            "max_tokens",
            "system_prompt",
            "extra",
            "backup",
            "knowledge_bases",
            "history_messages",
            "faq_direct_threshold",
            "unsure_handoff_after",
            "middlewares",
            "middleware_options",
            "vision",
            "transcription_model",
            "media_fallback",
            "welcome_message",
        ]
        widgets = {
            "system_prompt": forms.Textarea(attrs={"rows": 4}),
            "welcome_message": forms.Textarea(attrs={"rows": 2}),
            "knowledge_bases": forms.CheckboxSelectMultiple,
        }

    def __init__(self, *args: Any, tenant: Tenant, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Choices only from this workspace: another tenant's id is simply not a valid choice.
        backups = Bot.objects.filter(tenant=tenant)
        if self.instance.pk:
            backups = backups.exclude(pk=self.instance.pk)
        backup = self.fields["backup"]
        knowledge_bases = self.fields["knowledge_bases"]
        assert isinstance(backup, forms.ModelChoiceField) and isinstance(knowledge_bases, forms.ModelChoiceField)
        backup.queryset = backups
        knowledge_bases.queryset = KnowledgeBase.objects.filter(tenant=tenant).order_by("name")
        self.fields["knowledge_bases"].required = False
        # Left out of a post (an older form, the API): the model's default.
        self.fields["media_fallback"].required = False
        # Built-in providers and those third-party packages install (kefu.providers entry points).
        builtin = dict(ProviderKind.choices)
        self.fields["provider"] = forms.ChoiceField(
            label=_("Provider"),
            choices=[(kind, builtin.get(kind, kind)) for kind in provider_kinds()],
            initial=self.instance.provider,
        )
        self.initial["middlewares"] = ", ".join(self.instance.middlewares or [])
        extra = dict(self.instance.extra or {})
        for name in OPTION_FIELDS:
            self.initial[name] = extra.pop(name, self.fields[name].initial or "")
        self.initial["extra"] = extra
        self.set_secret_help()

    def clean_middlewares(self) -> list[str]:
        names = split_list(self.cleaned_data.get("middlewares", ""))
        for name in names:
            try:
                middleware_class(name)
            except (KeyError, ImportError):
                raise forms.ValidationError(_("Unknown middleware: %(name)s") % {"name": name}) from None
        return names

    def clean_media_fallback(self) -> str:
        return self.cleaned_data.get("media_fallback") or MediaFallback.ASK_TEXT

    def clean_middleware_options(self) -> dict[str, Any]:
        value = self.cleaned_data.get("middleware_options")
        if value in (None, ""):
            return {}
        if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
            raise forms.ValidationError(
                _('Middleware options are a JSON object of objects, like {"sensitive_words": {"extra_words": []}}.')
            )
        return value

    def clean_extra(self) -> dict[str, Any]:
        value = self.cleaned_data.get("extra")
        if value in (None, ""):
            return {}
        if not isinstance(value, dict):
            raise forms.ValidationError(_('Provider options must be a JSON object, like {"key": "value"}.'))
        return value

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        if "extra" in self.errors:
            return cleaned
        extra = dict(cleaned.get("extra") or {})
        provider = cleaned.get("provider")
        # The fields win; a value typed into the JSON instead is used when its field is left at the default.
        mode = cleaned.get("response_mode") or STREAMING
        if mode == STREAMING:
            mode = str(extra.get("response_mode") or STREAMING)
        dataset_id = (cleaned.get("dataset_id") or "").strip() or str(extra.get("dataset_id") or "").strip()
        for name in OPTION_FIELDS:
            extra.pop(name, None)
        if mode not in RESPONSE_MODES:
            self.add_error("response_mode", _("Choose streaming or polling."))
        elif mode != STREAMING:
            if provider != ProviderKind.COZE:
                self.add_error("response_mode", _("Polling is only available for Coze bots."))
            extra["response_mode"] = mode
        if dataset_id:
            if provider != ProviderKind.FASTGPT:
                self.add_error("dataset_id", _("A dataset id is only used with FastGPT; clear it or choose FastGPT."))
            extra["dataset_id"] = dataset_id
        cleaned["extra"] = extra
        names = cleaned.get("middlewares")
        options = cleaned.get("middleware_options") or {}
        if isinstance(names, list) and "middleware_options" not in self.errors:
            for name in options:
                if name not in names and name != "intent":
                    self.add_error("middleware_options", _("%(name)s is not in the middleware list.") % {"name": name})
            try:
                # Built once here so options a middleware does not take are refused now, not per turn.
                build_chain([n for n in names if n != "intent"], {k: v for k, v in options.items() if k != "intent"})
            except (TypeError, ValueError) as exc:
                self.add_error("middleware_options", _("Invalid middleware options: %(error)s") % {"error": exc})
        return cleaned


class BusinessHookForm(SecretKeepingModelForm):
    secret_fields = ("secret",)
    secret = secret_field(_("Signing secret"))
    clear_secret = forms.BooleanField(label=_("Remove the stored secret"), required=False)
    keywords = forms.CharField(
        label=_("Trigger keywords"),
        required=False,
        help_text=_("Comma-separated. Empty: asked for every question."),
    )

    class Meta:
        model = BusinessHook
        fields = [
            "name",
            "point",
            "bot",
            "transport",
            "url",
            "secret",
            "keywords",
            "timeout_ms",
            "fail_closed",
            "enabled",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Only this workspace's bots: another tenant's bot id is not a valid choice.
        bot = self.fields["bot"]
        assert isinstance(bot, forms.ModelChoiceField)
        bot.queryset = Bot.objects.filter(tenant_id=self.instance.tenant_id)
        for name in ("point", "transport"):
            self.fields[name].required = False  # an older form or post: the model's default

    def clean_point(self) -> str:
        return self.cleaned_data.get("point") or HookPoint.ANSWER

    def clean_transport(self) -> str:
        return self.cleaned_data.get("transport") or HookTransport.HTTP
        self.initial["keywords"] = ", ".join(self.instance.keywords or [])
        self.set_secret_help()

    def clean_keywords(self) -> list[str]:
        return split_list(self.cleaned_data.get("keywords", ""))


class AlertChannelForm(SecretKeepingModelForm):
    secret_fields = ("secret",)
    secret = secret_field(_("Signing secret"))
    clear_secret = forms.BooleanField(label=_("Remove the stored secret"), required=False)

    class Meta:
        model = AlertChannel
        fields = ["name", "kind", "url", "secret", "enabled"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.set_secret_help()
