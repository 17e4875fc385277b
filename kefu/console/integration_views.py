"""Settings pages for integrations: API keys and webhooks (with the delivery log).

Both are admin-only (the settings view checks); views parse, call one service, render.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kefu import access
from kefu.errors import KefuError
from kefu.models import ApiKey, WebhookDelivery, WebhookEvent, WebhookSubscription
from kefu.services import webhooks as webhook_services
from kefu.services.api_keys import all_scopes, api_key_issue, api_key_revoke


class ApiKeyForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=80)
    scopes = forms.MultipleChoiceField(
        label=gettext_lazy("Scopes"),
        choices=[(s, s) for s in all_scopes()],
        initial=["read"],
        widget=forms.CheckboxSelectMultiple,
        help_text=gettext_lazy("admin includes write includes read; a resource scope limits the key to that resource."),
    )
    expires_at = forms.DateTimeField(
        label=gettext_lazy("Expires"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text=gettext_lazy("Empty: the key works until it is revoked."),
    )


def _context(request: HttpRequest, section: str, title: str) -> dict:
    from kefu.console.views import settings_nav_context

    return {**settings_nav_context(request.agent, section=section), "section_title": title}  # type: ignore[attr-defined]


def api_keys(request: HttpRequest) -> HttpResponse:
    agent = request.agent  # type: ignore[attr-defined]
    tenant = agent.tenant
    action = request.POST.get("action")
    form = ApiKeyForm(request.POST if action == "create" else None)
    token = None
    if request.method == "POST" and action == "revoke":
        key = access.access_api_key(tenant=tenant, api_key_id=request.POST.get("key_id"))
        api_key_revoke(key=key, actor=request.user)
        messages.success(request, _("The key was revoked."))
        return HttpResponseRedirect(reverse("console-settings", args=["api-keys"]))
    if request.method == "POST" and action == "create" and form.is_valid():
        try:
            _key, token = api_key_issue(tenant=tenant, created_by=request.user, **form.cleaned_data)
        except KefuError as exc:
            messages.error(request, exc.message)
        else:
            form = ApiKeyForm()  # the token is shown in this response only, never stored in clear
    keys = ApiKey.objects.filter(tenant=tenant).select_related("created_by").order_by("-created_at")
    return render(
        request,
        "console/integrations/api_keys.html",
        {**_context(request, "api-keys", _("API keys")), "form": form, "keys": keys, "token": token},
    )


class WebhookForm(forms.Form):
    url = forms.URLField(label=gettext_lazy("URL"), max_length=1000, assume_scheme="https")
    description = forms.CharField(label=gettext_lazy("Description"), max_length=200, required=False)
    events = forms.MultipleChoiceField(
        label=gettext_lazy("Events"),
        choices=[(e.value, e.label) for e in WebhookEvent if e != WebhookEvent.PING],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=gettext_lazy("None ticked: every event."),
    )
    include_internal = forms.BooleanField(label=gettext_lazy("Include internal notes"), required=False)


def webhooks(request: HttpRequest) -> HttpResponse:
    """Subscriptions, their delivery log and "send again"."""
    agent = request.agent  # type: ignore[attr-defined]
    tenant = agent.tenant
    action = request.POST.get("action")
    form = WebhookForm(request.POST if action == "create" else None)
    secret = None
    here = reverse("console-settings", args=["webhooks"])
    try:
        if request.method == "POST" and action == "create" and form.is_valid():
            _sub, secret = webhook_services.webhook_create(tenant=tenant, actor=request.user, **form.cleaned_data)
            form = WebhookForm()
        elif request.method == "POST" and action in ("enable", "disable", "delete", "ping", "rotate"):
            sub = access.access_webhook(tenant=tenant, webhook_id=request.POST.get("webhook_id"))
            if action == "delete":
                webhook_services.webhook_delete(subscription=sub, actor=request.user)
            elif action == "ping":
                webhook_services.webhook_ping(subscription=sub, actor=request.user)
            elif action == "rotate":
                secret = webhook_services.webhook_rotate_secret(subscription=sub, actor=request.user)
            else:
                webhook_services.webhook_update(subscription=sub, actor=request.user, is_active=action == "enable")
            if secret is None:
                messages.success(request, _("Saved."))
                return HttpResponseRedirect(here + (f"?webhook={sub.pk}" if action == "ping" else ""))
        elif request.method == "POST" and action == "redeliver":
            delivery = access.access_webhook_delivery(tenant=tenant, delivery_id=request.POST.get("delivery_id"))
            webhook_services.webhook_redeliver(delivery=delivery, actor=request.user)
            messages.success(request, _("The delivery will be sent again."))
            return HttpResponseRedirect(f"{here}?webhook={delivery.subscription_id}")
    except KefuError as exc:
        messages.error(request, exc.message)
    subs = list(WebhookSubscription.objects.filter(tenant=tenant).order_by("-created_at"))
    selected = None
    if request.GET.get("webhook"):
        selected = access.access_webhook(tenant=tenant, webhook_id=request.GET["webhook"])
    elif subs:
        selected = subs[0]
    deliveries = (
        WebhookDelivery.objects.filter(subscription=selected).order_by("-id")[:50] if selected is not None else []
    )
    return render(
        request,
        "console/integrations/webhooks.html",
        {
            **_context(request, "webhooks", _("Webhooks")),
            "form": form,
            "subs": subs,
            "selected": selected,
            "deliveries": deliveries,
            "secret": secret,
        },
    )
