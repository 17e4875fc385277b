"""kb_answer: the best FAQ answer or passage with its source, or an honest "I don't know"."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext

from bots.knowledge import judge
from bots.knowledge.access import access_knowledge_bases
from bots.knowledge.search import Hit, search_knowledge_bases
from bots.knowledge.text import language_of
from kefu.models import Tenant

logger = logging.getLogger(__name__)

# An FAQ entry's confidence is P(it answers the question), from several signals weighed
# by a model each KB learns from its own FAQ (decide.py). Calibrated by bench.kb_quality
# over the development sets (the SaaS sample's queries and four domain sets; the blind
# travel set excluded), pooled: at 0.65 the answers shown are 94 % right and 1.9 % of
# out-of-scope questions get an answer, at the cost of coverage (26 % of answerable
# questions answered); 0.5 answers 39 % at 95 % right but 12.6 % of out-of-scope
# questions. The former coverage confidence at its threshold 0.20 answered 74 % of
# answerable questions, 74 % of them right, and 44 % of out-of-scope questions.
DEFAULT_THRESHOLD = 0.65
# Below the threshold, FAQ entries at least this likely are offered as "did you mean"
# suggestions (quick replies) beside the offer of a human. On the development sets at
# 0.20: for 174 of the 308 answerable questions that are not answered (56 %) the right
# entry is among the suggestions, 46 (15 %) get only wrong ones; 56 of 103 out-of-scope
# questions get suggestions too, which cost the visitor nothing but a glance.
SUGGEST_THRESHOLD = 0.20
MAX_SUGGESTIONS = 3
# Passages keep a lexical confidence (the share of the question's IDF mass they contain).
DEFAULT_PASSAGE_THRESHOLD = 0.20
# A curated FAQ answer beats a passage of similar strength.
FAQ_PREFERENCE = 0.1
MAX_PASSAGE_CHARS = 800
MAX_SOURCES = 3
# kb_answer chooses among this many fused hits.
ANSWER_CANDIDATES = 8


@dataclass(frozen=True)
class Answer:
    text: str
    sources: list[dict] = field(default_factory=list)
    confidence: float = 0.0
    matched: bool = False
    why: dict = field(default_factory=dict)  # see _explain
    suggestions: list[dict] = field(default_factory=list)  # "did you mean" FAQ entries: type, id, title


def answer_threshold() -> float:
    return float(getattr(settings, "KEFU_KB_ANSWER_THRESHOLD", DEFAULT_THRESHOLD))


def passage_threshold() -> float:
    return float(getattr(settings, "KEFU_KB_PASSAGE_THRESHOLD", DEFAULT_PASSAGE_THRESHOLD))


# The language a reply is written in for a question in each language ("zh" / "en").
REPLY_LANGUAGE = {"zh": "zh-hans", "en": "en"}


def _in(language: str | None) -> translation.override | nullcontext:
    """Write a reply in the question's language when it is known, else in the active one."""
    return translation.override(REPLY_LANGUAGE[language]) if language in REPLY_LANGUAGE else nullcontext()


def not_known_text(language: str | None = None) -> str:
    with _in(language):
        return gettext("Sorry, I don't know the answer to that. Shall I get a human agent for you?")


def suggestions_text(language: str | None = None) -> str:
    with _in(language):
        return gettext(
            "I'm not sure I understood. Did you mean one of these? If not, shall I get a human agent for you?"
        )


def _suggestions(hits: list[Hit], language: str | None) -> list[dict]:
    """Likely entries, each worded as the entry asks it in the question's language when it can."""
    out: list[dict] = []
    for hit in hits:
        if hit.type != "faq" or hit.confidence < SUGGEST_THRESHOLD:
            continue
        title = next((t for t in (hit.title, *hit.alternates) if language_of(t) == language), hit.title)
        if title not in {s["title"] for s in out}:
            out.append({"type": hit.type, "id": hit.id, "title": title})
    return out[:MAX_SUGGESTIONS]


def other_language_note(question_language: str, answer_language: str) -> str:
    """Said before an answer the KB has only in another language than the question's."""
    with _in(question_language):
        if answer_language == "zh":
            return gettext("This answer is only available in Chinese:")
        return gettext("This answer is only available in English:")


def _passage(text: str) -> str:
    text = text.strip()
    return text if len(text) <= MAX_PASSAGE_CHARS else text[: MAX_PASSAGE_CHARS - 1] + "…"


def _best(hits: list[Hit]) -> Hit:
    """The fused ranking decides within a kind; an FAQ entry beats a passage of similar confidence.

    (Choosing by confidence alone overrode the ranking: coverage ignores term frequency,
    length and the question/answer field weights, and on the query sets of
    bench.kb_quality it picked a lower-ranked, wrong entry for several questions.)
    """
    top_faq = next((h for h in hits if h.type == "faq"), None)
    top_chunk = next((h for h in hits if h.type != "faq"), None)
    if top_faq is None:
        return hits[0]
    if top_chunk is None or top_faq.confidence + FAQ_PREFERENCE >= top_chunk.confidence:
        return top_faq
    return top_chunk


def _brief(hit: Hit) -> dict:
    return {"type": hit.type, "id": hit.id, "title": hit.title, "confidence": round(hit.confidence, 4)}


def _explain(decision: str, threshold: float, best: Hit | None, runner_up: Hit | None = None) -> dict:
    """Why the bot answered or not: shown in the console's "try a question" box and stored
    with the bot's reply (message metadata)."""
    # The bar the best hit had to reach: FAQ entries by probability, passages by coverage.
    bar = passage_threshold() if best is not None and best.type != "faq" else threshold
    why: dict = {"decision": decision, "threshold": bar}
    if best is not None:
        why["best"] = _brief(best)
        why.update({k: v for k, v in (best.why or {}).items() if k in ("matched", "signals", "rankers", "model")})
    if runner_up is not None:
        why["runner_up"] = _brief(runner_up)
    return why


def _prefer_language(hits: list[Hit], language: str | None) -> list[Hit]:
    """An English question gets an English answer when a confident one exists (and a
    Chinese question a Chinese one): bilingual KBs often hold the same entry twice."""
    same = [h for h in hits if language_of(h.text) == language]
    return same or hits


def choose_answer(hits: list[Hit], threshold: float | None = None, *, question: str = "") -> Answer:
    threshold = answer_threshold() if threshold is None else threshold
    language = language_of(question) if question.strip() else None
    if not hits:
        return Answer(text=not_known_text(language), why=_explain("no_match", threshold, None))
    # Only confident hits compete: a noisy leg of the fusion (an embedding that ranks an
    # unrelated passage first) must not turn a confident keyword match into "don't know".
    bar = {"faq": threshold, "chunk": passage_threshold()}
    confident = [h for h in hits if h.confidence >= bar[h.type]]
    if not confident:
        best = _best(hits)
        why = _explain("below_threshold", threshold, best, next((h for h in hits if h is not best), None))
        suggestions = _suggestions(hits, language)
        if suggestions:
            why["suggestions"] = suggestions
        return Answer(
            text=suggestions_text(language) if suggestions else not_known_text(language),
            confidence=best.confidence,
            why=why,
            suggestions=suggestions,
        )
    best = _best(_prefer_language(confident, language))
    others = [h for h in confident if h is not best][: MAX_SOURCES - 1]
    text = best.text.strip() if best.type == "faq" else _passage(best.text)
    why = _explain("answered", threshold, best, next((h for h in hits if h is not best), None))
    answer_language = language_of(text)
    if language is not None and answer_language != language:
        text = f"{other_language_note(language, answer_language)}\n{text}"
        why["language_note"] = {"question": language, "answer": answer_language}
    return Answer(
        text=text,
        sources=[h.as_source() for h in [best, *others]],
        confidence=best.confidence,
        matched=True,
        why=why,
    )


def choose_checked(hits: list[Hit], verdict: judge.Verdict, question: str, threshold: float) -> Answer:
    """The answer-check model's choice among the candidates decides (judge.py)."""
    language = language_of(question) if question.strip() else None
    if verdict.choice is None:
        best = _best(hits)
        why = _explain("checked_none", threshold, best, next((h for h in hits if h is not best), None))
        return Answer(text=not_known_text(language), confidence=best.confidence, why=why)
    best = hits[verdict.choice]
    text = best.text.strip() if best.type == "faq" else _passage(best.text)
    why = _explain("checked", threshold, best, next((h for h in hits if h is not best), None))
    why["checked_rank"] = verdict.choice + 1  # where the keyword ranking had put it
    answer_language = language_of(text)
    if language is not None and answer_language != language:
        if verdict.translation:
            text = verdict.translation
            why["translated"] = {"question": language, "answer": answer_language}
        else:
            text = f"{other_language_note(language, answer_language)}\n{text}"
            why["language_note"] = {"question": language, "answer": answer_language}
    others = [h for h in hits if h is not best][: MAX_SOURCES - 1]
    return Answer(
        text=text,
        sources=[h.as_source() for h in [best, *others]],
        confidence=best.confidence,
        matched=True,
        why=why,
    )


def kb_answer(*, tenant: Tenant, knowledge_base_ids: Iterable[object], question: str) -> Answer:
    """Answer from the tenant's knowledge bases; matched=False when nothing answers the question.

    With an answer-check model on one of the KBs, the model picks among the best
    candidates (judge.py); without one, or when it fails, the calibrated threshold decides.
    """
    kbs = access_knowledge_bases(tenant=tenant, knowledge_base_ids=knowledge_base_ids)
    hits = search_knowledge_bases(kbs, question, k=ANSWER_CANDIDATES)
    config = judge.JudgeConfig.for_knowledge_bases(kbs)
    if config is not None and hits:
        try:
            verdict = judge.check(config, question, hits)
        except judge.JudgeError as exc:
            logger.warning("answer check failed, keyword decision instead: %s", exc)
        else:
            return choose_checked(hits[: judge.CANDIDATES], verdict, question, answer_threshold())
    return choose_answer(hits, question=question)
