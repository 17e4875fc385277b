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
from kefu.models import ApiKey
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
