"""Core domain models, split by area and re-exported here."""

from kefu.models.agents import Agent, Presence, Role
from kefu.models.conversations import Conversation, Priority, Status
from kefu.models.inboxes import Channel, Inbox
from kefu.models.messages import Attachment, Kind, Message, SenderType
from kefu.models.misc import ApiKey, AuditLog, CannedReply, Tag
from kefu.models.tenants import RoutingPolicy, Team, Tenant
from kefu.models.visitors import Visitor
from kefu.models.webhooks import DeliveryStatus, WebhookDelivery, WebhookEvent, WebhookSubscription

__all__ = [
    "Agent",
    "ApiKey",
    "Attachment",
    "AuditLog",
    "CannedReply",
    "Channel",
    "Conversation",
    "Inbox",
    "Kind",
    "Message",
    "Presence",
    "Priority",
    "Role",
    "RoutingPolicy",
    "SenderType",
    "Status",
    "Tag",
    "Team",
    "Tenant",
    "Visitor",
    "DeliveryStatus",
    "WebhookDelivery",
    "WebhookEvent",
    "WebhookSubscription",
]
