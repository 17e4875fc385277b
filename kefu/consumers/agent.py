"""The console's socket: Django session, same origin only, live inbox and conversations.

The agent's identity, role and teams are cached at connect. Which conversations the
socket may see is decided from fields carried by the events themselves (assignee,
status, team), so the inbox fan-out costs no query per event; inbox counts are
recomputed at most once per 2 s per tenant and process, for all its agent sockets.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import weakref
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db.models import Count, F, Q
from django.utils.translation import gettext as _

from kefu import access, events, tracing
from kefu.consumers.base import (
    CLOSE_REVOKED,
    PROTOCOL_VERSION,
    KefuConsumer,
    ack_frame,
    db_call,
    frame_int,
    frame_str,
    public_event_fields,
)
from kefu.consumers.writes import store_message
from kefu.errors import Forbidden, KefuError, NotFound
from kefu.models import Conversation, Presence, SenderType, Status
from kefu.payloads import agent_payload
from kefu.services import presence
from kefu.services.conversations import conversation_assign, conversation_mark_read
from kefu.services.messages import SendRequest, message_send

logger = logging.getLogger(__name__)

COUNTS_DEBOUNCE = 2.0
TYPING_MIN_INTERVAL = 1.5


def same_origin(scope: Mapping[str, Any]) -> bool:
    """The Origin must be this host (or an explicitly trusted origin): cookies alone prove nothing."""
    headers = dict(scope.get("headers", []))
    origin = headers.get(b"origin", b"").decode("latin-1").strip().rstrip("/").lower()
    host = headers.get(b"host", b"").decode("latin-1").strip().lower()
    if not origin or origin == "null":
        return False
    trusted = {o.rstrip("/").lower() for o in settings.CSRF_TRUSTED_ORIGINS}
    public = urlsplit(settings.KEFU_PUBLIC_URL)
    trusted.add(f"{public.scheme}://{public.netloc}".lower())
    if origin in trusted:
        return True
    return bool(host) and urlsplit(origin).netloc == host


def visible(
    cache: dict[str, Any], *, assignee_id: int | None, status: str | None, team_id: int | None, inbox_id: int | None
) -> bool:
    """The access layer's rule, on the agent fields cached at connect."""
    return access.conversation_visible_to(
        is_admin=cache["is_admin"],
        agent_id=cache["agent_id"],
        team_ids=cache["team_ids"],
        assignee_id=assignee_id,
        status=status,
        team_id=team_id,
        inbox_ids=cache["inbox_ids"],
        inbox_id=inbox_id,
    )


@db_call
def _load_agent(user: Any, channel_name: str) -> dict[str, Any] | None:
    agent = access.agent_for_user(user)
    if agent is None:
        return None
    presence.presence_socket_opened(agent=agent, channel_name=channel_name)
    return {
        "agent": agent,
        "agent_id": agent.pk,
        "tenant_id": agent.tenant_id,
        "is_admin": agent.is_admin,
        "team_ids": frozenset(agent.teams.values_list("pk", flat=True)),
        "inbox_ids": access.agent_inbox_ids(agent),
        "name": str(agent),
        "payload": agent_payload(agent),
    }


def _inbox_rows(tenant_id: int) -> list[tuple[str, int | None, int, int]]:
    """The tenant's open conversations by (status, assignee): how many, how many unread."""
    qs = Conversation.objects.filter(tenant_id=tenant_id).exclude(status=Status.CLOSED).order_by()
    return list(
        qs.values_list("status", "assignee_id").annotate(
            n=Count("pk"), unread=Count("pk", filter=Q(last_seq__gt=F("agent_read_seq")))
        )
    )


def inbox_counts(rows: list[tuple[str, int | None, int, int]], *, agent_id: int) -> dict[str, int]:
    counts = {"mine": 0, "queued": 0, "bot": 0, "all": 0, "unread": 0}
    for status, assignee_id, n, unread in rows:
        counts["all"] += n
        if status == Status.QUEUED:
            counts["queued"] += n
        elif status == Status.BOT:
            counts["bot"] += n
        if assignee_id == agent_id:
            if status == Status.ASSIGNED:
                counts["mine"] += n
            counts["unread"] += unread
    return counts


class _InboxRecount:
    """One aggregate per tenant and debounce window serves every agent socket of the process.

    Each visitor message asks each agent socket that shows it for new counts; counted per
    socket, that was one query per agent every 2 s. Grouped by status and assignee, one
    query answers every agent of the tenant. A socket is answered by a count that started
    after it asked, and gets at most one `inbox` frame per window, as before.
    """

    def __init__(self) -> None:
        self._waiting: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, set[AgentConsumer]]] = (
            weakref.WeakKeyDictionary()
        )

    def request(self, consumer: AgentConsumer, tenant_id: int) -> None:
        loop = asyncio.get_running_loop()
        tenants = self._waiting.setdefault(loop, {})
        waiting = tenants.get(tenant_id)
        if waiting is None:
            waiting = tenants[tenant_id] = set()
            loop.call_later(COUNTS_DEBOUNCE, lambda: asyncio.ensure_future(self._run(tenants, tenant_id)))
        waiting.add(consumer)

    async def _run(self, tenants: dict[int, set[AgentConsumer]], tenant_id: int) -> None:
        sockets = [c for c in tenants.pop(tenant_id, ()) if not c.closing and c.me is not None]
        if not sockets:
            return
        rows = await db_call(_inbox_rows)(tenant_id)
        await asyncio.gather(
            *(
                c.send_frame({"type": "inbox", "counts": inbox_counts(rows, agent_id=c.me["agent_id"])})  # type: ignore[index]
                for c in sockets
            ),
            return_exceptions=True,
        )


_recount = _InboxRecount()


class _AssignFirst(Exception):
    """The reply goes to a queued conversation, which the agent takes before writing."""


class AgentConsumer(KefuConsumer):
    bucket_capacity = 60
    bucket_rate = 30
    include_internal = True
    handlers = {
        "hello": "on_hello",
        "send": "on_send",
        "typing": "on_typing",
        "read": "on_read",
        "resume": "on_resume",
        "ping": "on_ping",
        "watch": "on_watch",
        "unwatch": "on_unwatch",
        "presence": "on_presence",
    }

    async def connect(self) -> None:
        self.me: dict[str, Any] | None = None
        self.watched: set[int] = set()
        self.typing_sent: dict[int, tuple[bool, float]] = {}
        user = self.scope.get("user")
        if not same_origin(self.scope) or user is None or not user.is_authenticated:
            await self.close()
            return
        self.me = await _load_agent(user, self.channel_name)
        if self.me is None:
            await self.close()
            return
        await self.join(events.agent_group(self.me["agent_id"]))
        await self.join(events.inbox_group(self.me["tenant_id"]))
        if self.me["is_admin"]:
            await self.join(events.supervisors_group(self.me["tenant_id"]))
        await self.accept()
        counts = inbox_counts(await db_call(_inbox_rows)(self.me["tenant_id"]), agent_id=self.me["agent_id"])
        await self.send_frame({"type": "welcome", "v": PROTOCOL_VERSION, "agent": self.me["payload"], "counts": counts})
        self._heartbeat = asyncio.get_running_loop().create_task(self._heartbeat_loop())

    async def _heartbeat_loop(self) -> None:
        """The server keeps the presence entry fresh itself, so a quiet console stays online."""
        assert self.me is not None
        while not self.closing:
            await asyncio.sleep(presence.HEARTBEAT_INTERVAL)
            try:
                await db_call(presence.presence_heartbeat)(agent_id=self.me["agent_id"], channel_name=self.channel_name)
                await self.rejoin_all()
            except Exception:
                logger.warning("presence heartbeat failed", exc_info=True)

    async def disconnect(self, code: int) -> None:
        heartbeat = getattr(self, "_heartbeat", None)
        if heartbeat is not None:
            heartbeat.cancel()
        await super().disconnect(code)
        if self.me is None:
            return
        agent_id = self.me["agent_id"]
        last = await db_call(presence.presence_socket_closed)(agent_id=agent_id, channel_name=self.channel_name)
        if not last:
            return
        grace = settings.KEFU_PRESENCE_GRACE_SECONDS
        check = db_call(presence.presence_check_offline)
        if grace <= 0:
            await check(agent_id=agent_id)
        else:
            # The process keeps the timer; if it dies first, the periodic sweep decides.
            asyncio.get_running_loop().call_later(grace, lambda: asyncio.ensure_future(check(agent_id=agent_id)))

    # --- helpers
    @db_call
    def _conversation(self, conversation_id: object) -> Conversation:
        """Fetch through access (tenant-scoped, 404 for foreign) and apply the visibility rule."""
        assert self.me is not None
        agent = access.access_own_agent(agent_id=self.me["agent_id"])
        conv = access.access_conversation(tenant=agent.tenant, conversation_id=conversation_id)
        if not visible(
            self.me, assignee_id=conv.assignee_id, status=conv.status, team_id=conv.team_id, inbox_id=conv.inbox_id
        ):
            raise Forbidden()
        return conv

    def _schedule_counts(self) -> None:
        if self.me is not None:
            _recount.request(self, self.me["tenant_id"])

    # --- frames
    async def on_hello(self, frame: dict[str, Any]) -> None:
        if frame.get("v", PROTOCOL_VERSION) != PROTOCOL_VERSION:
            raise KefuError(_("Unsupported protocol version."), code="bad_version")

    async def on_send(self, frame: dict[str, Any]) -> None:
        assert self.me is not None
        conversation_id = frame_int(frame, "conversation_id")
        client_msg_id = frame_str(frame, "client_msg_id", max_len=64, required=True).strip()
        if conversation_id is None or not client_msg_id:
            raise KefuError(_("conversation_id and client_msg_id are required."), code="bad_frame")
        kind = frame_str(frame, "kind", max_len=20) or "text"
        body = frame_str(frame, "body", max_len=settings.KEFU_MAX_MESSAGE_CHARS * 2)
        attachment_id = frame_int(frame, "attachment_id")
        is_internal = bool(frame.get("is_internal"))
        if attachment_id is None:
            # The common reply: checked on the row the batch locks, no read of its own.
            # Loaded at connect; a deactivated agent's socket is closed by kefu.revoke.
            try:
                result = await store_message(
                    SendRequest(
                        conversation_id=conversation_id,
                        sender_type=SenderType.AGENT,
                        body=body,
                        kind=kind,
                        client_msg_id=client_msg_id,
                        agent=self.me["agent"],
                        is_internal=is_internal,
                        authorize=functools.partial(self._authorize_reply, is_internal=is_internal),
                        trace_id=tracing.get_trace_id(),
                    )
                )
                await self.send_frame(ack_frame(result))
                return
            except _AssignFirst:
                pass
        await self.send_frame(await self._store(conversation_id, client_msg_id, kind, body, attachment_id, is_internal))

    def _take_first(self, conv: Conversation, *, is_internal: bool) -> bool:
        """The tenant's own, visible to this agent; True when a reply must take it first."""
        assert self.me is not None
        if conv.tenant_id != self.me["tenant_id"]:
            raise NotFound()
        if not visible(
            self.me, assignee_id=conv.assignee_id, status=conv.status, team_id=conv.team_id, inbox_id=conv.inbox_id
        ):
            raise Forbidden()
        return conv.status == Status.QUEUED and not is_internal

    def _authorize_reply(self, conv: Conversation, *, is_internal: bool) -> None:
        if self._take_first(conv, is_internal=is_internal):
            raise _AssignFirst()

    @db_call
    def _store(
        self,
        conversation_id: int,
        client_msg_id: str,
        kind: str,
        body: str,
        attachment_id: int | None,
        is_internal: bool,
    ) -> dict[str, Any]:
        """A reply with an attachment, or one that takes a queued conversation first."""
        assert self.me is not None
        agent = self.me["agent"]
        conv = access.access_conversation_stub(tenant_id=agent.tenant_id, conversation_id=conversation_id)
        take_first = self._take_first(conv, is_internal=is_internal)
        attachment = None
        if attachment_id is not None:
            attachment = access.access_attachment(tenant=agent.tenant, attachment_id=attachment_id, agent=agent)
        if take_first:
            # Replying to a queued visitor takes the conversation, as in every help-desk inbox.
            conv = conversation_assign(conversation=conv, agent=agent, actor=agent)
        return ack_frame(
            message_send(
                conversation=conv,
                sender_type=SenderType.AGENT,
                body=body,
                kind=kind,
                client_msg_id=client_msg_id,
                agent=agent,
                is_internal=is_internal,
                attachment=attachment,
            )
        )

    async def on_typing(self, frame: dict[str, Any]) -> None:
        assert self.me is not None
        conversation_id = frame_int(frame, "conversation_id")
        if conversation_id not in self.watched:
            raise KefuError(
                _("Watch the conversation first."),
                code="forbidden",
            )
        state = bool(frame.get("state"))
        now = time.monotonic()
        last_state, last_at = self.typing_sent.get(conversation_id, (False, 0.0))
        if state == last_state and now - last_at < TYPING_MIN_INTERVAL:
            return
        self.typing_sent[conversation_id] = (state, now)
        await events.abroadcast(
            [events.conversation_group(conversation_id)],
            {
                "type": "kefu.typing",
                "conversation_id": conversation_id,
                "sender_type": SenderType.AGENT,
                "name": self.me["name"],
                "state": state,
                "sender_channel": self.channel_name,
            },
        )

    async def on_read(self, frame: dict[str, Any]) -> None:
        conversation_id = frame_int(frame, "conversation_id")
        seq = frame_int(frame, "seq")
        conv = await self._conversation(conversation_id)
        if seq:
            await db_call(conversation_mark_read)(conversation_id=conv.pk, reader="agent", seq=seq)
            self._schedule_counts()

    async def on_resume(self, frame: dict[str, Any]) -> None:
        conv = await self._conversation(frame_int(frame, "conversation_id"))
        await self.rejoin_all()
        await self.send_replay(conv.pk, frame_int(frame, "last_seq", 0) or 0)

    async def on_watch(self, frame: dict[str, Any]) -> None:
        conv = await self._conversation(frame_int(frame, "conversation_id"))
        self.watched.add(conv.pk)
        await self.join(events.conversation_group(conv.pk))
        last_seq = frame_int(frame, "last_seq")
        if last_seq is not None and last_seq < conv.last_seq:
            await self.send_replay(conv.pk, last_seq)

    async def on_unwatch(self, frame: dict[str, Any]) -> None:
        conversation_id = frame_int(frame, "conversation_id")
        if conversation_id in self.watched:
            self.watched.discard(conversation_id)
            await self.leave(events.conversation_group(conversation_id))

    async def on_presence(self, frame: dict[str, Any]) -> None:
        assert self.me is not None
        status = frame_str(frame, "status", max_len=10, required=True)
        if status not in Presence.values:
            raise KefuError(_("Unknown presence."), code="invalid")

        def _set() -> None:
            agent = access.access_own_agent(agent_id=self.me["agent_id"])  # type: ignore[index]
            presence.agent_set_presence(agent=agent, status=status)

        await db_call(_set)()

    async def on_ping(self, frame: dict[str, Any]) -> None:
        await self.send_frame({"type": "pong", "ts": frame.get("ts")})

    # --- channel-layer events
    async def on_event(self, kind: str, event: dict[str, Any]) -> None:
        if kind == "kefu.revoke":
            await self.close_with(int(event.get("code") or CLOSE_REVOKED))
            return
        me = self.me
        if me is None:
            return
        if kind == "kefu.message":
            message = event["message"]
            conv_id = message.get("conversation_id")
            if conv_id in self.watched or visible(
                me,
                assignee_id=event.get("assignee_id"),
                status=event.get("status"),
                team_id=event.get("team_id"),
                inbox_id=event.get("inbox_id"),
            ):
                await self.send_frame({"type": "message", "message": message, "status": event.get("status")})
                if message.get("sender_type") == SenderType.VISITOR:  # only visitors make "unread" move
                    self._schedule_counts()
        elif kind.startswith("kefu.conversation."):
            conv = event["conversation"]
            assignee = (conv.get("assignee") or {}).get("id")
            was_mine = event.get("from_agent_id") == me["agent_id"]
            shown = visible(
                me,
                assignee_id=assignee,
                status=conv.get("status"),
                team_id=conv.get("team_id"),
                inbox_id=conv.get("inbox_id"),
            )
            if conv["id"] in self.watched or was_mine or shown:
                await self.send_frame({"type": "conversation", "event": kind.rsplit(".", 1)[1], "conversation": conv})
            if conv["id"] in self.watched and not shown and conv.get("status") != Status.CLOSED:
                self.watched.discard(conv["id"])
                await self.leave(events.conversation_group(conv["id"]))
            self._schedule_counts()
        elif kind in ("kefu.typing", "kefu.read"):
            if event.get("sender_channel") != self.channel_name and event.get("conversation_id") in self.watched:
                await self.send_frame({"type": kind[5:], **public_event_fields(event)})
        elif kind in ("kefu.bot.delta", "kefu.bot.done", "kefu.bot.failed"):
            if event.get("conversation_id") in self.watched:
                await self.send_frame({"type": kind[5:], **public_event_fields(event)})
        elif kind == "kefu.presence":
            await self.send_frame(
                {"type": "presence", "agent_id": event.get("agent_id"), "status": event.get("status")}
            )
