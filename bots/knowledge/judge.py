"""An optional chat model that checks which retrieved entry or passage answers a question.

Keyword retrieval ranks; it cannot read. When a knowledge base names an OpenAI-compatible
chat model (`llm_base_url`, `llm_model`, `llm_api_key`), kb_answer shows it the question
and the best few hits and asks, in one non-streamed call, which of them answers the
question, if any, and for a hit in another language than the question's, a translation.
The model's choice then decides (a rerank over the candidates and the answer/"don't know"
decision in one); a model that fails, times out or replies with something unreadable
only costs that: the keyword decision answers as before.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import openai
from django.conf import settings

from bots.knowledge.search import Hit
from kefu import outbound

if TYPE_CHECKING:
    from bots.knowledge.models import KnowledgeBase

logger = logging.getLogger(__name__)

CANDIDATES = 5
TIMEOUT_SECONDS = 8.0
PASSAGE_CHARS = 600
_JSON = re.compile(r"\{.*\}", re.S)

PROMPT = (
    "You check a customer-service knowledge base. Given a customer's question and numbered "
    "candidate entries, decide which single candidate answers the question. A candidate on a "
    "related but different topic does not answer it. Reply with JSON only: "
    '{"answer": <the number of the candidate that answers the question, or null if none does>, '
    '"translation": <if the question is in another language than that candidate\'s answer, the '
    "answer translated into the question's language, else null>}"
)


class JudgeError(Exception):
    pass


@dataclass(frozen=True)
class JudgeConfig:
    base_url: str
    model: str
    api_key: str = ""

    @classmethod
    def for_knowledge_bases(cls, kbs: Sequence[KnowledgeBase]) -> JudgeConfig | None:
        """The first of the KBs that names a model (a bot's KBs belong to one tenant)."""
        for kb in kbs:
            if kb.has_answer_check:
                return cls(base_url=kb.llm_base_url, model=kb.llm_model, api_key=kb.llm_api_key)
        return None


@dataclass(frozen=True)
class Verdict:
    choice: int | None  # index into the candidates, None: none answers the question
    translation: str | None = None


_clients: dict[JudgeConfig, openai.OpenAI] = {}
_clients_lock = threading.Lock()


def _client(config: JudgeConfig) -> openai.OpenAI:
    with _clients_lock:
        client = _clients.get(config)
        if client is None:
            # Tenant admins choose the URL: the guarded client refuses private addresses
            # unless the operator allows them, checked again on every connection.
            try:
                outbound.check_url(config.base_url, allowlist=settings.KEFU_OUTBOUND_ALLOWLIST, resolve=False)
            except outbound.OutboundURLRefused as exc:
                raise JudgeError(str(exc)) from exc
            client = openai.OpenAI(
                base_url=config.base_url,
                api_key=config.api_key or "unused",
                timeout=TIMEOUT_SECONDS,
                max_retries=1,
                http_client=outbound.sync_client(allowlist=outbound.settings_allowlist, timeout=TIMEOUT_SECONDS),
            )
            _clients[config] = client
        return client


def prompt_for(question: str, hits: Sequence[Hit]) -> str:
    lines = [f"Question: {question.strip()}", ""]
    for number, hit in enumerate(hits, start=1):
        text = " ".join(hit.text.split())[:PASSAGE_CHARS]
        if hit.type == "faq":
            lines.append(f"[{number}] Q: {hit.title}\n    A: {text}")
        else:
            lines.append(f"[{number}] From {hit.title}: {text}")
    return "\n".join(lines)


def parse(content: str, candidates: int) -> Verdict:
    """The model's JSON reply; anything else is a JudgeError (the caller falls back)."""
    match = _JSON.search(content or "")
    if not match:
        raise JudgeError("no JSON object in the reply")
    try:
        data = json.loads(match.group(0))
    except ValueError as exc:
        raise JudgeError("unreadable JSON") from exc
    if not isinstance(data, dict):
        raise JudgeError("not an object")
    answer = data.get("answer")
    if answer is None:
        return Verdict(None)
    if isinstance(answer, bool) or not isinstance(answer, int | str) or not str(answer).strip().isdigit():
        raise JudgeError(f"answer is not a candidate number: {answer!r}")
    number = int(answer)
    if not 1 <= number <= candidates:
        raise JudgeError(f"answer {number} is not one of the {candidates} candidates")
    translation = data.get("translation")
    return Verdict(number - 1, translation.strip() if isinstance(translation, str) and translation.strip() else None)


class _Cache:
    """Visitors repeat questions: the same question over the same candidates is one call."""

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self.items: OrderedDict[tuple, Verdict] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple) -> Verdict | None:
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        return None

    def put(self, key: tuple, verdict: Verdict) -> None:
        with self.lock:
            self.items[key] = verdict
            while len(self.items) > self.size:
                self.items.popitem(last=False)


cache = _Cache()


def check(config: JudgeConfig, question: str, hits: Sequence[Hit]) -> Verdict:
    """Which of the hits (at most CANDIDATES) answers the question; JudgeError on any failure."""
    hits = list(hits[:CANDIDATES])
    key = (config, question, tuple((h.type, h.id) for h in hits))
    cached = cache.get(key)
    if cached is not None:
        return cached
    try:
        response = _client(config).chat.completions.create(
            model=config.model,
            messages=[{"role": "system", "content": PROMPT}, {"role": "user", "content": prompt_for(question, hits)}],
            temperature=0,
            stream=False,
        )
    except openai.OpenAIError as exc:
        raise JudgeError(str(exc)[:300]) from exc
    content = response.choices[0].message.content if response.choices else ""
    verdict = parse(content or "", len(hits))
    cache.put(key, verdict)
    return verdict
