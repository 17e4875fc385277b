"""Output shapes of the REST API (they mirror kefu.payloads for the schema)."""

from __future__ import annotations

from rest_framework import serializers

from kefu.models import Kind, SenderType, Status


class AgentRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    presence = serializers.CharField()


class VisitorRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(allow_blank=True)


class ConversationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Status.choices)
    channel = serializers.CharField()
    inbox_id = serializers.IntegerField()
    priority = serializers.IntegerField()
    visitor = VisitorRefSerializer()
    assignee = AgentRefSerializer(allow_null=True)
    team_id = serializers.IntegerField(allow_null=True)
    last_seq = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    last_message_at = serializers.DateTimeField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)
    rating = serializers.IntegerField(allow_null=True)


class AttachmentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    content_type = serializers.CharField()
    size = serializers.IntegerField()
    width = serializers.IntegerField(allow_null=True)
    height = serializers.IntegerField(allow_null=True)
    url = serializers.CharField()


class MessageSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    conversation_id = serializers.IntegerField()
    seq = serializers.IntegerField()
    client_msg_id = serializers.CharField(allow_null=True)
    sender_type = serializers.ChoiceField(choices=SenderType.choices)
    sender_name = serializers.CharField(allow_blank=True)
    kind = serializers.ChoiceField(choices=Kind.choices)
    body = serializers.CharField(allow_blank=True)
    is_internal = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    attachment = AttachmentSerializer(allow_null=True)
    meta = serializers.DictField(required=False)


class VisitorSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(allow_blank=True)
    email = serializers.CharField(allow_blank=True)
    phone = serializers.CharField(allow_blank=True)
    identity_verified = serializers.BooleanField()
    external_id = serializers.CharField(allow_null=True)
    attributes = serializers.DictField()
    current_url = serializers.CharField(allow_blank=True)
    referrer = serializers.CharField(allow_blank=True)
    user_agent = serializers.CharField(allow_blank=True)
    ip = serializers.IPAddressField(allow_null=True)
    last_seen_at = serializers.DateTimeField(allow_null=True)
    is_blocked = serializers.BooleanField()


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
