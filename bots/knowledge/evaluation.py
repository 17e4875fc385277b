"""Answer-quality evaluation of a FAQ set, in memory (no database): ranking and answer decisions.

A set is `{"faq": [{"id", "q", "a", "alternates"?}], "queries": [{"q", "expect"}]}`;
`expect` is an entry id, or null for a question the FAQ does not answer. The index is
built exactly as the product builds a knowledge base's (index.build_faq_index) and
each question goes through the product's search and answer decision, so the figures
are those a visitor would see. Used by bench.kb_quality, the quality floors in the
test suite and `manage.py kb_eval`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from bots.knowledge import judge
from bots.knowledge.answer import ANSWER_CANDIDATES, answer_threshold, choose_answer, choose_checked
from bots.knowledge.index import KbIndex, build_chunk_index, build_faq_index
from bots.knowledge.search import search_indexes
from bots.knowledge.text import language_of


@dataclass(frozen=True)
class Outcome:
    q: str
    expect: str | None
    lang: str
    rank: int | None  # of the expected entry in the ranking (1 = first), None when absent
    answer: str | None  # the entry the bot would show, None for "don't know"
    confidence: float
    by_threshold: dict[float, str | None] = field(default_factory=dict)  # the answer at other thresholds
    suggested: tuple[str, ...] = ()  # "did you mean" entries offered instead of an answer


def build_index(faq: list[dict[str, Any]], *, kb_id: int = 1) -> tuple[KbIndex, dict[int, str]]:
    """An in-memory index of a set's FAQ entries; positions are the entry ids' keys."""
    ids = list(range(1, len(faq) + 1))
    faqs = build_faq_index(
        [item["q"] for item in faq],
        [list(item.get("alternates") or []) for item in faq],
        [item["a"] for item in faq],
        ids,
        [None] * len(faq),
    )
    chunks = build_chunk_index([], [], [], [], [], [])
    return KbIndex(0, kb_id, 0, time.monotonic(), faqs, chunks), {
        i: str(item["id"]) for i, item in zip(ids, faq, strict=True)
    }


def run(
    data: dict[str, Any],
    *,
    answer: Callable[..., Any] = choose_answer,
    thresholds: Iterable[float] = (),
    check: judge.JudgeConfig | None = None,
) -> list[Outcome]:
    """Each question through search and the answer decision (at the product's threshold,
    and at each of `thresholds` for calibration tables); with `check`, the answer-check
    model decides as in kb_answer (a failed check falls back to the threshold)."""
    index, names = build_index(data["faq"])
    thresholds = tuple(thresholds)

    def shown(hits: list, threshold: float | None, question: str) -> tuple[str | None, float, tuple[str, ...]]:
        chosen = answer(hits, threshold, question=question)
        best = names.get(chosen.sources[0]["id"]) if chosen.matched and chosen.sources else None
        return best, chosen.confidence, tuple(names[s["id"]] for s in getattr(chosen, "suggestions", []))

    rows = []
    for query in data["queries"]:
        hits = search_indexes([index], query["q"], k=len(names))
        ranking = [names[h.id] for h in hits if h.type == "faq"]
        expect = query.get("expect")
        rank = ranking.index(expect) + 1 if expect in ranking else None
        top = hits[:ANSWER_CANDIDATES]
        best, confidence, suggested = shown(top, None, query["q"])
        if check is not None:
            try:
                verdict = judge.check(check, query["q"], top)
            except judge.JudgeError:
                pass
            else:
                chosen = choose_checked(top[: judge.CANDIDATES], verdict, query["q"], answer_threshold())
                best = names.get(chosen.sources[0]["id"]) if chosen.matched else None
                suggested = ()
        by_threshold = {t: shown(top, t, query["q"])[0] for t in thresholds}
        rows.append(
            Outcome(query["q"], expect, language_of(query["q"]), rank, best, confidence, by_threshold, suggested)
        )
    return rows


def figures(rows: list[Outcome]) -> dict[str, Any]:
    """hit@k over answerable questions; what the bot shows: correct share, coverage, out-of-scope answered."""
    answerable = [r for r in rows if r.expect is not None]
    unanswerable = [r for r in rows if r.expect is None]
    n = len(answerable) or 1
    answered = [r for r in answerable if r.answer is not None]
    correct = sum(1 for r in answered if r.answer == r.expect)
    oos_answered = sum(1 for r in unanswerable if r.answer is not None)
    shown = len(answered) + oos_answered
    unanswered = [r for r in answerable if r.answer is None]
    result: dict[str, Any] = {
        "answerable": len(answerable),
        "out_of_scope": len(unanswerable),
        "hit@1": round(sum(1 for r in answerable if r.rank == 1) / n, 3),
        "hit@3": round(sum(1 for r in answerable if r.rank is not None and r.rank <= 3) / n, 3),
        # The ceiling of an answer check over the candidates it is shown: a perfect one
        # answers exactly these questions right and no out-of-scope question.
        "hit@5": round(sum(1 for r in answerable if r.rank is not None and r.rank <= judge.CANDIDATES) / n, 3),
        "mrr": round(sum(1.0 / r.rank for r in answerable if r.rank) / n, 3),
        # Of the answers shown to answerable questions, the share that is the right entry.
        "answered_correct": round(correct / len(answered), 3) if answered else None,
        # Of all answers shown (out-of-scope questions included), the share that is right.
        "shown_correct": round(correct / shown, 3) if shown else None,
        "coverage": round(len(answered) / n, 3),
        "correct_answers": correct,
        "wrong_answers": len(answered) - correct,
        "out_of_scope_answered": oos_answered,
        # Not answered, but the right entry is among the "did you mean" suggestions.
        "suggested_right": sum(1 for r in unanswered if r.expect in r.suggested),
        "suggested_wrong": sum(1 for r in unanswered if r.suggested and r.expect not in r.suggested),
        "out_of_scope_suggested": sum(1 for r in unanswerable if r.answer is None and r.suggested),
        # Answered right, or the right entry offered: the visitor's question is settled without a human.
        "self_service": round((correct + sum(1 for r in unanswered if r.expect in r.suggested)) / n, 3),
        "out_of_scope_answered_share": round(oos_answered / len(unanswerable), 3) if unanswerable else None,
    }
    for lang in ("zh", "en"):
        part = [r for r in answerable if r.lang == lang]
        if part:
            result[f"hit@1_{lang}"] = round(sum(1 for r in part if r.rank == 1) / len(part), 3)
            result[f"n_{lang}"] = len(part)
    return result
