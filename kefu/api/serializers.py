"""The error shape of the REST API, for the schema (kefu.api.errors builds it)."""

from __future__ import annotations

from rest_framework import serializers


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable machine-readable code, e.g. not_found, invalid, rate_limited.")
    message = serializers.CharField(help_text="Human-readable, in the request's language.")
    # DRF's metaclass moves declared fields off the class, so the wire name `fields` is
    # safe here; the stubs only see it shadow Serializer.fields.
    fields = serializers.DictField(  # type: ignore[assignment]
        required=False, help_text="Validation errors only: field name -> list of messages (nested for objects)."
    )
    trace_id = serializers.CharField(required=False, help_text="Quote it when reporting a problem.")


class ErrorSerializer(serializers.Serializer):
    """The one error shape of /api/ and /widget/api/, for every status."""

    error = ErrorDetailSerializer()
