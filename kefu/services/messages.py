"""Sending messages: one row per client message id, gap-free sequence numbers."""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models.signals import post_save, pre_save
from django.utils import timezone
from django.utils.translation import gettext as _

from kefu import events, signals, system_texts, tracing
from kefu.errors import Conflict, InvalidInput
from kefu.fastsql import column_field, pk_column
from kefu.models import Agent, Attachment, Conversation, Kind, Message, SenderType, Status
from kefu.payloads import api_message_payload, message_payload
from kefu.selectors import raw_rows
from kefu.services.text import clean_plain, clean_rich
from kefu.services.webhooks import webhook_emit

logger = logging.getLogger(__name__)

ATTACHMENT_KINDS = {Kind.IMAGE, Kind.AUDIO, Kind.FILE}
# Choices' .values builds a new list on every access: these run for every message.
_KINDS, _SENDERS = frozenset(Kind.values), frozenset(SenderType.values)


@dataclass(frozen=True)
class SendResult:
    message: Message
    created: bool


def _clean_body(kind: str, body: str, attachment: Attachment | None) -> str:
    if kind not in _KINDS:
        raise InvalidInput(_("Unknown message kind."), code="bad_kind")
    if kind in ATTACHMENT_KINDS:
        if attachment is None:
            raise InvalidInput(_("This kind of message needs an attachment."), code="attachment_required")
        return clean_plain(body, allow_empty=True)
    if attachment is not None:
        raise InvalidInput(_("Only image, audio and file messages carry attachments."), code="bad_attachment")
    if kind == Kind.RICH_TEXT:
        return clean_rich(body)
    return clean_plain(body)


def _clean(kind: str, body: str, attachment: Attachment | None) -> str:
    return _clean_body(kind, body, attachment) if kind != Kind.EVENT else clean_plain(body, allow_empty=True)


def _check_sender(sender_type: str, is_internal: bool, client_msg_id: str | None) -> str | None:
    """Refuse an impossible sender; the client message id as stored."""
    if sender_type not in _SENDERS:
        raise InvalidInput(_("Unknown sender."), code="bad_sender")
    if is_internal and sender_type not in (SenderType.AGENT, SenderType.SYSTEM):
        raise InvalidInput(_("Only agents write internal notes."), code="bad_internal")
    return (str(client_msg_id).strip()[:64] or None) if client_msg_id is not None else None


def message_send(
    *,
    conversation: Conversation,
    sender_type: str,
    body: str = "",
    kind: str = Kind.TEXT,
    client_msg_id: str | None = None,
    agent: Agent | None = None,
    attachment: Attachment | None = None,
    is_internal: bool = False,
    metadata: dict[str, Any] | None = None,
    authorize: Callable[[Conversation], None] | None = None,
) -> SendResult:
    """Store a message and schedule its delivery.

    The conversation row is locked, so the sequence number is the previous one plus one
    and a repeated client message id finds the row stored by the first attempt.
    `authorize` sees the locked row first and raises to refuse (nothing is written), so
    a caller needs no read of its own to check access.
    """
    client_msg_id = _check_sender(sender_type, is_internal, client_msg_id)
    if authorize is None:
        body = _clean(kind, body, attachment)

    with transaction.atomic():
        conv = _lock_conversation(conversation.pk)
        if authorize is not None:
            authorize(conv)  # before the body is judged, as a caller's own access check would be
            body = _clean(kind, body, attachment)
        # Where nothing can refuse the message (an open conversation, no attachment), the
        # duplicate check, the insert and the conversation update are one statement.
        fused = conv.status != Status.CLOSED and attachment is None and _can_fuse()
        if client_msg_id and not fused:
            existing = _find_by_client_id(conv.pk, client_msg_id)
            if existing is not None:
                existing.conversation = conv  # callers read the conversation's state off the result
                return SendResult(existing, False)
        if attachment is not None and (
            attachment.tenant_id != conv.tenant_id or (attachment.conversation_id not in (None, conv.pk))
        ):
            raise InvalidInput(_("That attachment does not belong to this conversation."), code="bad_attachment")

        old_status = conv.status
        if conv.status == Status.CLOSED and sender_type != SenderType.SYSTEM:
            if sender_type != SenderType.VISITOR:
                raise Conflict(_("The conversation is closed."), code="conversation_closed")
            _reopen_locked(conv)

        message, fields = _stage(
            conv,
            sender_type=sender_type,
            kind=kind,
            body=body,
            client_msg_id=client_msg_id,
            agent=agent,
            attachment=attachment,
            is_internal=is_internal,
            metadata=metadata,
            trace_id=tracing.get_trace_id(),
            now=timezone.now(),
        )
        if fused:
            if not _insert_and_update(message, conv, fields):
                # The client message id is taken: a retry. The row lock made the first
                # attempt commit before this statement ran, so the row is there.
                existing = _find_by_client_id(conv.pk, client_msg_id or "")
                if existing is None:  # cannot happen under the row lock; never ack a lost message
                    raise Conflict(_("The message could not be stored; send it again."), code="retry")
                existing.conversation = _lock_conversation(conv.pk)  # as stored, not as staged
                return SendResult(existing, False)
        else:
            _insert_message(message)
            _update_columns(conv, fields)
        if attachment is not None and attachment.conversation_id is None:
            attachment.conversation = conv
            attachment.save(update_fields=["conversation"])
        _announce(message, conv, old_status)
    return SendResult(message, True)


def _stage(
    conv: Conversation,
    *,
    sender_type: str,
    kind: str,
    body: str,
    client_msg_id: str | None,
    agent: Agent | None,
    attachment: Attachment | None,
    is_internal: bool,
    metadata: dict[str, Any] | None,
    trace_id: str,
    now: Any,
) -> tuple[Message, list[str]]:
    """The next message of the locked `conv`, and the conversation columns it changes."""
    conv.last_seq += 1
    message = Message(
        tenant_id=conv.tenant_id,
        conversation=conv,
        seq=conv.last_seq,
        client_msg_id=client_msg_id,
        sender_type=sender_type,
        sender_agent=agent,
        kind=kind,
        body=body,
        attachment=attachment,
        is_internal=is_internal,
        metadata=metadata or {},
        trace_id=trace_id,
    )
    fields = ["last_seq", "status", "closed_at"]
    if not is_internal and kind != Kind.EVENT:
        conv.last_message_at = now
        fields.append("last_message_at")
    if sender_type == SenderType.VISITOR:
        conv.last_visitor_message_at = now
        fields.append("last_visitor_message_at")
    if sender_type == SenderType.AGENT and not is_internal:
        if conv.first_response_at is None:
            conv.first_response_at = now
            fields.append("first_response_at")
        # Replying means having read; no receipt broadcast, the reply itself says so.
        conv.agent_read_seq = conv.last_seq
        fields.append("agent_read_seq")
    return message, fields


def _announce(message: Message, conv: Conversation, old_status: str) -> None:
    """After commit: the live event, the stored-message signal, a status change."""
    message.conversation = conv
    payload = message_payload(message)
    groups = events.message_groups(
        tenant_id=conv.tenant_id, conversation_id=conv.pk, assignee_id=conv.assignee_id, status=conv.status
    )
    events.broadcast_on_commit(
        groups,
        # assignee_id, team_id and inbox_id let agent sockets filter their list without a query.
        {
            "type": "kefu.message",
            "message": payload,
            "status": conv.status,
            "assignee_id": conv.assignee_id,
            "team_id": conv.team_id,
            "inbox_id": conv.inbox_id,
        },
    )
    signals.send_on_commit(signals.message_stored, sender=Message, message=message)
    webhook_emit(
        tenant_id=conv.tenant_id,
        event="message.created",
        data={
            "message": api_message_payload(message) if message.attachment_id else payload,
            "conversation": {"id": conv.pk, "status": conv.status, "channel": conv.channel},
        },
        lane=f"c{conv.pk}",
        internal=message.is_internal,
    )
    if old_status != conv.status:
        _announce_status(conv, old_status)


@dataclass(frozen=True)
class SendRequest:
    """One message for message_send_many: message_send's arguments, without attachments."""

    conversation_id: int
    sender_type: str
    body: str
    kind: str = Kind.TEXT
    client_msg_id: str | None = None
    agent: Agent | None = None
    is_internal: bool = False
    authorize: Callable[[Conversation], None] | None = None
    trace_id: str = ""


def message_send_many(requests: Sequence[SendRequest]) -> list[SendResult | Exception]:
    """message_send for the messages of many sockets at once (group commit).

    One transaction locks every conversation concerned in one statement and stores every
    message and conversation update in another, where each message alone took a
    transaction of its own. Each request gets what message_send would have given it:
    its SendResult, or the exception message_send would have raised.

    What the batch leaves to message_send, after it commits: a closed conversation (to
    reopen) and a client message id repeated within the batch, each with the later
    messages of its conversation, in order. If the batch fails as a whole (a retry whose
    id is already stored, a deadlock), every request is sent on its own: one message never
    fails another.
    """
    results: list[SendResult | Exception | None] = [None] * len(requests)
    later = list(range(len(requests)))
    if _can_fuse():
        try:
            later = _send_batch(requests, results)
        except Exception as exc:
            # A retry's id already stored is expected now and then; anything else is worth a look.
            retry = isinstance(exc, _ClientIdTaken)
            logger.log(
                logging.INFO if retry else logging.WARNING,
                "batch of %d messages not stored together; storing them one by one",
                len(requests),
                exc_info=not retry,
            )
            results = [None] * len(requests)
            later = list(range(len(requests)))
    for i in later:
        results[i] = _send_one(requests[i])
    return results  # type: ignore[return-value]


def _send_one(req: SendRequest) -> SendResult | Exception:
    token = tracing.set_trace_id(req.trace_id or tracing.get_trace_id())
    try:
        return message_send(
            conversation=Conversation(pk=req.conversation_id),
            sender_type=req.sender_type,
            body=req.body,
            kind=req.kind,
            client_msg_id=req.client_msg_id,
            agent=req.agent,
            is_internal=req.is_internal,
            authorize=req.authorize,
        )
    except Exception as exc:
        return exc
    finally:
        tracing.reset_trace_id(token)


class _ClientIdTaken(Exception):
    """A batched insert met a client message id stored before: the batch is rolled back."""


def _send_batch(requests: Sequence[SendRequest], results: list[SendResult | Exception | None]) -> list[int]:
    """Store what can be in one transaction; return the requests left over."""
    with transaction.atomic():
        return _stage_batch(requests, results)


def _stage_batch(requests: Sequence[SendRequest], results: list[SendResult | Exception | None]) -> list[int]:
    locked = {
        c.pk: c
        for c in raw_rows(
            Conversation,
            "id = ANY(%s)",
            [sorted({r.conversation_id for r in requests})],
            tail=_lock_tail(" ORDER BY id"),
        )
    }
    later: list[int] = []
    held: set[int] = set()  # conversations whose next messages wait for message_send
    taken: set[tuple[int, str]] = set()
    staged: list[tuple[int, Message]] = []
    changed: dict[int, Conversation] = {}
    fields: set[str] = set()
    now = timezone.now()
    for i, req in enumerate(requests):
        conv = locked.get(req.conversation_id)
        if conv is None:
            results[i] = Conversation.DoesNotExist(f"conversation {req.conversation_id}")
            continue
        try:
            client_msg_id = _check_sender(req.sender_type, req.is_internal, req.client_msg_id)
            if conv.pk in held or conv.status == Status.CLOSED or (conv.pk, client_msg_id) in taken:
                held.add(conv.pk)
                later.append(i)
                continue
            if req.authorize is not None:
                req.authorize(conv)
            body = _clean(req.kind, req.body, None)
        except Exception as exc:
            results[i] = exc
            continue
        if client_msg_id:
            taken.add((conv.pk, client_msg_id))
        message, columns = _stage(
            conv,
            sender_type=req.sender_type,
            kind=req.kind,
            body=body,
            client_msg_id=client_msg_id,
            agent=req.agent,
            attachment=None,
            is_internal=req.is_internal,
            metadata=None,
            trace_id=req.trace_id or tracing.get_trace_id(),
            now=now,
        )
        staged.append((i, message))
        changed[conv.pk] = conv
        fields.update(columns)
    if staged:
        _insert_many_and_update([m for _i, m in staged], list(changed.values()), sorted(fields))
    for i, message in staged:
        conv = changed[message.conversation_id]
        _announce(message, conv, conv.status)
        results[i] = SendResult(message, True)
    return later


def _insert_many_and_update(messages: list[Message], convs: list[Conversation], fields: list[str]) -> None:
    """PostgreSQL, one statement: every message, and every conversation's new columns.

    The rows travel as one array per column (unnest), so the statement's text is the
    same for any batch size and psycopg's parsed-query cache keeps it.

    The conversations are locked by the caller, so their other columns are as read and
    writing back the union of the changed columns changes nothing else. A client
    message id already stored skips its row (ON CONFLICT on the partial unique index);
    then the sequence numbers after it would leave a gap, so _ClientIdTaken rolls the
    batch back and message_send answers each message.
    """
    db = connections[DEFAULT_DB_ALIAS]
    key = ("many", *fields)
    plan = _sql_plans(db).get(key)
    if plan is None:
        qn = db.ops.quote_name
        insert_fields = _insert_fields()
        update_fields = [column_field(Conversation, name) for name in fields]
        columns = ", ".join(qn(f.column) for f in insert_fields)
        arrays = ", ".join(f"%s::{f.cast_db_type(db)}[]" for f in insert_fields)
        conv_id = qn(column_field(Message, "conversation").column)
        conv_table = qn(Conversation._meta.db_table)
        sets = ", ".join(f"{qn(f.column)} = v.{qn(f.column)}" for f in update_fields)
        names = ", ".join(["id", *(qn(f.column) for f in update_fields)])
        new_values = ", ".join(["%s::bigint[]", *(f"%s::{f.cast_db_type(db)}[]" for f in update_fields)])
        sql = (
            f"WITH m AS (INSERT INTO {qn(Message._meta.db_table)} ({columns}) SELECT * FROM unnest({arrays}) "  # noqa: S608
            f"{_skip_taken_client_id(db)} "
            f"RETURNING {qn(pk_column(Message))}, {conv_id}, {qn(column_field(Message, 'seq').column)}), "
            f"u AS (UPDATE {conv_table} SET {sets} FROM unnest({new_values}) AS v({names}) "
            f"WHERE {conv_table}.id = v.id) SELECT * FROM m"
        )
        plan = _sql_plans(db)[key] = (sql, [insert_fields, update_fields])
    sql, (insert_fields, update_fields) = plan
    params = [[f.get_db_prep_save(f.pre_save(m, True), db) for m in messages] for f in insert_fields]
    params.append([conv.pk for conv in convs])
    params += [[f.get_db_prep_save(getattr(conv, f.attname), db) for conv in convs] for f in update_fields]
    with db.cursor() as cursor:
        cursor.execute(sql, params)
        ids = {(conversation_id, seq): pk for pk, conversation_id, seq in cursor.fetchall()}
    if len(ids) != len(messages):
        raise _ClientIdTaken()
    for message in messages:
        message.pk = ids[(message.conversation_id, message.seq)]
        message._state.adding = False
        message._state.db = db.alias


# Every message, from visitors, agents and bots, runs the three statements below. They
# are written out because compiling the equivalent querysets cost more CPU than
# executing them (py-spy of message_send: SQL compilation about a third of its time).


def _lock_conversation(pk: int) -> Conversation:
    # NO KEY: writers still queue on the row, but inserts elsewhere that only reference
    # it (key-share locks) are not blocked, which avoids lock cycles with routing, which
    # locks the tenant row and then conversations. SQLite serializes writers instead.
    rows = raw_rows(Conversation, "id = %s", [pk], tail=_lock_tail())
    if not rows:
        raise Conversation.DoesNotExist(f"conversation {pk}")
    return rows[0]


def _lock_tail(order: str = "") -> str:
    return f"{order} FOR NO KEY UPDATE" if connections[DEFAULT_DB_ALIAS].features.has_select_for_update else order


def _find_by_client_id(conversation_id: int, client_msg_id: str) -> Message | None:
    rows = raw_rows(
        Message, "conversation_id = %s AND client_msg_id = %s", [conversation_id, client_msg_id], tail=" LIMIT 1"
    )
    return rows[0] if rows else None


def _update_columns(conv: Conversation, fields: list[str]) -> None:
    """conv.save(update_fields=fields) without the compiler (no signals listen to Conversation)."""
    db = connections[DEFAULT_DB_ALIAS]
    key = ("update", *fields)
    plan = _sql_plans(db).get(key)
    if plan is None:
        meta = Conversation._meta
        columns = [column_field(Conversation, name) for name in fields]
        assignments = ", ".join(f"{db.ops.quote_name(f.column)} = %s" for f in columns)
        sql = f"UPDATE {db.ops.quote_name(meta.db_table)} SET {assignments} WHERE id = %s"  # noqa: S608
        plan = _sql_plans(db)[key] = (sql, columns)
    sql, columns = plan
    params = [f.get_db_prep_save(getattr(conv, f.attname), db) for f in columns]
    with db.cursor() as cursor:
        cursor.execute(sql, [*params, conv.pk])


def _insert_message(message: Message) -> None:
    """Message.objects.create as one hand-written INSERT ... RETURNING id (compiling the
    ORM's insert was a tenth of the database thread's time per message).

    Values are prepared by the fields themselves, as the ORM does. The ORM is used when
    the database cannot return the id or a receiver listens to the model's save signals.
    """
    db = connections[DEFAULT_DB_ALIAS]
    if not db.features.can_return_columns_from_insert or (
        pre_save.has_listeners(Message) or post_save.has_listeners(Message)
    ):
        message.save(force_insert=True)
        return
    plan = _sql_plans(db).get(("insert",))
    if plan is None:
        insert, fields = _insert_statement(db)
        plan = _sql_plans(db)[("insert",)] = (
            f"{insert} RETURNING {db.ops.quote_name(pk_column(Message))}",
            fields,
        )
    sql, fields = plan
    values = [f.get_db_prep_save(f.pre_save(message, True), db) for f in fields]
    with db.cursor() as cursor:
        cursor.execute(sql, values)
        message.pk = cursor.fetchone()[0]
    message._state.adding = False
    message._state.db = db.alias


def _insert_fields() -> list[Any]:
    """Every column of a message but the id, which the database draws."""
    return [f for f in Message._meta.concrete_fields if not f.primary_key]


def _insert_statement(db: Any) -> tuple[str, list[Any]]:
    """INSERT INTO message (every column but the id) VALUES (...), and those fields."""
    fields = _insert_fields()
    columns = ", ".join(db.ops.quote_name(f.column) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    return f"INSERT INTO {db.ops.quote_name(Message._meta.db_table)} ({columns}) VALUES ({marks})", fields  # noqa: S608


def _skip_taken_client_id(db: Any) -> str:
    """The conflict clause on the partial unique index of (conversation, client message id)."""
    qn = db.ops.quote_name
    conv_id, client_id = (qn(column_field(Message, n).column) for n in ("conversation", "client_msg_id"))
    return f"ON CONFLICT ({conv_id}, {client_id}) WHERE {client_id} IS NOT NULL DO NOTHING"


def _can_fuse() -> bool:
    db = connections[DEFAULT_DB_ALIAS]
    return db.vendor == "postgresql" and not (pre_save.has_listeners(Message) or post_save.has_listeners(Message))


def _insert_and_update(message: Message, conv: Conversation, fields: list[str]) -> bool:
    """PostgreSQL: insert the message unless its client id is taken (ON CONFLICT on the
    partial unique index; it sees committed rows whatever the statement's snapshot) and,
    only if it was inserted, update the conversation; False for a taken id, which
    changes nothing. One round trip where three statements were."""
    db = connections[DEFAULT_DB_ALIAS]
    key = ("fused", *fields)
    plan = _sql_plans(db).get(key)
    if plan is None:
        qn = db.ops.quote_name
        insert, insert_fields = _insert_statement(db)
        update_fields = [column_field(Conversation, name) for name in fields]
        conv_table, pk = qn(Conversation._meta.db_table), qn(pk_column(Message))
        sets = ", ".join(f"{qn(f.column)} = %s" for f in update_fields)
        skip = f"{_skip_taken_client_id(db)} RETURNING {pk} AS id"
        update = f"UPDATE {conv_table} SET {sets} WHERE id = %s AND EXISTS (SELECT 1 FROM m)"  # noqa: S608
        sql = f"WITH m AS ({insert} {skip}), u AS ({update}) SELECT id FROM m"  # noqa: S608
        plan = _sql_plans(db)[key] = (sql, [insert_fields, update_fields])
    sql, (insert_fields, update_fields) = plan
    params = [f.get_db_prep_save(f.pre_save(message, True), db) for f in insert_fields]
    params += [f.get_db_prep_save(getattr(conv, f.attname), db) for f in update_fields]
    with db.cursor() as cursor:
        cursor.execute(sql, [*params, conv.pk])
        row = cursor.fetchone()
    if row is None:
        return False
    message.pk = row[0]
    message._state.adding = False
    message._state.db = db.alias
    return True


# Statements above, written once per connection object (quoting is the backend's).
_plans: weakref.WeakKeyDictionary[Any, dict[tuple[str, ...], tuple[str, list[Any]]]] = weakref.WeakKeyDictionary()


def _sql_plans(db: Any) -> dict[tuple[str, ...], tuple[str, list[Any]]]:
    plans = _plans.get(db)
    if plans is None:
        plans = _plans[db] = {}
    return plans


def _reopen_locked(conv: Conversation) -> None:
    """Reopen inside the caller's transaction; the partial unique index guards races."""
    if (
        Conversation.objects.filter(visitor_id=conv.visitor_id, inbox_id=conv.inbox_id)
        .exclude(status=Status.CLOSED)
        .exists()
    ):
        raise Conflict(_("The visitor already has an open conversation in this inbox."), code="already_open")
    assignee = conv.assignee
    if assignee is not None and assignee.is_active:
        conv.status = Status.ASSIGNED
    else:
        conv.status = Status.QUEUED
        conv.assignee = None
    conv.closed_at = None
    conv.save(update_fields=["status", "assignee", "closed_at"])


def _announce_status(conv: Conversation, old_status: str) -> None:
    """Inside the change's transaction (the webhook is recorded with it); the signal after."""
    webhook_emit(
        tenant_id=conv.tenant_id,
        event="conversation.status_changed",
        data={"conversation_id": conv.pk, "old_status": old_status, "new_status": conv.status},
        lane=f"c{conv.pk}",
    )
    signals.send_on_commit(
        signals.conversation_status_changed,
        sender=Conversation,
        conversation=conv,
        old_status=old_status,
        new_status=conv.status,
    )


def system_event(
    *,
    conversation: Conversation,
    event: str,
    code: str | None = None,
    params: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
) -> Message:
    """A visible event line (assigned, transferred, closed...), stored as a system text.

    `code` (default: the event) and `params` say it in any language (kefu/system_texts.py);
    `data` is kept for machines (ids, the transfer note) and never shown to visitors.
    """
    code = code or event
    return message_send(
        conversation=conversation,
        sender_type=SenderType.SYSTEM,
        kind=Kind.EVENT,
        body=system_texts.render(code, params),
        metadata=system_texts.metadata(code, params, event=event, **(data or {})),
    ).message
