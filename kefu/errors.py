"""Errors raised by services; each carries a stable code for API and socket clients."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _


class KefuError(Exception):
    code = "error"
    default_message = _("Something went wrong.")
    status = 400

    def __init__(self, message: str | None = None, *, code: str | None = None, fields: dict | None = None) -> None:
        self.message = str(message or self.default_message)
        if code:
            self.code = code
        # Validation errors name the fields at fault: {"email": ["Enter a valid email address."]}.
        self.fields = fields
        super().__init__(self.message)


class NotFound(KefuError):
    code = "not_found"
    default_message = _("Not found.")
    status = 404


class Forbidden(KefuError):
    code = "forbidden"
    default_message = _("You are not allowed to do that.")
    status = 403


class InvalidInput(KefuError):
    code = "invalid"
    default_message = _("The request is not valid.")
    status = 400


class Conflict(KefuError):
    code = "conflict"
    default_message = _("The request conflicts with the current state.")
    status = 409


class RateLimited(KefuError):
    code = "rate_limited"
    default_message = _("Too many requests; slow down.")
    status = 429
