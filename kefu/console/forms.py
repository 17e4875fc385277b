"""Forms of the tenant settings pages; they validate, services write."""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import available_timezones

from django import forms
from django.utils.translation import gettext_lazy as _

from kefu.models import Role, RoutingPolicy, Team

_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
_RANGE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-4]):[0-5]\d$")
WEEKDAYS = [_("Monday"), _("Tuesday"), _("Wednesday"), _("Thursday"), _("Friday"), _("Saturday"), _("Sunday")]


class WidgetForm(forms.Form):
    color = forms.CharField(label=_("Brand colour"), max_length=7, widget=forms.TextInput(attrs={"type": "color"}))
    position = forms.ChoiceField(
        label=_("Position"), choices=[("right", _("Bottom right")), ("left", _("Bottom left"))]
    )
    welcome = forms.CharField(
        label=_("Welcome message"), max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    avatar = forms.URLField(label=_("Avatar URL"), required=False, assume_scheme="https")
    prechat = forms.BooleanField(label=_("Ask for name and email before the chat"), required=False)

    def clean_color(self) -> str:
        color = self.cleaned_data["color"]
        if not _COLOR.match(color):
            raise forms.ValidationError(_("Use a colour like #1677ff."))
        return color.lower()


class OriginsForm(forms.Form):
    allowed_origins = forms.CharField(
        label=_("Allowed origins"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=_("One per line, e.g. https://shop.example.com"),
    )

    def clean_allowed_origins(self) -> list[str]:
        origins = []
        for line in self.cleaned_data["allowed_origins"].splitlines():
            line = line.strip().rstrip("/")
            if not line:
                continue
            if not re.match(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?$", line):
                raise forms.ValidationError(_("%(origin)s is not an origin (scheme://host[:port]).") % {"origin": line})
            origins.append(line.lower())
        return sorted(set(origins))


def _timezone_choices() -> list[tuple[str, str]]:
    return [(z, z) for z in sorted(available_timezones())]


class HoursForm(forms.Form):
    always_open = forms.BooleanField(label=_("Always open"), required=False)
    timezone = forms.ChoiceField(label=_("Time zone"), choices=_timezone_choices, required=False)

    def __init__(self, *args: Any, tenant_timezone: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        same = _("Same as the workspace (%(zone)s)") % {"zone": tenant_timezone}
        field = self.fields["timezone"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", same), *_timezone_choices()]
        for day, label in enumerate(WEEKDAYS):
            self.fields[f"day{day}"] = forms.CharField(
                label=label,
                required=False,
                help_text=_("e.g. 09:00-12:00, 13:00-18:00; empty = closed"),
            )

    @staticmethod
    def initial_for(inbox: Any) -> dict[str, Any]:
        hours = inbox.business_hours or {}
        data: dict[str, Any] = {"always_open": not hours, "timezone": inbox.timezone}
        for day in range(7):
            data[f"day{day}"] = ", ".join(f"{a}-{b}" for a, b in hours.get(str(day), []))
        return data

    def business_hours(self) -> dict[str, list[list[str]]]:
        if self.cleaned_data["always_open"]:
            return {}
        result: dict[str, list[list[str]]] = {}
        for day in range(7):
            spans = []
            for part in (self.cleaned_data.get(f"day{day}") or "").split(","):
                part = part.strip().replace(" ", "")
                if part:
                    start, end = part.split("-")
                    spans.append([start, end])
            result[str(day)] = spans
        return result

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        for day in range(7):
            for part in (data.get(f"day{day}") or "").split(","):
                part = part.strip().replace(" ", "")
                if part and (not _RANGE.match(part) or part.split("-")[0] >= part.split("-")[1]):
                    self.add_error(f"day{day}", _("Use ranges like 09:00-18:00."))
        return data


class RoutingForm(forms.Form):
    routing_policy = forms.ChoiceField(label=_("Routing policy"), choices=RoutingPolicy.choices)
    reassign_after_seconds = forms.IntegerField(
        label=_("Reassign after (seconds)"),
        min_value=0,
        max_value=86400,
        help_text=_("0 disables reassignment."),
    )


class TeamForm(forms.Form):
    name = forms.CharField(label=_("Team name"), max_length=80)


class InviteForm(forms.Form):
    username = forms.RegexField(label=_("User name"), max_length=150, regex=r"^[\w.@+-]+$")
    display_name = forms.CharField(label=_("Display name"), max_length=80, required=False)
    email = forms.EmailField(label=_("Email"), required=False)
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices, initial=Role.AGENT)
    capacity = forms.IntegerField(label=_("Capacity"), min_value=1, max_value=100, initial=5)
    teams = forms.ModelMultipleChoiceField(
        label=_("Teams"), queryset=Team.objects.none(), required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args: Any, tenant: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        teams = self.fields["teams"]
        assert isinstance(teams, forms.ModelMultipleChoiceField)
        teams.queryset = Team.objects.filter(tenant=tenant)


class AgentEditForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)
    capacity = forms.IntegerField(label=_("Capacity"), min_value=1, max_value=100)
    is_active = forms.BooleanField(label=_("Active"), required=False)


class CannedForm(forms.Form):
    shortcut = forms.SlugField(label=_("Shortcut"), max_length=40, allow_unicode=True)
    title = forms.CharField(label=_("Title"), max_length=120)
    body = forms.CharField(label=_("Text"), max_length=5000, widget=forms.Textarea(attrs={"rows": 4}))
