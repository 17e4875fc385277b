"""Turn middlewares: per-tenant chain run on the visitor's text before a provider sees it,
and on the bot's text before the visitor sees it.

Built-ins: language detection, intent detection (rule-based by default, injectable),
sensitive-word masking (input and output) and PII masking (input only, because only the
input leaves for a third-party provider). Third parties add middlewares through the
`kefu.middlewares` entry-point group; entries are classes taking keyword options.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

WORDS_FILE = Path(__file__).resolve().parent / "data" / "sensitive_words.txt"
MASK = "***"
ENTRY_POINT_GROUP = "kefu.middlewares"


@dataclass
class Turn:
    """The visitor's text on its way to a provider, with what the middlewares learned about it."""

    original: str
    text: str
    language: str = ""
    intent: str = ""
    flags: set[str] = field(default_factory=set)
    data: dict[str, Any] = field(default_factory=dict)


class TurnMiddleware:
    name = ""

    def process_input(self, turn: Turn) -> Turn:
        return turn

    def process_output(self, text: str, turn: Turn) -> str:
        return text

    def output_holdback(self) -> int:
        """Characters a streaming filter must hold back so a match split across deltas is still caught."""
        return 0


# --- language ---

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")


def detect_language(text: str) -> str:
    """'zh' or 'en' by character classes; '' when the text has neither (emoji, digits)."""
    cjk = len(_CJK.findall(text))
    latin = len(_LATIN.findall(text))
    if cjk == 0 and latin == 0:
        return ""
    # An English word is ~5 letters and carries about as much as 1-2 Chinese characters.
    return "zh" if cjk * 3 >= latin else "en"


class LanguageMiddleware(TurnMiddleware):
    name = "language"

    def __init__(self, default: str = "") -> None:
        self.default = default

    def process_input(self, turn: Turn) -> Turn:
        turn.language = detect_language(turn.original) or self.default
        return turn


# --- intent ---

HUMAN_WORDS = (
    "转人工",
    "人工客服",
    "人工服务",
    "找人工",
    "真人",
    "人工",
    "客服",
    "human",
    "agent",
    "real person",
    "operator",
    "representative",
    "talk to someone",
)
COMPLAINT_WORDS = (
    "投诉",
    "举报",
    "差评",
    "太差",
    "骗子",
    "坑人",
    "12315",
    "complain",
    "complaint",
    "terrible",
    "scam",
    "unacceptable",
)
GREETING_WORDS = (
    "你好",
    "您好",
    "在吗",
    "在不在",
    "哈喽",
    "嗨",
    "hi",
    "hello",
    "hey",
    "good morning",
    "good afternoon",
    "good evening",
)


def _word_pattern(words: Iterable[str]) -> re.Pattern[str]:
    parts = []
    for word in sorted(set(words), key=len, reverse=True):
        escaped = re.escape(word)
        # ASCII words need boundaries: "hi" is not in "this", "agent" is not in "user-agent".
        parts.append(rf"(?<![A-Za-z-]){escaped}(?![A-Za-z-])" if word.isascii() else escaped)
    return re.compile("|".join(parts), re.IGNORECASE)


_HUMAN = _word_pattern(HUMAN_WORDS)
_COMPLAINT = _word_pattern(COMPLAINT_WORDS)
_GREETING = _word_pattern(GREETING_WORDS)
_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)


def detect_intent(text: str) -> str:
    """'human', 'complaint', 'greeting' or '' (a question for the bot)."""
    if _HUMAN.search(text):
        return "human"
    if _COMPLAINT.search(text):
        return "complaint"
    match = _GREETING.search(text)
    # Only a bare greeting is a greeting; "hi, where is my order?" is a question.
    if match and len(_PUNCT.sub("", text)) <= len(_PUNCT.sub("", match.group(0))) + 6:
        return "greeting"
    return ""


class IntentMiddleware(TurnMiddleware):
    name = "intent"

    def __init__(self, detector: Callable[[str], str | None] | None = None) -> None:
        self.detector = detector or detect_intent

    def process_input(self, turn: Turn) -> Turn:
        turn.intent = self.detector(turn.original) or ""
        return turn


# --- sensitive words ---


def load_words(path: Path = WORDS_FILE) -> tuple[str, ...]:
    words = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            words.append(line)
    return tuple(words)


@functools.lru_cache(maxsize=256)
def _compile_words(words: frozenset[str]) -> re.Pattern[str] | None:
    if not words:
        return None
    # Longest first so "他妈的" wins over "妈的"; one alternation is scanned in a single pass.
    return re.compile("|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)), re.IGNORECASE)


@functools.lru_cache(maxsize=1)
def _default_words() -> tuple[str, ...]:
    return load_words()


class SensitiveWordsMiddleware(TurnMiddleware):
    name = "sensitive_words"

    def __init__(self, extra_words: Sequence[str] = (), *, use_default_list: bool = True) -> None:
        words = set(_default_words()) if use_default_list else set()
        words.update(w.strip() for w in extra_words if w.strip())
        self.pattern = _compile_words(frozenset(words))
        self.longest = max((len(w) for w in words), default=0)

    def mask(self, text: str) -> tuple[str, int]:
        if self.pattern is None:
            return text, 0
        return self.pattern.subn(MASK, text)

    def process_input(self, turn: Turn) -> Turn:
        turn.text, count = self.mask(turn.text)
        if count:
            turn.flags.add("sensitive_input")
        return turn

    def process_output(self, text: str, turn: Turn) -> str:
        return self.mask(text)[0]

    def output_holdback(self) -> int:
        return max(0, self.longest - 1)


# --- PII ---


def _luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_ID_CARD = re.compile(
    r"(?<![0-9A-Za-z])[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx]"
    r"(?![0-9A-Za-z])"
)
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
# Not glued to a longer digit group on either side, so a spaced bank card is not read as a phone.
_CN_MOBILE = re.compile(r"(?<![\d+])(?<!\d[- ])(?:\+?86[- ]?)?1[3-9]\d(?:[- ]?\d{4}){2}(?![- ]?\d)")
_PHONE = re.compile(
    r"(?<![\w+])(?:\+\d{1,3}[- ]?)?(?:\(\d{2,4}\)[- ]?|0\d{2,3}-)?\d{3,4}[- ]\d{4}(?!\d)"
    r"|(?<![\w])\+\d{1,3}[- ]?\d{6,12}(?!\d)|(?<!\d)0\d{2,3}-\d{7,8}(?!\d)"
)


def _mask_cards(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return "[CARD]" if 13 <= len(digits) <= 19 and _luhn_ok(digits) else match.group(0)


def mask_pii(text: str) -> tuple[str, int]:
    count = 0
    for pattern, replacement in ((_EMAIL, "[EMAIL]"), (_ID_CARD, "[ID]"), (_CN_MOBILE, "[PHONE]")):
        text, n = pattern.subn(replacement, text)
        count += n
    masked = _CARD.sub(_mask_cards, text)
    count += masked.count("[CARD]") - text.count("[CARD]")
    text = masked
    text, n = _PHONE.subn("[PHONE]", text)
    count += n
    return text, count


class PIIMaskMiddleware(TurnMiddleware):
    name = "pii_mask"

    def process_input(self, turn: Turn) -> Turn:
        turn.text, count = mask_pii(turn.text)
        if count:
            turn.flags.add("pii_masked")
        return turn


# --- chain ---

BUILTINS: dict[str, type[TurnMiddleware]] = {
    cls.name: cls for cls in (LanguageMiddleware, IntentMiddleware, SensitiveWordsMiddleware, PIIMaskMiddleware)
}
# Detection reads the original text, so order only matters among the rewriting steps.
DEFAULT_CHAIN = ("language", "intent", "sensitive_words", "pii_mask")


def middleware_class(name: str) -> type[TurnMiddleware]:
    if name in BUILTINS:
        return BUILTINS[name]
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            return ep.load()
    raise KeyError(f"unknown middleware {name!r}")


class StreamingOutputFilter:
    """Applies output middlewares to streamed deltas, holding back just enough text to catch split words."""

    def __init__(self, chain: MiddlewareChain, turn: Turn) -> None:
        self.chain = chain
        self.turn = turn
        self.holdback = max((m.output_holdback() for m in chain.middlewares), default=0)
        self._pending = ""

    def push(self, delta: str) -> str:
        self._pending += delta
        if len(self._pending) <= self.holdback:
            return ""
        cut = len(self._pending) - self.holdback
        # Never cut inside a match: filter the whole buffer and emit only what lies before the cut.
        cut = self._safe_cut(cut)
        head, self._pending = self._pending[:cut], self._pending[cut:]
        return self.chain.run_output(head, self.turn)

    def _safe_cut(self, cut: int) -> int:
        for middleware in self.chain.middlewares:
            pattern = getattr(middleware, "pattern", None)
            if pattern is None:
                continue
            for match in pattern.finditer(self._pending):
                if match.start() < cut < match.end():
                    cut = match.end()
        return cut

    def flush(self) -> str:
        tail, self._pending = self._pending, ""
        return self.chain.run_output(tail, self.turn) if tail else ""


class MiddlewareChain:
    def __init__(self, middlewares: Sequence[TurnMiddleware]) -> None:
        self.middlewares = list(middlewares)

    def run_input(self, text: str) -> Turn:
        turn = Turn(original=text, text=text)
        for middleware in self.middlewares:
            turn = middleware.process_input(turn)
        return turn

    def run_output(self, text: str, turn: Turn) -> str:
        for middleware in reversed(self.middlewares):
            text = middleware.process_output(text, turn)
        return text

    def output_filter(self, turn: Turn) -> StreamingOutputFilter:
        return StreamingOutputFilter(self, turn)


def build_chain(
    names: Sequence[str] | None = None, options: dict[str, dict[str, Any]] | None = None
) -> MiddlewareChain:
    """A tenant's chain: `names` in order (None = the default chain), `options` keyword arguments per name."""
    options = options or {}
    chosen = DEFAULT_CHAIN if names is None else names
    return MiddlewareChain([middleware_class(name)(**options.get(name, {})) for name in chosen])
