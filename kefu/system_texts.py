"""What the product itself says inside a conversation, as a code and parameters.

A stored system text (an event line, a bot's canned sentence, a note for agents) keeps
`metadata.code` and `metadata.params`; the widget and the console render it in the
reader's language from the same catalogue (the console gets it with its dictionary, the
widget bundles static/kefu/shared/system-texts.json, written by
`manage.py system_texts`). The message body keeps the text in the language active when
it was written, for readers without the catalogue (REST API, exports, webhooks).

Placeholders are `{name}`. A parameter may itself be `{"code": ...}` (translated in
turn) or `{"time": ISO 8601}` (a moment, shown in the reader's time zone and language).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import formats, timezone, translation
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

TEXTS: dict[str, Promise] = {
    # Event lines, seen by visitor and agent.
    "assigned": _("{agent} joined the conversation."),
    "transferred": _("Transferred to {agent}."),
    "transferred_team": _("Transferred to team {team}."),
    "closed": _("The conversation was closed."),
    "reopened": _("The conversation was reopened."),
    "handoff": _("Transferred to a human agent."),
    # The bot's fixed sentences, seen by the visitor.
    "handoff_apology_requested": _("Sure, I am connecting you to a human agent now."),
    "handoff_apology_failure": _("Sorry, I cannot answer right now. A human agent will help you shortly."),
    "handoff_apology_media": _("I can't read this kind of message, so I'm passing you to a human agent who can."),
    "handoff_apology_blocked": _("Sorry, I can't help with that here. A human agent will take a look."),
    "nobody_online": _(
        "Nobody from our team is available right now. I can keep helping you here, "
        "or leave your contact details and we will get back to you."
    ),
    "nobody_online_until": _(
        "Nobody from our team is available right now; we are back {back_at}. I can keep helping "
        "you here, or leave your contact details and we will get back to you."
    ),
    # Notes for agents.
    "handoff_note": _("Bot handoff: {reason}\n{summary}"),
    "nobody_online_note": _("The visitor asked for a human while nobody was available."),
    "reason_requested": _("The visitor asked for a human."),
    "reason_unsure": _("The bot could not answer twice in a row."),
    "reason_complaint": _("The visitor seems unhappy."),
    "reason_failure": _("Every AI provider failed."),
    "reason_media": _("The visitor sent something the bot cannot read (image, voice or file)."),
    "reason_blocked": _("A business hook blocked a message; please review it."),
    "summary_transferred": _("Summary at transfer:\n{summary}"),
    "summary_closed": _("Summary at close:\n{summary}"),
}

CATALOGUE_FILE = Path(settings.BASE_DIR) / "static" / "kefu" / "shared" / "system-texts.json"
LANGUAGES = ("en", "zh-hans")


class _Keep(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _value(value: Any) -> str:
    if isinstance(value, dict) and "code" in value:
        return render(str(value["code"]), value.get("params"))
    if isinstance(value, dict) and "time" in value:
        try:
            moment = dt.datetime.fromisoformat(str(value["time"]))
        except ValueError:
            return str(value["time"])
        return formats.date_format(timezone.localtime(moment), "DATETIME_FORMAT")
    return str(value)


def render(code: str, params: dict[str, Any] | None = None) -> str:
    """The text of `code` in the active language ("" for an unknown code)."""
    template = TEXTS.get(code)
    if template is None:
        return ""
    values = _Keep({key: _value(value) for key, value in (params or {}).items()})
    return str(template).format_map(values)


def metadata(code: str, params: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """The metadata of a message that says `code` (plus any other keys of the caller)."""
    return {**extra, "code": code, "params": params or {}}


def catalogue(language: str) -> dict[str, str]:
    """Every template in `language`, placeholders kept, for the clients."""
    with translation.override(language):
        return {code: str(text) for code, text in TEXTS.items()}


def catalogue_json() -> str:
    return (
        json.dumps({lang: catalogue(lang) for lang in LANGUAGES}, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
    )
