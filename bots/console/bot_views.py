"""Console pages for bots, their business hooks and alert channels (owners and admins only).

Secrets (API keys, signing secrets) are write-only: the forms never render them back,
and a blank field keeps the stored value.
"""

from __future__ import annotations

from typing import Any

from django import forms as django_forms
from django.contrib import messages
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from bots.console import access, forms, provider_check, selectors, services
from bots.console.views import admin_view, ip_of, render_page
from bots.models import AlertChannel, Bot, BusinessHook, ProviderKind
from kefu.errors import KefuError
from kefu.models import Agent

BOTS_SECTION = "ai-bots"
CHECK_SESSION_KEY = "kefu.bots.provider_check"  # the last test's result, shown once on the bot's page


def _agent(request: HttpRequest) -> Agent:
    return request.agent  # type: ignore[attr-defined]


def add_errors(form: django_forms.BaseForm, exc: ValidationError | KefuError) -> None:
    """Service errors shown inline: on their field when the form has it, above the form otherwise."""
    if isinstance(exc, KefuError):
        form.add_error(None, exc.message)
        return
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc)
        return
    for field, errors in exc.error_dict.items():
        form.add_error(field if field in form.fields else NON_FIELD_ERRORS, errors)


@admin_view
@require_GET
def bot_list(request: HttpRequest) -> HttpResponse:
    tenant = _agent(request).tenant
    return render_page(
        request,
        "bots/bot_list.html",
        section=BOTS_SECTION,
        title=gettext_lazy("AI bots"),
        bots=selectors.bot_list(tenant=tenant),
        hooks=selectors.business_hook_list(tenant=tenant),
        alert_channels=selectors.alert_channel_list(tenant=tenant),
    )


@admin_view
@require_http_methods(["GET", "POST"])
def bot_edit(request: HttpRequest, bot_id: int | None = None) -> HttpResponse:
    agent, ip = _agent(request), ip_of(request)
    bot = access.access_bot(tenant=agent.tenant, bot_id=bot_id) if bot_id else Bot(tenant=agent.tenant)
    back = reverse("ai_console:bots")
    saved_provider = bot.provider  # the form may change the instance; the test button uses what is saved
    if request.method == "POST" and request.POST.get("action") == "delete" and bot.pk:
        services.bot_delete(bot=bot, actor=agent, ip=ip)
        messages.success(request, _("Bot deleted."))
        return HttpResponseRedirect(back)
    form = forms.BotForm(request.POST or None, instance=bot, tenant=agent.tenant)
    if request.method == "POST" and form.is_valid():
        try:
            services.bot_save(
                bot=form.instance,
                actor=agent,
                knowledge_bases=form.cleaned_data["knowledge_bases"],
                changed=form.changed_data,
                ip=ip,
            )
        except (ValidationError, KefuError) as exc:
            add_errors(form, exc)
        else:
            messages.success(request, _("Bot saved."))
            return HttpResponseRedirect(back)
    title = bot.name if bot.pk else gettext_lazy("New bot")
    check = request.session.get(CHECK_SESSION_KEY)
    if check and bot.pk and check.get("bot") == bot.pk:
        del request.session[CHECK_SESSION_KEY]
    else:
        check = None
    return render_page(
        request,
        "bots/bot_form.html",
        section=BOTS_SECTION,
        title=title,
        form=form,
        bot=bot,
        check=check,
        testable=bool(bot.pk) and saved_provider != ProviderKind.LOCAL,
    )


@admin_view
@require_POST
def bot_test(request: HttpRequest, bot_id: int) -> HttpResponse:
    """Send a short prompt through the bot's saved provider; the result is shown on the bot's page."""
    agent = _agent(request)
    bot = access.access_bot(tenant=agent.tenant, bot_id=bot_id)
    try:
        result = provider_check.provider_test(bot=bot, actor=agent, ip=ip_of(request))
    except KefuError as exc:
        messages.error(request, exc.message)
    else:
        request.session[CHECK_SESSION_KEY] = {"bot": bot.pk, **result.as_dict()}
    return HttpResponseRedirect(reverse("ai_console:bot-edit", args=[bot.pk]) + "#provider-test")


_INTEGRATIONS: dict[str, tuple[type[Any], type[django_forms.ModelForm], Any, Any]] = {
    "hooks": (BusinessHook, forms.BusinessHookForm, gettext_lazy("New business hook"), gettext_lazy("Business hook")),
    "alerts": (AlertChannel, forms.AlertChannelForm, gettext_lazy("New alert channel"), gettext_lazy("Alert channel")),
}


def _integration_row(request: HttpRequest, kind: str, row_id: int | None) -> Any:
    model = _INTEGRATIONS[kind][0]
    tenant = _agent(request).tenant
    if row_id is None:
        return model(tenant=tenant)
    if model is BusinessHook:
        return access.access_business_hook(tenant=tenant, hook_id=row_id)
    return access.access_alert_channel(tenant=tenant, channel_id=row_id)


@admin_view
@require_http_methods(["GET", "POST"])
def integration_edit(request: HttpRequest, kind: str, row_id: int | None = None) -> HttpResponse:
    """One page for business hooks and alert channels: same shape, a write-only secret each."""
    agent, ip = _agent(request), ip_of(request)
    _model, form_class, new_title, kind_label = _INTEGRATIONS[kind]
    row = _integration_row(request, kind, row_id)
    back = reverse("ai_console:bots") + f"#{kind}"
    if request.method == "POST" and request.POST.get("action") == "delete" and row.pk:
        services.integration_delete(row=row, actor=agent, ip=ip)
        messages.success(request, _("Deleted."))
        return HttpResponseRedirect(back)
    form = form_class(request.POST or None, instance=row)
    if request.method == "POST" and form.is_valid():
        try:
            services.integration_save(row=form.instance, actor=agent, changed=form.changed_data, ip=ip)
        except (ValidationError, KefuError) as exc:
            add_errors(form, exc)
        else:
            messages.success(request, _("Saved."))
            return HttpResponseRedirect(back)
    title = f"{kind_label}: {row.name}" if row.pk else new_title
    return render_page(
        request, "bots/integration_form.html", section=BOTS_SECTION, title=title, form=form, row=row, kind=kind
    )
