"""Signed visitor tokens: what the widget presents instead of a session cookie.

A token carries the tenant, visitor and widget inbox ids, is signed with the server secret and a
salt of its own (so no other signed value of the product can be replayed as one), and
expires. Tokens travel in the first socket frame or an Authorization header, never in
URLs, so they do not end up in access logs or Referer headers.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core import signing

SALT = "kefu.visitor-token.v1"
ATTACHMENT_SALT = "kefu.visitor-attachment.v1"
ATTACHMENT_LINK_MAX_AGE = 3600


@dataclass(frozen=True)
class VisitorClaims:
    tenant_id: int
    visitor_id: int
    # The widget inbox the token was issued by; None in tokens from before inboxes, which
    # stand for the tenant's first widget inbox (where their conversations were moved).
    inbox_id: int | None = None


class BadToken(Exception):
    """Missing, forged, malformed or expired."""


def token_issue(*, tenant_id: int, visitor_id: int, inbox_id: int | None = None) -> str:
    data = {"t": tenant_id, "v": visitor_id}
    if inbox_id is not None:
        data["i"] = inbox_id
    return signing.dumps(data, salt=SALT, compress=False)


def token_read(token: object, *, max_age: int | None = None) -> VisitorClaims:
    if not isinstance(token, str) or not token or len(token) > 512:
        raise BadToken()
    age = settings.KEFU_VISITOR_TOKEN_MAX_AGE if max_age is None else max_age
    try:
        data = signing.loads(token, salt=SALT, max_age=age)
        inbox_id = data.get("i")
        return VisitorClaims(
            tenant_id=int(data["t"]),
            visitor_id=int(data["v"]),
            inbox_id=int(inbox_id) if inbox_id is not None else None,
        )
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise BadToken() from None


def token_from_header(header: str | None) -> VisitorClaims:
    scheme, _, value = (header or "").partition(" ")
    if scheme.lower() != "bearer":
        raise BadToken()
    return token_read(value.strip())


def attachment_link_sign(*, attachment_id: int, visitor_id: int) -> str:
    """A short-lived capability for one attachment, so an <img> can load it without the token."""
    return signing.dumps({"a": attachment_id, "v": visitor_id}, salt=ATTACHMENT_SALT, compress=False)


def attachment_link_read(value: str, *, attachment_id: int) -> int:
    """The visitor id the link was issued to; raises BadToken otherwise."""
    try:
        data = signing.loads(value, salt=ATTACHMENT_SALT, max_age=ATTACHMENT_LINK_MAX_AGE)
        if int(data["a"]) != int(attachment_id):
            raise BadToken()
        return int(data["v"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise BadToken() from None
