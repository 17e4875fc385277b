"""kb_answer: the best FAQ answer or passage with its source, or an honest "I don't know"."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.utils.translation import gettext

from bots.knowledge.search import Hit, kb_search
from kefu.models import Tenant

# Confidence is the share of the question's weighted IDF mass the hit contains, a
# word counted by its best form (bm25.Bm25Index.coverage). Calibrated by bench.kb_quality
# over 115 answerable paraphrases (four query sets) and 24 questions the KB cannot
# answer. Since forms count once, a paraphrase covers more of its question and most
# confidences rose (median 0.24 -> 0.28; of the unanswerable questions 0.15 -> 0.19):
# 0.15 would now answer 15 of the 24 unanswerable questions. 0.20
# answers 11 of them, as 0.15 did before, and 79 paraphrases correctly with 6 wrong
# entries (0.15 before: 72 and 10); precision 0.82, recall 0.69. Lexical confidence
# still separates answerable from unanswerable questions only moderately (ROC AUC
# 0.76, was 0.70); 0.30 answers 2 of 24 unanswerable but only 48 % of paraphrases.
DEFAULT_THRESHOLD = 0.20
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


def answer_threshold() -> float:
    return float(getattr(settings, "KEFU_KB_ANSWER_THRESHOLD", DEFAULT_THRESHOLD))


def not_known_text() -> str:
    return gettext("Sorry, I don't know the answer to that. Shall I get a human agent for you?")


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


def choose_answer(hits: list[Hit], threshold: float | None = None) -> Answer:
    threshold = answer_threshold() if threshold is None else threshold
    if not hits:
        return Answer(text=not_known_text(), confidence=0.0, matched=False)
    # Only confident hits compete: a noisy leg of the fusion (an embedding that ranks an
    # unrelated passage first) must not turn a confident keyword match into "don't know".
    confident = [h for h in hits if h.confidence >= threshold]
    if not confident:
        return Answer(text=not_known_text(), sources=[], confidence=_best(hits).confidence, matched=False)
    best = _best(confident)
    others = [h for h in hits if h is not best and h.confidence >= threshold][: MAX_SOURCES - 1]
    text = best.text.strip() if best.type == "faq" else _passage(best.text)
    return Answer(text=text, sources=[h.as_source() for h in [best, *others]], confidence=best.confidence, matched=True)


def kb_answer(*, tenant: Tenant, knowledge_base_ids: Iterable[object], question: str) -> Answer:
    """Answer from the tenant's knowledge bases; matched=False below the confidence threshold."""
    hits = kb_search(tenant=tenant, knowledge_base_ids=knowledge_base_ids, query=question, k=ANSWER_CANDIDATES)
    return choose_answer(hits)
