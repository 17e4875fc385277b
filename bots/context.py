"""Prompt context: the last messages of a conversation, kept in the cache.

Each stored message is appended as it is committed, so assembling a prompt is one cache
read. A cache miss or a gap (the cache is behind the message that triggered the turn)
rebuilds from the database, which stays the source of truth.
"""

from __future__ import annotations

import orjson
from django.core.cache import cache

from bots.interface import ChatMessage
from kefu.models import Kind, Message, SenderType

KEEP = 40
TTL = 6 * 3600
_ROLES: dict[str, str] = {SenderType.VISITOR: "user", SenderType.BOT: "assistant", SenderType.AGENT: "assistant"}
_KINDS = {Kind.TEXT, Kind.RICH_TEXT, Kind.IMAGE, Kind.FILE, Kind.AUDIO}


def _key(conversation_id: int) -> str:
    return f"botctx:{conversation_id}"


def _entry(message: Message) -> list | None:
    if message.is_internal or message.sender_type not in _ROLES or message.kind not in _KINDS:
        return None
    text = message.body
    if message.kind in (Kind.IMAGE, Kind.FILE, Kind.AUDIO):
        text = f"[{message.kind}] {text}".strip()
    return [message.seq, _ROLES[message.sender_type], text]


def context_append(message: Message) -> None:
    entry = _entry(message)
    if entry is None:
        return
    raw = cache.get(_key(message.conversation_id))
    entries = orjson.loads(raw) if raw else []
    if entries and entries[-1][0] >= entry[0]:
        return  # already there (or the cache was rebuilt past it)
    entries.append(entry)
    cache.set(_key(message.conversation_id), orjson.dumps(entries[-KEEP:]), TTL)


def _rebuild(conversation_id: int) -> list[list]:
    rows = (
        Message.objects.filter(conversation_id=conversation_id, is_internal=False)
        .order_by("-seq")
        .only("seq", "sender_type", "kind", "body", "is_internal")[: KEEP * 2]
    )
    entries = [e for e in (_entry(m) for m in reversed(list(rows))) if e is not None][-KEEP:]
    cache.set(_key(conversation_id), orjson.dumps(entries), TTL)
    return entries


def context_for_prompt(*, conversation_id: int, up_to_seq: int, limit: int = 20) -> list[ChatMessage]:
    """The last `limit` messages up to and including `up_to_seq`, oldest first."""
    raw = cache.get(_key(conversation_id))
    entries = orjson.loads(raw) if raw else None
    if not entries or entries[-1][0] < up_to_seq:
        entries = _rebuild(conversation_id)
    selected = [e for e in entries if e[0] <= up_to_seq][-limit:]
    return [ChatMessage(role=role, content=text) for _seq, role, text in selected]
