"""Hook configuration and verdicts as plain data, shared by both transports.

The wire shape (JSON over HTTP; the same fields in protobuf over gRPC, see
bots/hooks/kefu_hooks.proto) is documented in docs/hooks.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

MAX_TEXT = 4000
MAX_CARDS = 5
MAX_FIELDS = 10
MAX_BUTTONS = 5


class HookPoint(StrEnum):
    ANSWER = "answer"  # asked beside the bot's own sources; may answer (text or cards)
    MESSAGE_IN = "message_in"  # a visitor message, before the bot sees it: allow, mask, block
    BEFORE_SEND = "before_send"  # a bot or agent reply, before the visitor sees it: allow, mask, block
    BEFORE_ASSIGN = "before_assign"  # a queued conversation: choose the team or agent
    ON_CLOSE = "on_close"  # a conversation closed: told, with the transcript


class Action(StrEnum):
    ALLOW = "allow"
    MASK = "mask"
    BLOCK = "block"


@dataclass(frozen=True)
class HookSpec:
    """One enabled hook of a tenant (bot_id None: every bot of the tenant)."""

    name: str
    url: str  # http(s)://... or grpc target host:port
    secret: str
    timeout: float
    point: str = HookPoint.ANSWER
    transport: str = "http"  # http | grpc
    fail_closed: bool = False
    keywords: tuple[str, ...] = ()
    bot_id: int | None = None
    hook_id: int = 0

    def wanted_for(self, question: str) -> bool:
        return not self.keywords or any(k and k.lower() in question.lower() for k in self.keywords)

    def applies_to(self, point: str, bot_id: int | None) -> bool:
        return self.point == point and (self.bot_id is None or self.bot_id == bot_id)


@dataclass(frozen=True)
class Button:
    label: str
    url: str = ""  # opens a link
    reply: str = ""  # or sends this text as the visitor


@dataclass(frozen=True)
class Card:
    title: str
    fields: tuple[tuple[str, str], ...] = ()
    buttons: tuple[Button, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "fields": [{"label": label, "value": value} for label, value in self.fields],
            "buttons": [
                {k: v for k, v in (("label", b.label), ("url", b.url), ("reply", b.reply)) if v} for b in self.buttons
            ],
        }


@dataclass(frozen=True)
class HookReply:
    """What a hook answered, already bounded and validated (see `parse_reply`)."""

    name: str
    action: str = Action.ALLOW
    text: str = ""  # the masked text (mask) or the answer (answer point)
    reason: str = ""
    score: float = 0.5
    title: str = ""
    cards: tuple[Card, ...] = ()
    team_id: int | None = None
    agent_id: int | None = None
    failed: bool = False  # no usable answer: timeout, error, bad reply
    error: str = ""

    @property
    def answer(self) -> str:
        return self.text


@dataclass
class HookCall:
    """What is sent to a hook: the same fields for every point (unused ones empty)."""

    point: str
    tenant_id: int
    conversation_id: int = 0
    bot_id: int | None = None
    sender: str = ""  # visitor | agent | bot
    kind: str = "text"
    text: str = ""
    visitor: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, str]] = field(default_factory=list)  # [{"role", "text"}], oldest first
    data: dict[str, Any] = field(default_factory=dict)  # point-specific extras (teams, agents, reason)

    def as_json(self) -> dict[str, Any]:
        return {
            "point": self.point,
            "tenant_id": self.tenant_id,
            "conversation_id": self.conversation_id,
            "bot_id": self.bot_id,
            "message": {"sender": self.sender, "kind": self.kind, "text": self.text},
            # Kept for hooks written against the first version, which read "question".
            "question": self.text if self.point == HookPoint.ANSWER else "",
            "visitor": self.visitor,
            "history": self.history,
            "data": self.data,
        }


def _text(value: Any, limit: int = MAX_TEXT) -> str:
    return str(value or "").strip()[:limit]


def _int_or_none(value: Any) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def parse_cards(raw: Any) -> tuple[Card, ...]:
    if not isinstance(raw, list):
        return ()
    cards = []
    for item in raw[:MAX_CARDS]:
        if not isinstance(item, dict) or not _text(item.get("title"), 200):
            continue
        fields = tuple(
            (_text(f.get("label"), 100), _text(f.get("value"), 500))
            for f in (item.get("fields") or [])[:MAX_FIELDS]
            if isinstance(f, dict) and _text(f.get("label"), 100)
        )
        buttons = []
        for b in (item.get("buttons") or [])[:MAX_BUTTONS]:
            if not isinstance(b, dict) or not _text(b.get("label"), 60):
                continue
            url = _text(b.get("url"), 1000)
            if url and not url.startswith(("https://", "http://")):
                url = ""  # javascript: and friends never reach a visitor's page
            reply = _text(b.get("reply"), 500)
            if url or reply:
                buttons.append(Button(label=_text(b.get("label"), 60), url=url, reply=reply))
        cards.append(Card(title=_text(item.get("title"), 200), fields=fields, buttons=tuple(buttons)))
    return tuple(cards)


def parse_reply(name: str, point: str, data: Any) -> HookReply:
    """A hook's JSON (or the protobuf reply turned into the same dict), bounded; a reply
    that makes no sense for its point is a failure, handled by the hook's failure mode."""
    if not isinstance(data, dict):
        return HookReply(name=name, failed=True, error="reply is not an object")
    action = str(data.get("action") or Action.ALLOW).lower()
    if action not in Action.__members__.values():
        return HookReply(name=name, failed=True, error=f"unknown action {action!r}")
    text = _text(data.get("text") if point != HookPoint.ANSWER else (data.get("answer") or data.get("text")))
    if action == Action.MASK and not text:
        return HookReply(name=name, failed=True, error="mask without text")
    try:
        score = max(0.0, min(float(data.get("score", 0.5)), 1.0))
    except (TypeError, ValueError):
        score = 0.5
    return HookReply(
        name=name,
        action=action,
        text=text,
        reason=_text(data.get("reason"), 300),
        score=score,
        title=_text(data.get("title") or name, 200),
        cards=parse_cards(data.get("cards")),
        team_id=_int_or_none(data.get("team_id")),
        agent_id=_int_or_none(data.get("agent_id")),
    )
