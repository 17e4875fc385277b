"""What both sockets share: frame parsing and limits, error frames, event fan-in.

A frame goes through size check, token bucket, JSON decode and a handler table. Any
failure becomes an `error` frame; only floods, oversized frames and repeated errors
close the socket, so one bad frame never takes down the consumer or its neighbours.
Channel-layer events (`kefu.*`) arrive through `on_event`, deduplicated by the event id
that kefu/events.py stamps, because one socket may sit in two groups that both get it.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, ClassVar

import orjson
from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import close_old_connections
from django.utils.translation import gettext as _

from kefu import events, tracing
from kefu.errors import KefuError
from kefu.models import Message
from kefu.payloads import message_payload
from kefu.ratelimit import TokenBucket
from kefu.services.messages import SendResult

if TYPE_CHECKING:
    from asgiref.typing import ASGIReceiveCallable, ASGISendCallable, WebSocketConnectEvent, WebSocketDisconnectEvent
    from channels.consumer import _ChannelScope

logger = logging.getLogger(__name__)

PROTOCOL_VERSION = 1
MAX_FRAME_BYTES = 64 * 1024
PAGE_SIZE = 200
MAX_REPLAY_PAGES = 10
ERROR_WINDOW_SECONDS = 10.0
MAX_ERRORS_IN_WINDOW = 20
MAX_DROPPED_FRAMES = 50
MAX_QUEUED_FRAMES = 64

CLOSE_AUTH = 4001
CLOSE_FORBIDDEN = 4003
CLOSE_FLOOD = 4008
CLOSE_TOO_LARGE = 4009
CLOSE_REVOKED = 4010

Handler = Callable[[dict[str, Any]], Awaitable[None]]


def _outage_errors() -> tuple[type[BaseException], ...]:
    try:
        from redis.exceptions import RedisError
    except ImportError:  # the embedded default has no Redis client installed
        return (OSError, asyncio.TimeoutError)
    return (OSError, asyncio.TimeoutError, RedisError)


# What a restarting Redis raises; anything else (a bug, a closed loop) ends the socket.
_LAYER_OUTAGE = _outage_errors()

# --- Database calls off the event loop -------------------------------------------------
# channels' database_sync_to_async runs every ORM call of the process on ONE thread, so
# one slow transaction delays every socket. Frames of one socket are still handled one
# at a time (the consumer awaits each), so a pool keeps per-socket order while sockets
# proceed in parallel; each thread takes a connection from the psycopg pool.
_db_pool: ThreadPoolExecutor | None = None


def _executor() -> ThreadPoolExecutor:
    global _db_pool
    if _db_pool is None:
        _db_pool = ThreadPoolExecutor(max_workers=settings.KEFU_SOCKET_DB_THREADS, thread_name_prefix="kefu-db")
    return _db_pool


def _run_db(func: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    close_old_connections()
    try:
        return func(*args, **kwargs)
    finally:
        close_old_connections()


def db_call(func: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    """Like database_sync_to_async, on a pool of threads instead of one."""

    @functools.wraps(func)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = contextvars.copy_context()
        call = functools.partial(ctx.run, _run_db, func, args, kwargs)
        return await asyncio.get_running_loop().run_in_executor(_executor(), call)

    return wrapper


def ack_frame(result: SendResult) -> dict[str, Any]:
    message = result.message
    return {
        "type": "ack",
        "client_msg_id": message.client_msg_id,
        "conversation_id": message.conversation_id,
        "id": message.pk,
        "seq": message.seq,
        "created_at": message.created_at.isoformat(),
        "duplicate": not result.created,
    }


def dumps(frame: dict[str, Any]) -> str:
    return orjson.dumps(frame).decode()


def frame_int(frame: dict[str, Any], key: str, default: int | None = None) -> int | None:
    value = frame.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value > 2**62:
        raise KefuError(_("Field %(f)s must be a non-negative integer.") % {"f": key}, code="bad_frame")
    return value


def frame_str(frame: dict[str, Any], key: str, *, max_len: int, required: bool = False) -> str:
    value = frame.get(key)
    if value is None:
        if required:
            raise KefuError(_("Field %(f)s is required.") % {"f": key}, code="bad_frame")
        return ""
    if not isinstance(value, str) or len(value) > max_len:
        raise KefuError(_("Field %(f)s is not valid.") % {"f": key}, code="bad_frame")
    return value


@db_call
def replay_page(conversation_id: int, after_seq: int, include_internal: bool) -> tuple[list[dict[str, Any]], bool, int]:
    """The messages after `after_seq`, whether more follow, and the seq the page is complete up to.

    Internal notes are read and then left out for visitors, so the page still says how far
    it reached (`through_seq`): the visitor's client counts the numbers it never gets.
    Sequence numbers commit in order (the conversation row is locked), so nothing below
    the last one read can still appear.
    """
    qs = Message.objects.filter(conversation_id=conversation_id, seq__gt=after_seq).select_related(
        "attachment", "sender_agent"
    )
    rows = list(qs.order_by("seq")[: PAGE_SIZE + 1])
    has_more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    through_seq = rows[-1].seq if rows else after_seq
    if not include_internal:
        rows = [m for m in rows if not m.is_internal]
    return [message_payload(m) for m in rows], has_more, through_seq


# --- In-process housekeeping (embedded default, no Celery beat) ---------------------------

_housekeeping: asyncio.Task | None = None


def ensure_housekeeping() -> None:
    """With KEFU_TASKS_MODE=thread nobody runs beat, so the server process does it."""
    global _housekeeping
    if settings.KEFU_TASKS_MODE != "thread":
        return
    if _housekeeping is not None and not _housekeeping.done():
        return
    _housekeeping = asyncio.get_running_loop().create_task(_housekeeping_loop())


async def _housekeeping_loop() -> None:
    from kefu import tasks

    schedule = [
        (tasks.route_all_queues, 30.0),
        (tasks.reassign_unanswered, 15.0),
        (tasks.close_inactive, 60.0),
        (tasks.presence_sweep, 30.0),
        (tasks.webhook_sweep, 10.0),  # retries when due: there is no broker to schedule them
    ]
    due = {task.name: time.monotonic() + period for task, period in schedule}
    while True:
        await asyncio.sleep(5)
        now = time.monotonic()
        for task, period in schedule:
            if now >= due[task.name]:
                due[task.name] = now + period
                try:
                    await db_call(task.apply)()
                except Exception:
                    logger.exception("housekeeping task %s failed", task.name)


class KefuConsumer(AsyncWebsocketConsumer):
    """Frame plumbing shared by the visitor and agent consumers."""

    bucket_capacity: ClassVar[float] = 20
    bucket_rate: ClassVar[float] = 10
    handlers: ClassVar[dict[str, str]] = {}
    include_internal: ClassVar[bool] = False

    async def __call__(self, scope: _ChannelScope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        """Channels' AsyncConsumer.__call__, with one long-lived reader per source.

        Channels waits on both sources with asyncio.wait and makes a new task for every
        message it receives (await_many_dispatch): about a tenth of a busy server's CPU.
        Here each source has a reader task for the socket's lifetime; a lock keeps
        dispatch one message at a time, as Channels does.
        """
        self.scope = scope
        layer = get_channel_layer(self.channel_layer_alias)
        if layer is None:
            raise ImproperlyConfigured("the sockets need a channel layer (CHANNEL_LAYERS)")
        self.channel_layer = layer
        self.channel_name = await layer.new_channel()
        self.channel_receive = functools.partial(layer.receive, self.channel_name)
        self.base_send = send
        one_at_a_time = asyncio.Lock()

        async def pump(source: Callable[[], Awaitable[Any]]) -> None:
            while True:
                message = await source()
                async with one_at_a_time:
                    await self.dispatch(message)

        readers = [asyncio.ensure_future(pump(receive)), asyncio.ensure_future(pump(self.channel_receive))]
        try:
            done, _pending = await asyncio.wait(readers, return_when=asyncio.FIRST_COMPLETED)
            for reader in done:
                reader.result()  # StopConsumer when the socket closed, or what went wrong
        except StopConsumer:
            pass
        finally:
            for reader in readers:
                reader.cancel()
            await asyncio.gather(*readers, return_exceptions=True)

    async def websocket_connect(self, message: WebSocketConnectEvent) -> None:
        # Needed for the in-memory layer; with Redis it also saves worker threads a new
        # event loop and Redis connection per broadcast (async_to_sync would make both).
        events.bind_server_loop(asyncio.get_running_loop())
        ensure_housekeeping()
        self.bucket = TokenBucket(self.bucket_capacity, self.bucket_rate)
        self.dropped = 0
        self.errors: deque[float] = deque()
        self.joined: set[str] = set()
        self._seen_ids: deque[str] = deque(maxlen=512)
        self._seen_set: set[str] = set()
        self.closing = False
        # Frames are handled by a worker task in arrival order, so a slow write never
        # holds up the dispatch loop that delivers channel-layer events to this socket.
        self._frames: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue(maxsize=MAX_QUEUED_FRAMES)
        self._worker = asyncio.get_running_loop().create_task(self._work())
        await super().websocket_connect(message)

    # --- channel layer outage: keep the socket, retry, and restore memberships afterwards.
    # Channels assigns `channel_receive` inside __call__; this property wraps whatever it
    # assigns, because an exception from the raw receive would kill the socket (1011).
    @property
    def channel_receive(self) -> Callable[[], Awaitable[Any]]:
        return self._resilient_receive

    @channel_receive.setter
    def channel_receive(self, value: Callable[[], Awaitable[Any]]) -> None:
        self._raw_channel_receive = value

    async def _resilient_receive(self) -> dict[str, Any]:
        failing = False
        while True:
            try:
                if failing:
                    # Redis may have restarted empty: memberships must be restored first.
                    for group in list(self.joined):
                        await self.channel_layer.group_add(group, self.channel_name)
                    failing = False
                return await self._raw_channel_receive()
            except _LAYER_OUTAGE:
                if self.closing:
                    raise
                if not failing:
                    logger.warning("channel layer receive failed; retrying", exc_info=True)
                failing = True
                await asyncio.sleep(1.0)

    # --- groups (tolerant of a channel layer outage: the database still has everything)
    async def join(self, group: str) -> None:
        self.joined.add(group)
        try:
            await self.channel_layer.group_add(group, self.channel_name)
        except Exception:
            logger.warning("group_add %s failed", group, exc_info=True)

    async def leave(self, group: str) -> None:
        self.joined.discard(group)
        try:
            await self.channel_layer.group_discard(group, self.channel_name)
        except Exception:
            logger.warning("group_discard %s failed", group, exc_info=True)

    async def rejoin_all(self) -> None:
        """Re-add memberships; Redis may have restarted and forgotten them."""
        for group in list(self.joined):
            try:
                await self.channel_layer.group_add(group, self.channel_name)
            except Exception:
                return

    async def websocket_disconnect(self, message: WebSocketDisconnectEvent) -> None:
        self.closing = True
        worker = getattr(self, "_worker", None)
        if worker is not None:
            worker.cancel()
        # Not super(): Channels would end with a hop to its sync thread to close DB
        # connections this event loop never opened (_run_db closes its own).
        await self.disconnect(message.get("code", 1000))
        raise StopConsumer()

    async def disconnect(self, code: int) -> None:
        for group in list(self.joined):
            await self.leave(group)

    # --- outgoing
    async def send_frame(self, frame: dict[str, Any]) -> None:
        if self.closing:
            return
        await self.send(text_data=dumps(frame))

    async def send_error(self, code: str, message: str = "", ref: object = None) -> None:
        await self.send_frame({"type": "error", "code": code, "message": message, "ref": ref})
        now = time.monotonic()
        self.errors.append(now)
        while self.errors and self.errors[0] < now - ERROR_WINDOW_SECONDS:
            self.errors.popleft()
        if len(self.errors) > MAX_ERRORS_IN_WINDOW:
            await self.close_with(CLOSE_FLOOD)

    async def close_with(self, code: int) -> None:
        if not self.closing:
            self.closing = True
            await self.close(code=code)

    def replay_message(self, message: dict[str, Any]) -> dict[str, Any]:
        """Hook: visitors need attachment links they can open (signed), agents do not."""
        return message

    async def send_replay(self, conversation_id: int, after_seq: int) -> None:
        """Everything after `after_seq`, in pages; the client asks again when has_more stays true."""
        for _page in range(MAX_REPLAY_PAGES):
            messages, has_more, through_seq = await replay_page(conversation_id, after_seq, self.include_internal)
            await self.send_frame(
                {
                    "type": "messages",
                    "conversation_id": conversation_id,
                    "messages": [self.replay_message(m) for m in messages],
                    "has_more": has_more,
                    "through_seq": through_seq,
                }
            )
            if not has_more or through_seq <= after_seq:
                return
            after_seq = through_seq

    # --- incoming
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.closing:
            return
        raw: str | bytes = text_data if text_data is not None else (bytes_data or b"")
        size = len(raw)
        if isinstance(raw, str) and size * 4 > MAX_FRAME_BYTES:
            size = len(raw.encode())
        if size > MAX_FRAME_BYTES:
            await self.send_frame({"type": "error", "code": "too_large", "message": _("Frame too large."), "ref": None})
            await self.close_with(CLOSE_TOO_LARGE)
            return
        if not self.bucket.take():
            self.dropped += 1
            if self.dropped == 1:
                await self.send_frame(
                    {"type": "error", "code": "rate_limited", "message": _("Slow down."), "ref": None}
                )
            if self.dropped > MAX_DROPPED_FRAMES:
                await self.close_with(CLOSE_FLOOD)
            return
        self.dropped = 0
        try:
            frame = orjson.loads(raw)
        except orjson.JSONDecodeError:
            await self.send_error("bad_json", _("The frame is not valid JSON."))
            return
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            await self.send_error("bad_frame", _("A frame is an object with a type."))
            return
        kind = frame["type"]
        method = self.handlers.get(kind)
        if method is None:
            await self.send_error("unknown_type", _("Unknown frame type."), ref=kind[:40])
            return
        try:
            self._frames.put_nowait((method, frame))
        except asyncio.QueueFull:
            await self.send_error("rate_limited", _("Slow down."), ref=kind)

    async def _work(self) -> None:
        while True:
            method, frame = await self._frames.get()
            if self.closing:
                return
            kind = frame["type"]
            ref = frame.get("client_msg_id") if isinstance(frame.get("client_msg_id"), str) else kind
            token = tracing.set_trace_id(tracing.new_trace_id())
            try:
                await getattr(self, method)(frame)
            except KefuError as exc:
                await self.send_error(exc.code, exc.message, ref=ref)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("frame %s failed", kind)
                try:
                    # "internal", not "invalid": the client may retry the same frame safely.
                    await self.send_error("internal", _("The frame could not be handled."), ref=ref)
                except Exception:
                    return  # the socket is gone
            finally:
                tracing.reset_trace_id(token)

    # --- channel-layer events
    async def dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("type", "")
        if not kind.startswith("kefu."):
            handler = getattr(self, get_handler_name(message), None)
            if handler is None:
                raise ValueError(f"No handler for message type {kind}")
            # Channels' dispatch first closes stale DB connections with a hop to its one
            # sync thread, for every frame; our database work runs in _run_db, which
            # does that itself on the thread that uses the connection.
            await handler(message)
            return
        eid = message.get("eid")
        if eid:
            if eid in self._seen_set:
                return
            if len(self._seen_ids) == self._seen_ids.maxlen:
                self._seen_set.discard(self._seen_ids[0])
            self._seen_ids.append(eid)
            self._seen_set.add(eid)
        try:
            await self.on_event(kind, message)
        except Exception:
            logger.exception("event %s failed", kind)

    async def on_event(self, kind: str, event: dict[str, Any]) -> None:
        raise NotImplementedError


def public_event_fields(event: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k not in ("type", "eid", "trace_id", "sender_channel")}
