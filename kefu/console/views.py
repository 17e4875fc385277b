"""Pages of the agent console: the three-column app and the tenant settings pages.

Views parse and call one service; admin-only pages are enforced here, server side.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from kefu import access
from kefu.console import forms, integration_views, services
from kefu.console.extensions import settings_links
from kefu.console.i18n import js_messages
from kefu.errors import Forbidden, KefuError, NotFound
from kefu.models import Agent, CannedReply, Channel, Inbox, Role
from kefu.services.inboxes import inbox_default, inbox_update


def _ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR")


def agent_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        agent = access.agent_for_user(request.user)
        if agent is None:
            raise PermissionDenied(_("This account is not an agent of any workspace."))
        request.agent = agent  # type: ignore[attr-defined]
        return view(request, *args, **kwargs)

    return wrapper


def admin_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @agent_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.agent.is_admin:  # type: ignore[attr-defined]
            raise PermissionDenied(_("Only owners and admins can change settings."))
        return view(request, *args, **kwargs)

    return wrapper


@agent_required
def console(request: HttpRequest) -> HttpResponse:
    agent: Agent = request.agent  # type: ignore[attr-defined]
    lang = "en" if (get_language() or "").startswith("en") else "zh-hans"
    config = {
        "agent": {
            "id": agent.pk,
            "name": str(agent),
            "role": agent.role,
            "is_admin": agent.is_admin,
            "presence": agent.presence,
            # The console applies the server's visibility rule to follow transfers.
            "team_ids": sorted(access.agent_team_ids(agent)),
        },
        "tenant": {"id": agent.tenant_id, "name": agent.tenant.name},
        "lang": lang,
        "ws_path": "/ws/agent/",
        "api": "/api/v1/",
        "settings_url": reverse("console-settings", args=["widget"]) if agent.is_admin else "",
        "logout_url": reverse("logout"),
        "messages": js_messages(lang),
    }
    return render(request, "console/app.html", {"config": config, "agent": agent})


def _settings_nav() -> list[tuple[str, str]]:
    return [
        ("widget", _("Widget")),
        ("origins", _("Allowed origins")),
        ("identity", _("Identity verification")),
        ("hours", _("Business hours")),
        ("routing", _("Routing")),
        ("teams", _("Teams")),
        ("agents", _("Agents")),
        ("canned", _("Canned replies")),
        ("api-keys", _("API keys")),
        ("webhooks", _("Webhooks")),
    ]


def settings_nav_context(agent: Agent, *, section: str) -> dict[str, Any]:
    """The settings navigation (core sections, then registered links) for any settings page."""
    return {
        "section": section,
        "nav": _settings_nav(),
        "extra_nav": settings_links(),
        "agent": agent,
        "tenant": agent.tenant,
    }


def _page(request: HttpRequest, section: str, **context: Any) -> HttpResponse:
    agent = request.agent  # type: ignore[attr-defined]
    return render(
        request,
        "console/settings.html",
        {
            **settings_nav_context(agent, section=section),
            "section_title": dict(_settings_nav())[section],
            **context,
        },
    )


def _apply(request: HttpRequest, section: str, write: Callable[[], Any], ok: str) -> HttpResponse | None:
    try:
        write()
    except KefuError as exc:
        messages.error(request, exc.message)
        return None
    messages.success(request, ok)
    return HttpResponseRedirect(reverse("console-settings", args=[section]))


@admin_required
@require_http_methods(["GET", "POST"])
def settings_page(request: HttpRequest, section: str) -> HttpResponse:
    handler = _HANDLERS.get(section)
    if handler is None:
        raise PermissionDenied()  # unknown section; nothing to reveal
    try:
        return handler(request)
    except NotFound:
        raise Http404() from None
    except Forbidden as exc:
        raise PermissionDenied(exc.message) from None


def _widget_inbox(request: HttpRequest) -> Inbox:
    """The widget inbox a widget page edits: ?inbox=<id>, else the tenant's first."""
    tenant = request.agent.tenant  # type: ignore[attr-defined]
    wanted = request.GET.get("inbox")
    if wanted:
        inbox = access.access_inbox(tenant=tenant, inbox_id=wanted)
        if inbox.channel != Channel.WIDGET:
            raise NotFound()
        return inbox
    return inbox_default(tenant=tenant, channel=Channel.WIDGET)


def _widget_page(request: HttpRequest, section: str, inbox: Inbox, **context: Any) -> HttpResponse:
    widgets = Inbox.objects.filter(tenant=inbox.tenant, channel=Channel.WIDGET).order_by("created_at", "pk")
    return _page(request, section, inbox=inbox, widget_inboxes=widgets, **context)


def _save_inbox(request: HttpRequest, section: str, inbox: Inbox, changes: dict[str, Any], ok: str) -> HttpResponse:
    agent = request.agent  # type: ignore[attr-defined]
    try:
        inbox_update(inbox=inbox, actor=agent, changes=changes, ip=_ip(request), action=f"inbox.{section}")
    except KefuError as exc:
        messages.error(request, exc.message)
        return _widget_page(request, section, inbox)
    messages.success(request, ok)
    return HttpResponseRedirect(f"{reverse('console-settings', args=[section])}?inbox={inbox.pk}")


def _widget(request: HttpRequest) -> HttpResponse:
    inbox = _widget_inbox(request)
    form = forms.WidgetForm(request.POST or None, initial={**inbox.widget_settings})
    if request.method == "POST" and form.is_valid():
        changes = {"widget_settings": {**inbox.widget_settings, **form.cleaned_data}}
        return _save_inbox(request, "widget", inbox, changes, _("Widget settings saved."))
    public = getattr(settings, "KEFU_PUBLIC_URL", "").rstrip("/")
    embed = f'<script src="{public}/static/kefu/widget.js" data-key="{inbox.key}" async></script>'
    return _widget_page(request, "widget", inbox, form=form, embed=embed)


def _origins(request: HttpRequest) -> HttpResponse:
    inbox = _widget_inbox(request)
    form = forms.OriginsForm(request.POST or None, initial={"allowed_origins": "\n".join(inbox.allowed_origins)})
    if request.method == "POST" and form.is_valid():
        changes = {"allowed_origins": form.cleaned_data["allowed_origins"]}
        return _save_inbox(request, "origins", inbox, changes, _("Allowed origins saved."))
    return _widget_page(request, "origins", inbox, form=form)


def _identity(request: HttpRequest) -> HttpResponse:
    agent, tenant = request.agent, request.agent.tenant  # type: ignore[attr-defined]
    if request.method == "POST" and request.POST.get("action") == "rotate":
        done = _apply(
            request,
            "identity",
            lambda: services.tenant_identity_secret_rotate(tenant=tenant, actor=agent, ip=_ip(request)),
            _("A new identity secret was generated."),
        )
        if done:
            return done
    show = request.GET.get("show") == "1"
    if show:
        services.audit_record(
            tenant=tenant, actor=agent.user, action="tenant.identity_secret.view", target=tenant, ip=_ip(request)
        )
    return _page(request, "identity", show_secret=show, secret=tenant.identity_secret if show else "")


def _hours(request: HttpRequest) -> HttpResponse:
    inbox = _widget_inbox(request)
    form = forms.HoursForm(
        request.POST or None, initial=forms.HoursForm.initial_for(inbox), tenant_timezone=inbox.tenant.timezone
    )
    if request.method == "POST" and form.is_valid():
        changes = {"business_hours": form.business_hours(), "timezone": form.cleaned_data["timezone"]}
        return _save_inbox(request, "hours", inbox, changes, _("Business hours saved."))
    days = [form[f"day{d}"] for d in range(7)]
    return _widget_page(request, "hours", inbox, form=form, days=days)


def _routing(request: HttpRequest) -> HttpResponse:
    agent, tenant = request.agent, request.agent.tenant  # type: ignore[attr-defined]
    form = forms.RoutingForm(
        request.POST or None,
        initial={"routing_policy": tenant.routing_policy, "reassign_after_seconds": tenant.reassign_after_seconds},
    )
    if request.method == "POST" and form.is_valid():
        done = _apply(
            request,
            "routing",
            lambda: services.tenant_settings_update(
                tenant=tenant,
                actor=agent,
                ip=_ip(request),
                action="tenant.routing",
                changes=dict(form.cleaned_data),
            ),
            _("Routing saved."),
        )
        if done:
            return done
    agents = Agent.objects.filter(tenant=tenant, is_active=True).select_related("user")
    return _page(request, "routing", form=form, agents=agents)


def _teams(request: HttpRequest) -> HttpResponse:
    agent, tenant = request.agent, request.agent.tenant  # type: ignore[attr-defined]
    form = forms.TeamForm(request.POST or None if request.POST.get("action") == "create" else None)
    if request.method == "POST":
        if request.POST.get("action") == "delete":
            team = access.access_team(tenant=tenant, team_id=request.POST.get("team_id"))
            done = _apply(
                request,
                "teams",
                lambda: services.team_delete(team=team, actor=agent, ip=_ip(request)),
                _("Team deleted."),
            )
            if done:
                return done
        elif form.is_valid():
            done = _apply(
                request,
                "teams",
                lambda: services.team_create(
                    tenant=tenant, actor=agent, name=form.cleaned_data["name"], ip=_ip(request)
                ),
                _("Team created."),
            )
            if done:
                return done
    teams = tenant.teams.all().prefetch_related("agents")
    return _page(request, "teams", form=form, teams=teams)


def _agents(request: HttpRequest) -> HttpResponse:
    agent, tenant = request.agent, request.agent.tenant  # type: ignore[attr-defined]
    action = request.POST.get("action")
    form = forms.InviteForm(request.POST if action == "invite" else None, tenant=tenant)
    one_time = None
    if request.method == "POST" and action == "invite" and form.is_valid():
        try:
            invited, password = services.agent_invite(tenant=tenant, actor=agent, ip=_ip(request), **form.cleaned_data)
        except KefuError as exc:
            messages.error(request, exc.message)
        else:
            # Shown once, in this response only: never stored in clear, never in a redirect.
            one_time = {"username": invited.user.get_username(), "password": password}
            form = forms.InviteForm(tenant=tenant)
    elif request.method == "POST" and action == "update":
        target = access.access_agent(tenant=tenant, agent_id=request.POST.get("agent_id"))
        edit = forms.AgentEditForm(request.POST)
        if edit.is_valid():
            done = _apply(
                request,
                "agents",
                lambda: services.agent_update(agent=target, actor=agent, ip=_ip(request), **edit.cleaned_data),
                _("Agent updated."),
            )
            if done:
                return done
        else:
            messages.error(request, _("Check the role and capacity."))
    agents = (
        Agent.objects.filter(tenant=tenant)
        .select_related("user")
        .prefetch_related("teams")
        .order_by("-is_active", "display_name")
    )
    return _page(request, "agents", form=form, agents=agents, one_time=one_time, roles=Role.choices)


def _canned(request: HttpRequest) -> HttpResponse:
    agent, tenant = request.agent, request.agent.tenant  # type: ignore[attr-defined]
    action = request.POST.get("action")
    form = forms.CannedForm(request.POST if action == "save" else None)
    if request.method == "POST" and action == "delete":
        canned = access.access_canned_reply(tenant=tenant, canned_reply_id=request.POST.get("canned_id"))
        done = _apply(
            request,
            "canned",
            lambda: services.canned_reply_delete(canned=canned, actor=agent, ip=_ip(request)),
            _("Deleted."),
        )
        if done:
            return done
    elif request.method == "POST" and form.is_valid():
        canned = None
        if request.POST.get("canned_id"):
            canned = access.access_canned_reply(tenant=tenant, canned_reply_id=request.POST.get("canned_id"))
        done = _apply(
            request,
            "canned",
            lambda: services.canned_reply_save(
                tenant=tenant, actor=agent, canned=canned, ip=_ip(request), **form.cleaned_data
            ),
            _("Saved."),
        )
        if done:
            return done
    replies = CannedReply.objects.filter(tenant=tenant)
    return _page(request, "canned", form=form, replies=replies)


_HANDLERS: dict[str, Callable[[HttpRequest], HttpResponse]] = {
    "widget": _widget,
    "origins": _origins,
    "identity": _identity,
    "hours": _hours,
    "routing": _routing,
    "teams": _teams,
    "agents": _agents,
    "canned": _canned,
    "api-keys": integration_views.api_keys,
    "webhooks": integration_views.webhooks,
}
