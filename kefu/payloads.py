"""Wire shapes of core objects, shared by sockets, the REST API and events."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from kefu.models import Agent, Attachment, Conversation, Message, Visitor


def attachment_payload(attachment: Attachment) -> dict[str, Any]:
    return {
        "id": attachment.pk,
        "name": attachment.original_name,
        "content_type": attachment.content_type,
        "size": attachment.size,
        "width": attachment.width,
        "height": attachment.height,
        "url": reverse("attachment-download", args=[attachment.pk]),
    }


def _attachment_or_none(message: Message) -> dict[str, Any] | None:
    # The id test first: a message without one must not cost a query for the relation.
    if message.attachment_id is None or message.attachment is None:
        return None
    return attachment_payload(message.attachment)


def message_payload(message: Message) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": message.pk,
        "conversation_id": message.conversation_id,
        "seq": message.seq,
        "client_msg_id": message.client_msg_id,
        "sender_type": message.sender_type,
        "sender_name": _sender_name(message),
        "kind": message.kind,
        "body": message.body,
        "is_internal": message.is_internal,
        "created_at": message.created_at.isoformat(),
        "attachment": _attachment_or_none(message),
    }
    meta = message.metadata or {}
    # Only the parts a client needs; provider internals stay server side.
    # code and params: a system text the client renders in its reader's language.
    public = {
        k: meta[k]
        for k in ("event", "code", "params", "sources", "quick_replies", "partial", "cards", "transcript")
        if k in meta
    }
    if public:
        data["meta"] = public
    return data


def _sender_name(message: Message) -> str:
    if message.sender_agent_id and message.sender_agent:
        return str(message.sender_agent)
    return ""


def agent_payload(agent: Agent | None) -> dict[str, Any] | None:
    if agent is None:
        return None
    return {"id": agent.pk, "name": str(agent), "presence": agent.presence}


def visitor_payload(visitor: Visitor) -> dict[str, Any]:
    return {
        "id": visitor.pk,
        "name": visitor.name,
        "email": visitor.email,
        "phone": visitor.phone,
        "identity_verified": visitor.identity_verified,
        "external_id": visitor.external_id,
        "attributes": visitor.attributes,
        "current_url": visitor.current_url,
        "referrer": visitor.referrer,
        "user_agent": visitor.user_agent,
        "ip": visitor.ip,
        "last_seen_at": visitor.last_seen_at.isoformat() if visitor.last_seen_at else None,
        "is_blocked": visitor.is_blocked,
    }


def conversation_payload(conversation: Conversation) -> dict[str, Any]:
    return {
        "id": conversation.pk,
        "status": conversation.status,
        "channel": conversation.channel,
        "inbox_id": conversation.inbox_id,
        "priority": conversation.priority,
        "visitor": {"id": conversation.visitor_id, "name": str(conversation.visitor)},
        "assignee": agent_payload(conversation.assignee),
        "team_id": conversation.team_id,
        "last_seq": conversation.last_seq,
        "created_at": conversation.created_at.isoformat(),
        "last_message_at": conversation.last_message_at.isoformat() if conversation.last_message_at else None,
        "closed_at": conversation.closed_at.isoformat() if conversation.closed_at else None,
        "rating": conversation.rating,
    }


def contact_payload(visitor: Visitor) -> dict[str, Any]:
    """A visitor as the REST API and webhooks name it: a contact."""
    data = visitor_payload(visitor)
    data["first_seen_at"] = visitor.first_seen_at.isoformat() if visitor.first_seen_at else None
    return data


def api_message_payload(message: Message) -> dict[str, Any]:
    """message_payload with the attachment link an API key can follow (the console's needs a session)."""
    data = message_payload(message)
    if data["attachment"] is not None:
        data["attachment"] = {
            **data["attachment"],
            "url": reverse("api-attachment-download", args=[data["attachment"]["id"]]),
        }
    return data
