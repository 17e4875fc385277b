"""Admin for bots, business hooks, alert channels and the bot-turn log."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from bots.models import AlertChannel, Bot, BotTurn, BusinessHook
from kefu.admin import ReadOnlyMixin, TenantScopedAdmin


class BotForm(forms.ModelForm):
    # Secrets are write-only in the admin: blank keeps the stored value.
    api_key = forms.CharField(label=_("API key"), required=False, widget=forms.PasswordInput(render_value=False))

    class Meta:
        model = Bot
        exclude: list[str] = []

    def clean_api_key(self) -> str:
        value = self.cleaned_data.get("api_key") or ""
        if not value and self.instance.pk:
            return self.instance.api_key
        return value


@admin.register(Bot)
class BotAdmin(TenantScopedAdmin):
    form = BotForm
    list_display = ("name", "tenant", "provider", "model", "channel", "enabled", "backup")
    list_filter = ("provider", "enabled", "channel", "tenant")
    search_fields = ("name", "model")
    filter_horizontal = ("knowledge_bases",)


class SecretForm(forms.ModelForm):
    secret = forms.CharField(label=_("secret"), required=False, widget=forms.PasswordInput(render_value=False))

    def clean_secret(self) -> str:
        value = self.cleaned_data.get("secret") or ""
        if not value and self.instance.pk:
            return self.instance.secret
        return value


@admin.register(BusinessHook)
class BusinessHookAdmin(TenantScopedAdmin):
    form = type(
        "BusinessHookForm", (SecretForm,), {"Meta": type("Meta", (), {"model": BusinessHook, "fields": "__all__"})}
    )
    list_display = ("name", "tenant", "url", "enabled", "timeout_ms")
    list_filter = ("enabled", "tenant")
    search_fields = ("name", "url")


@admin.register(AlertChannel)
class AlertChannelAdmin(TenantScopedAdmin):
    form = type(
        "AlertChannelForm", (SecretForm,), {"Meta": type("Meta", (), {"model": AlertChannel, "fields": "__all__"})}
    )
    list_display = ("name", "tenant", "kind", "enabled")
    list_filter = ("kind", "enabled", "tenant")


@admin.register(BotTurn)
class BotTurnAdmin(ReadOnlyMixin, TenantScopedAdmin):
    list_display = ("id", "conversation", "bot", "status", "provider", "attempts", "flagged", "created_at")
    list_filter = ("status", "flagged", "tenant")
    search_fields = ("provider", "error")
    raw_id_fields = ("conversation", "trigger", "reply")
