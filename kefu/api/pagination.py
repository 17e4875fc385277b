"""Cursor pagination over ids (keyset): no page skips or repeats a row while rows are
added or changed, and every page costs one index range scan however deep it is."""

from __future__ import annotations

import base64
from typing import Any, TypeVar

from django.db import models
from django.utils.translation import gettext as _
from rest_framework import serializers

from kefu.errors import InvalidInput

M = TypeVar("M", bound=models.Model)
MAX_LIMIT = 200


class PageParams(serializers.Serializer):
    cursor = serializers.CharField(
        required=False, allow_blank=True, max_length=100, help_text="`next_cursor` of the previous page."
    )
    limit = serializers.IntegerField(required=False, min_value=1, max_value=MAX_LIMIT, default=50)
    order = serializers.ChoiceField(
        choices=["desc", "asc"], required=False, default="desc", help_text="By id: newest first (desc) or oldest first."
    )


def _decode(cursor: str) -> int:
    try:
        value = int(base64.urlsafe_b64decode(cursor.encode() + b"=" * (-len(cursor) % 4)).decode())
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput(
            _("The cursor is not valid."), code="bad_cursor", fields={"cursor": [_("Not valid.")]}
        ) from None
    return value


def _encode(value: int) -> str:
    return base64.urlsafe_b64encode(str(value).encode()).decode().rstrip("=")


def keyset_page(qs: models.QuerySet[M], params: dict[str, Any]) -> tuple[list[M], str | None]:
    """One page of `qs` by id and the cursor of the next (None on the last page)."""
    descending = params.get("order", "desc") == "desc"
    limit = params.get("limit", 50)
    if params.get("cursor"):
        after = _decode(params["cursor"])
        qs = qs.filter(pk__lt=after) if descending else qs.filter(pk__gt=after)
    rows = list(qs.order_by("-pk" if descending else "pk")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (_encode(rows[-1].pk) if more and rows else None)


def page_response(results: list[Any], next_cursor: str | None) -> dict[str, Any]:
    return {"results": results, "next_cursor": next_cursor}


def page_serializer(name: str, item: type[serializers.Serializer]) -> type[serializers.Serializer]:
    """The list envelope for the schema."""
    return type(
        name,
        (serializers.Serializer,),
        {"results": item(many=True), "next_cursor": serializers.CharField(allow_null=True)},
    )
