"""The widget's socket: authenticated by the visitor token in `hello`, then a thin relay.

Everything the socket needs (tenant, visitor, conversation, limits) is loaded once in
`hello`; afterwards frames touch the database only to write (send, read, rate,
contact) and to replay history.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext as _

from kefu import access, events, ratelimit, tracing
from kefu.consumers.base import (
    CLOSE_AUTH,
    CLOSE_FLOOD,
    CLOSE_FORBIDDEN,
    CLOSE_REVOKED,
    PROTOCOL_VERSION,
    KefuConsumer,
    ack_frame,
    db_call,
    frame_int,
    frame_str,
    public_event_fields,
)
from kefu.consumers.writes import Limits, store_message
from kefu.errors import Conflict, Forbidden, KefuError, NotFound, RateLimited
from kefu.models import Conversation, SenderType, Status
from kefu.payloads import conversation_payload
from kefu.selectors import visitor_for_hello
from kefu.services.conversations import (
    conversation_mark_read,
    conversation_nobody_online,
    conversation_open,
    conversation_rate,
    conversation_set_status,
)
from kefu.services.messages import SendRequest, message_send
from kefu.services.presence import inbox_is_online
from kefu.services.routing import routing_queue_position
from kefu.services.visitors import visitor_update
from kefu.visitor_tokens import BadToken, attachment_link_sign, token_read

HELLO_TIMEOUT = 10.0
TYPING_MIN_INTERVAL = 1.5

_ip_connects: ratelimit.LocalWindowCounter | None = None


def _local_ip_counter() -> ratelimit.LocalWindowCounter:
    global _ip_connects
    if _ip_connects is None or _ip_connects.limit != settings.KEFU_RL_IP_CONNECTS_PER_MINUTE:
        _ip_connects = ratelimit.LocalWindowCounter(settings.KEFU_RL_IP_CONNECTS_PER_MINUTE)
    return _ip_connects


def origin_allowed(origin: str, allowed: list[str]) -> bool:
    origin = (origin or "").strip().rstrip("/").lower()
    return bool(origin) and any(origin == str(a).strip().rstrip("/").lower() for a in allowed or [])


def visitor_conversation_payload(conv: Conversation) -> dict[str, Any]:
    data = conversation_payload(conv)
    assignee = data.get("assignee")
    if assignee:
        data["assignee"] = {"id": assignee["id"], "name": assignee["name"]}
    return data


def visitor_message(message: dict[str, Any], visitor_id: int) -> dict[str, Any]:
    """Attachment links that work from the widget's origin without the token in the URL."""
    attachment = message.get("attachment")
    if attachment:
        link = attachment_link_sign(attachment_id=attachment["id"], visitor_id=visitor_id)
        url = reverse("widget-attachment", args=[attachment["id"]])
        message = {**message, "attachment": {**attachment, "url": f"{url}?s={link}"}}
    return message


@db_call
def _authorize(claims: Any, origin: str, ip: str) -> dict[str, Any]:
    found = visitor_for_hello(visitor_id=claims.visitor_id, tenant_id=claims.tenant_id, inbox_id=claims.inbox_id)
    if found is None:
        raise BadToken()
    visitor, inbox, conv = found
    tenant = visitor.tenant
    if not origin_allowed(origin, inbox.allowed_origins):
        raise Forbidden(code="origin")
    if visitor.is_blocked:
        raise Forbidden(code="blocked")
    if not ratelimit.hit_all(
        ("vconn", visitor.pk, settings.KEFU_RL_VISITOR_CONNECTS_PER_MINUTE),
        ("ipconn", ip, settings.KEFU_RL_IP_CONNECTS_PER_MINUTE),
    ):
        raise RateLimited()
    return {
        "tenant_id": tenant.pk,
        "inbox_id": inbox.pk,
        "visitor_id": visitor.pk,
        "visitor": {"id": visitor.pk, "name": visitor.name},
        "messages_per_minute": tenant.visitor_messages_per_minute,
        "conversation": visitor_conversation_payload(conv) if conv else None,
        "queue_position": routing_queue_position(conversation=conv) if conv else None,
        "online": inbox_is_online(inbox),
    }


class VisitorConsumer(KefuConsumer):
    bucket_capacity = 20
    bucket_rate = 5
    include_internal = False
    handlers = {
        "hello": "on_hello",
        "send": "on_send",
        "typing": "on_typing",
        "read": "on_read",
        "resume": "on_resume",
        "ping": "on_ping",
        "handoff": "on_handoff",
        "contact": "on_contact",
        "rate": "on_rate",
    }

    def replay_message(self, message: dict[str, Any]) -> dict[str, Any]:
        return visitor_message(message, self._require_auth()[1])

    async def connect(self) -> None:
        self.tenant_id: int | None = None
        self.inbox_id: int | None = None
        self.visitor_id: int | None = None
        self.conv_id: int | None = None
        self.conv_status: str | None = None
        self.typing_sent: tuple[bool, float] = (False, 0.0)
        self.ip = ratelimit.scope_client_ip(self.scope)
        self.origin = dict(self.scope.get("headers", [])).get(b"origin", b"").decode("latin-1")
        await self.accept()
        if not _local_ip_counter().hit(self.ip):
            await self.send_frame(
                {"type": "error", "code": "rate_limited", "message": _("Too many connections."), "ref": "connect"}
            )
            await self.close_with(CLOSE_FLOOD)
            return
        self._hello_deadline = asyncio.get_running_loop().call_later(HELLO_TIMEOUT, self._hello_expired)

    def _hello_expired(self) -> None:
        if self.visitor_id is None and not self.closing:
            asyncio.ensure_future(self.close_with(CLOSE_AUTH))

    async def disconnect(self, code: int) -> None:
        deadline = getattr(self, "_hello_deadline", None)
        if deadline is not None:
            deadline.cancel()
        await super().disconnect(code)

    def _require_auth(self) -> tuple[int, int]:
        """The socket's (tenant id, visitor id), set by hello."""
        if self.visitor_id is None or self.tenant_id is None:
            raise KefuError(_("Send hello first."), code="auth_required")
        return self.tenant_id, self.visitor_id

    # --- frames
    async def on_hello(self, frame: dict[str, Any]) -> None:
        if self.visitor_id is not None:
            raise KefuError(_("Already authenticated."), code="bad_frame")
        if frame.get("v", PROTOCOL_VERSION) != PROTOCOL_VERSION:
            await self.send_error("bad_version", _("Unsupported protocol version."), ref="hello")
            await self.close_with(CLOSE_AUTH)
            return
        last_seq = frame_int(frame, "last_seq")
        try:
            claims = token_read(frame.get("token"))
            state = await _authorize(claims, self.origin, self.ip)
        except BadToken:
            await self.send_frame(
                {"type": "error", "code": "auth_failed", "message": _("Invalid token."), "ref": "hello"}
            )
            await self.close_with(CLOSE_AUTH)
            return
        except Forbidden:
            await self.send_frame({"type": "error", "code": "forbidden", "message": _("Not allowed."), "ref": "hello"})
            await self.close_with(CLOSE_FORBIDDEN)
            return
        except RateLimited:
            await self.send_frame(
                {"type": "error", "code": "rate_limited", "message": _("Too many connections."), "ref": "hello"}
            )
            await self.close_with(CLOSE_FLOOD)
            return
        self._hello_deadline.cancel()
        self.tenant_id, self.visitor_id = state["tenant_id"], state["visitor_id"]
        self.inbox_id = state["inbox_id"]
        self.messages_per_minute = state["messages_per_minute"]
        conv = state["conversation"]
        await self.join(events.visitor_group(self.visitor_id))
        await self.join(events.tenant_visitors_group(self.tenant_id))
        if conv:
            self.conv_id, self.conv_status = conv["id"], conv["status"]
            await self.join(events.conversation_group(self.conv_id))
        await self.send_frame(
            {
                "type": "welcome",
                "v": PROTOCOL_VERSION,
                "visitor": state["visitor"],
                "conversation": conv,
                "last_seq": conv["last_seq"] if conv else 0,
                "online": state["online"],
            }
        )
        if conv and state["queue_position"]:
            await self.send_frame({"type": "queue", "conversation_id": conv["id"], "position": state["queue_position"]})
        if conv and last_seq is not None and last_seq < conv["last_seq"]:
            await self.send_replay(conv["id"], last_seq)

    async def on_send(self, frame: dict[str, Any]) -> None:
        self._require_auth()
        client_msg_id = frame_str(frame, "client_msg_id", max_len=64, required=True).strip()
        if not client_msg_id:
            raise KefuError(_("Field client_msg_id is required."), code="bad_frame")
        kind = frame_str(frame, "kind", max_len=20) or "text"
        body = frame_str(frame, "body", max_len=settings.KEFU_MAX_MESSAGE_CHARS * 2)
        attachment_id = frame_int(frame, "attachment_id")
        if self.conv_id is not None and self.conv_status != Status.CLOSED and attachment_id is None:
            # Hot path: the id came from our own authorization; the batch locks the row.
            result = await store_message(
                SendRequest(
                    conversation_id=self.conv_id,
                    sender_type=SenderType.VISITOR,
                    body=body,
                    kind=kind,
                    client_msg_id=client_msg_id,
                    trace_id=tracing.get_trace_id(),
                ),
                self._message_limits(),
            )
            ack = ack_frame(result)
            conv: dict[str, Any] = {"id": self.conv_id, "status": result.message.conversation.status, "position": None}
        else:
            ack, conv = await self._store(client_msg_id, kind, body, attachment_id, self.conv_id)
        await self._follow(conv)
        await self.send_frame(ack)
        if conv.get("position"):
            await self.send_frame({"type": "queue", "conversation_id": conv["id"], "position": conv["position"]})

    def _message_limits(self) -> Limits:
        return (
            ("vmsg", self.visitor_id, self.messages_per_minute),
            ("ipmsg", self.ip, settings.KEFU_RL_IP_MESSAGES_PER_MINUTE),
        )

    @db_call
    def _store(
        self, client_msg_id: str, kind: str, body: str, attachment_id: int | None, known_conv_id: int | None
    ) -> tuple[dict, dict]:
        """A first message (opening the conversation), one with an attachment, or one to
        a closed conversation."""
        if not ratelimit.hit_all(*self._message_limits()):
            raise RateLimited()
        conv = self._conversation(create=True)
        assert conv is not None
        attachment = None
        if attachment_id is not None:
            attachment = access.access_attachment(tenant=conv.tenant, attachment_id=attachment_id)
            if attachment.conversation_id != conv.pk:
                raise KefuError(_("That attachment does not belong to this conversation."), code="bad_attachment")
        result = message_send(
            conversation=conv,
            sender_type=SenderType.VISITOR,
            body=body,
            kind=kind,
            client_msg_id=client_msg_id,
            attachment=attachment,
        )
        conv = result.message.conversation  # the locked row, as stored
        # The socket joins a new conversation's group only after this returns, so it may
        # have missed the queue broadcast of the routing pass: it gets its position here.
        position = routing_queue_position(conversation=conv) if conv.pk != known_conv_id else None
        return ack_frame(result), {"id": conv.pk, "status": conv.status, "position": position}

    def _conversation(self, *, create: bool) -> Conversation | None:
        """The visitor's current conversation, opened on demand (sync, inside a DB thread)."""
        tenant_id, visitor_id = self._require_auth()
        if self.conv_id is not None:
            conv = access.access_visitor_conversation(visitor_id=visitor_id, conversation_id=self.conv_id)
            if conv.status != Status.CLOSED or not create:
                return conv
            newer = (
                Conversation.objects.filter(visitor_id=visitor_id, inbox_id=conv.inbox_id)
                .exclude(status=Status.CLOSED)
                .first()
            )
            return newer or conv  # a closed one is reopened by message_send
        if not create:
            return None
        visitor = access.access_session_visitor(tenant_id=tenant_id, visitor_id=visitor_id)
        inbox = access.access_session_inbox(tenant_id=tenant_id, inbox_id=self.inbox_id)
        conv, _created = conversation_open(tenant=visitor.tenant, visitor=visitor, inbox=inbox)
        conv.tenant = visitor.tenant
        return conv

    async def _follow(self, conv: dict[str, Any]) -> None:
        if conv["id"] != self.conv_id:
            if self.conv_id is not None:
                await self.leave(events.conversation_group(self.conv_id))
            self.conv_id = conv["id"]
            await self.join(events.conversation_group(self.conv_id))
        self.conv_status = conv["status"]

    async def on_typing(self, frame: dict[str, Any]) -> None:
        self._require_auth()
        state = bool(frame.get("state"))
        now = time.monotonic()
        last_state, last_at = self.typing_sent
        if self.conv_id is None or (state == last_state and now - last_at < TYPING_MIN_INTERVAL):
            return
        self.typing_sent = (state, now)
        await events.abroadcast(
            [events.conversation_group(self.conv_id)],
            {
                "type": "kefu.typing",
                "conversation_id": self.conv_id,
                "sender_type": SenderType.VISITOR,
                "name": "",
                "state": state,
                "sender_channel": self.channel_name,
            },
        )

    async def on_read(self, frame: dict[str, Any]) -> None:
        self._require_auth()
        seq = frame_int(frame, "seq")
        if self.conv_id is None or not seq:
            return
        await db_call(conversation_mark_read)(conversation_id=self.conv_id, reader="visitor", seq=seq)

    async def on_resume(self, frame: dict[str, Any]) -> None:
        self._require_auth()
        last_seq = frame_int(frame, "last_seq", 0) or 0
        if self.conv_id is None:
            raise NotFound()
        await self.rejoin_all()
        await self.send_replay(self.conv_id, last_seq)

    async def on_ping(self, frame: dict[str, Any]) -> None:
        await self.send_frame({"type": "pong", "ts": frame.get("ts")})

    @db_call
    def _handoff(self) -> dict[str, Any]:
        conv = self._conversation(create=True)
        assert conv is not None
        if conv.status == Status.CLOSED:
            raise Conflict(_("The conversation is closed."), code="conversation_closed")
        if conv.status == Status.BOT:
            if inbox_is_online(conv.inbox):
                conv = conversation_set_status(conversation=conv, status=Status.QUEUED)
            else:
                conv = conversation_nobody_online(conversation=conv)
        return {"id": conv.pk, "status": conv.status}

    async def on_handoff(self, frame: dict[str, Any]) -> None:
        self._require_auth()
        await self._follow(await self._handoff())

    @db_call
    def _contact(self, name: str, email: str, phone: str, text: str) -> tuple[dict[str, Any], bool]:
        from kefu.tasks import notify_offline_message

        tenant_id, visitor_id = self._require_auth()
        visitor = access.access_session_visitor(tenant_id=tenant_id, visitor_id=visitor_id)
        with transaction.atomic():
            visitor_update(visitor=visitor, name=name or None, email=email or None, phone=phone or None)
        conv = self._conversation(create=True)
        assert conv is not None
        if text:
            message_send(conversation=conv, sender_type=SenderType.VISITOR, body=text)
        online = inbox_is_online(access.access_session_inbox(tenant_id=visitor.tenant_id, inbox_id=self.inbox_id))
        if not online:
            notify_offline_message.delay_on_commit(conv.pk)
        conv.refresh_from_db(fields=["status"])
        return {"id": conv.pk, "status": conv.status}, online

    async def on_contact(self, frame: dict[str, Any]) -> None:
        self._require_auth()
        name = frame_str(frame, "name", max_len=120)
        email = frame_str(frame, "email", max_len=254)
        phone = frame_str(frame, "phone", max_len=40)
        text = frame_str(frame, "message", max_len=settings.KEFU_MAX_MESSAGE_CHARS)
        conv, online = await self._contact(name, email, phone, text)
        await self._follow(conv)
        await self.send_frame({"type": "contact", "saved": True, "online": online, "conversation_id": conv["id"]})

    @db_call
    def _rate(self, rating: object, comment: str) -> None:
        conv = self._conversation(create=False)
        if conv is None:
            raise NotFound()
        conversation_rate(conversation=conv, rating=rating, comment=comment)  # type: ignore[arg-type]

    async def on_rate(self, frame: dict[str, Any]) -> None:
        self._require_auth()
        await self._rate(frame.get("rating"), frame_str(frame, "comment", max_len=2000))

    # --- channel-layer events
    async def on_event(self, kind: str, event: dict[str, Any]) -> None:
        if kind == "kefu.revoke":
            if event.get("inbox_id") in (None, self.inbox_id):  # a switched-off widget closes only its sockets
                await self.close_with(int(event.get("code") or CLOSE_REVOKED))
            return
        if self.visitor_id is None:
            return
        if kind == "kefu.message":
            message = event["message"]
            if message.get("conversation_id") != self.conv_id:
                return
            if message.get("is_internal"):
                # The number is taken but never reaches the visitor: say so, or the client
                # would wait for it (docs/protocol.md, "Holes in the visitor's stream").
                await self.send_frame({"type": "skip", "conversation_id": self.conv_id, "seq": message["seq"]})
                return
            self.conv_status = event.get("status", self.conv_status)
            await self.send_frame({"type": "message", "message": visitor_message(message, self.visitor_id)})
        elif kind.startswith("kefu.conversation."):
            conv = event["conversation"]
            if conv.get("id") != self.conv_id:
                return
            self.conv_status = conv.get("status")
            assignee = conv.get("assignee")
            if assignee:
                conv = {**conv, "assignee": {"id": assignee.get("id"), "name": assignee.get("name")}}
            await self.send_frame({"type": "conversation", "event": kind.rsplit(".", 1)[1], "conversation": conv})
        elif kind in ("kefu.typing", "kefu.read"):
            if event.get("sender_channel") == self.channel_name or event.get("conversation_id") != self.conv_id:
                return
            if kind == "kefu.typing" and event.get("sender_type") == SenderType.VISITOR:
                return
            await self.send_frame({"type": kind[5:], **public_event_fields(event)})
        elif kind in ("kefu.bot.delta", "kefu.bot.done", "kefu.bot.failed"):
            if event.get("conversation_id") != self.conv_id:
                return
            fields = public_event_fields(event)
            if kind == "kefu.bot.done" and isinstance(fields.get("message"), dict):
                fields["message"] = visitor_message(fields["message"], self.visitor_id)
            await self.send_frame({"type": kind[5:], **fields})
        elif kind == "kefu.queue":
            if event.get("conversation_id") == self.conv_id:
                await self.send_frame(
                    {"type": "queue", "conversation_id": self.conv_id, "position": event.get("position")}
                )
        elif kind == "kefu.online":
            by_inbox = event.get("inboxes") or {}
            online = by_inbox.get(str(self.inbox_id), event.get("online"))
            await self.send_frame({"type": "presence", "online": bool(online)})
        elif kind == "kefu.visitor.conversation":
            conv = event["conversation"]
            # The same visitor may chat in several of the tenant's widgets: follow only
            # this widget's conversations.
            if conv.get("inbox_id") not in (None, self.inbox_id):
                return
            if conv.get("id") != self.conv_id:
                await self._follow(conv)
                await self.send_frame({"type": "conversation", "event": "opened", "conversation": conv})
