"""Output shapes of the public REST API, as serializers (for the schema) and builders."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from kefu.models import Conversation, Kind, Priority, SenderType, Status
from kefu.payloads import api_message_payload, contact_payload, conversation_payload


class AgentRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    presence = serializers.CharField()


class ContactRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(allow_blank=True)


class TagRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    color = serializers.CharField()


class ConversationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Status.choices)
    channel = serializers.CharField()
    inbox_id = serializers.IntegerField()
    priority = serializers.ChoiceField(choices=Priority.choices)
    contact = ContactRefSerializer()
    assignee = AgentRefSerializer(allow_null=True)
    team_id = serializers.IntegerField(allow_null=True)
    tags = TagRefSerializer(many=True)
    attributes = serializers.DictField()
    last_seq = serializers.IntegerField()
    agent_read_seq = serializers.IntegerField()
    visitor_read_seq = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    last_message_at = serializers.DateTimeField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)
    rating = serializers.IntegerField(allow_null=True)
    rating_comment = serializers.CharField(allow_blank=True)


def conversation_out(conv: Conversation) -> dict[str, Any]:
    data = conversation_payload(conv)
    data["contact"] = data.pop("visitor")
    data["tags"] = [{"id": t.pk, "name": t.name, "color": t.color} for t in conv.tags.all()]
    data["attributes"] = conv.attributes or {}
    data["agent_read_seq"] = conv.agent_read_seq
    data["visitor_read_seq"] = conv.visitor_read_seq
    data["rating_comment"] = conv.rating_comment
    return data


class AttachmentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    content_type = serializers.CharField()
    size = serializers.IntegerField()
    width = serializers.IntegerField(allow_null=True)
    height = serializers.IntegerField(allow_null=True)
    url = serializers.CharField(help_text="Download link; the same visibility as the console applies.")


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


class ContactSerializer(serializers.Serializer):
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
    first_seen_at = serializers.DateTimeField(allow_null=True)
    last_seen_at = serializers.DateTimeField(allow_null=True)
    is_blocked = serializers.BooleanField()


contact_out = contact_payload
message_out = api_message_payload
