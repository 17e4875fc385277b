"""Cleaning of user-supplied text before it is stored."""

from __future__ import annotations

import re

import nh3
from django.conf import settings
from django.utils.translation import gettext as _

from kefu.errors import InvalidInput

# C0 controls except tab and newline; they break terminals, CSV and JSON consumers.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

RICH_TAGS = {
    "p",
    "br",
    "strong",
    "b",
    "em",
    "i",
    "u",
    "s",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "a",
    "h1",
    "h2",
    "h3",
    "h4",
    "span",
}
RICH_ATTRIBUTES = {"a": {"href", "title"}}


def clean_plain(text: str, *, max_chars: int | None = None, allow_empty: bool = False) -> str:
    text = _CONTROL.sub("", text or "").replace("\r\n", "\n").strip()
    limit = max_chars or settings.KEFU_MAX_MESSAGE_CHARS
    if len(text) > limit:
        raise InvalidInput(_("The message is longer than %(limit)d characters.") % {"limit": limit}, code="too_long")
    if not text and not allow_empty:
        raise InvalidInput(_("The message is empty."), code="empty")
    return text


def clean_rich(html: str) -> str:
    """Sanitized HTML: links only to http(s) and mailto, no scripts, no styles."""
    text = clean_plain(html)
    return nh3.clean(
        text,
        tags=RICH_TAGS,
        attributes=RICH_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
