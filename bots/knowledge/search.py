"""Retrieval: BM25 over FAQ entries and chunks, vector search when configured, fused by RRF."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from bots.knowledge import decide
from bots.knowledge.access import access_knowledge_bases
from bots.knowledge.embeddings import EmbeddingConfig, EmbeddingError, embed_query
from bots.knowledge.index import FaqIndex, KbIndex, get_indexes
from bots.knowledge.models import KnowledgeBase
from bots.knowledge.text import PINYIN, query_terms, query_units, without_unigrams
from kefu.models import Tenant

logger = logging.getLogger(__name__)

RRF_K = 60
# Field weights for FAQ entries: the question (and its alternates) says what the
# entry is about; the answer only corroborates.
QUESTION_WEIGHT = 1.0
ANSWER_WEIGHT = 0.5
CANDIDATES = 20
# Ablation switch for bench.kb_quality (always on in the product): off, every form of
# a question word adds up, as before (an exact word counted three to five times).
FORMS_COUNT_ONCE = True
# The best keyword FAQ entries get a calibrated probability (decide.py) as their confidence.
CALIBRATED = 8
# Ablation switch for bench.kb_quality (always on in the product): off, an FAQ entry's
# confidence is its lexical coverage alone, as before (answer threshold 0.20).
CALIBRATED_CONFIDENCE = True
SNIPPET_CHARS = 160
SURFACE = ("!", "#")  # character and bigram units


@dataclass(frozen=True)
class Hit:
    type: str  # "faq" or "chunk"
    id: int
    knowledge_base_id: int
    title: str
    text: str
    score: float  # the fused rank score; comparable within one result list only
    confidence: float  # 0..1: FAQ: P(it answers the question); passage: share of the question it contains
    why: dict | None = None  # what made it rank: rankers, matched words, signals (shown in the console)
    alternates: tuple[str, ...] = ()  # an FAQ entry's other ways to ask

    @property
    def snippet(self) -> str:
        text = " ".join(self.text.split())
        return text if len(text) <= SNIPPET_CHARS else text[: SNIPPET_CHARS - 1] + "…"

    def as_source(self) -> dict:
        return {
            "type": self.type,
            "id": self.id,
            "title": self.title,
            "score": round(self.score, 4),
            "confidence": round(self.confidence, 4),
            "snippet": self.snippet,
        }


def rrf(rankings: Iterable[list[tuple[str, int]]], k: int = RRF_K) -> dict[tuple[str, int], float]:
    """Reciprocal rank fusion: each list adds 1/(k + rank) to the items it contains."""
    fused: dict[tuple[str, int], float] = {}
    for ranking in rankings:
        for rank, key in enumerate(ranking, start=1):
            fused[key] = fused.get(key, 0.0) + 1.0 / (k + rank)
    return fused


def similarity_confidence(similarity: float) -> float:
    """Map cosine similarity to 0..1; below 0.5 an embedding match means little."""
    return float(min(1.0, max(0.0, (similarity - 0.5) / 0.4)))


def faq_scores(faqs: FaqIndex, units: list[dict[str, float]]) -> np.ndarray:
    """Each FAQ entry's score: per unit of the question (text.query_units), the best of
    its forms, field-weighted BM25 times the form's query weight; summed over units."""
    vocab = list(dict.fromkeys(t for unit in units for t in unit))
    if not vocab or not faqs.ids:
        return np.zeros(len(faqs.ids), dtype=np.float32)
    row = {t: i for i, t in enumerate(vocab)}
    per_term = QUESTION_WEIGHT * faqs.question_index.term_scores(vocab)
    per_term += ANSWER_WEIGHT * faqs.answer_index.term_scores(vocab)
    scores = np.zeros(len(faqs.ids), dtype=np.float32)
    for unit in units:
        weighted = per_term[[row[t] for t in unit]] * np.asarray(list(unit.values()), dtype=np.float32)[:, None]
        scores += weighted.max(axis=0) if FORMS_COUNT_ONCE else weighted.sum(axis=0)
    return scores


def _for_this_kb(faqs: FaqIndex, units: list[dict[str, float]]) -> list[dict[str, float]]:
    """A question word the FAQ itself contains keeps no pinyin form: the pinyin is for typos
    and pinyin initials, and would otherwise let the word meet its homophones too."""
    out = []
    for unit in units:
        word = next(iter(unit))
        if word[:1] not in SURFACE and (word in faqs.question_index.vocab or word in faqs.answer_index.vocab):
            unit = {t: w for t, w in unit.items() if not t.startswith(PINYIN)}
        out.append(unit)
    return out


def _faq_keyword(
    index: KbIndex, terms: dict[str, float], units: list[dict[str, float]]
) -> tuple[list[int], dict[int, float], dict[int, dict]]:
    faqs = index.faqs
    if not faqs.ids or not terms:
        return [], {}, {}
    units = _for_this_kb(faqs, units)
    scores = faq_scores(faqs, units)
    nz = np.flatnonzero(scores)
    order = nz[np.argsort(-scores[nz], kind="stable")][:CANDIDATES]
    if not len(order):
        return [], {}, {}
    if not CALIBRATED_CONFIDENCE:
        cov_q = faqs.question_index.coverage(units, order)
        cov_a = faqs.answer_index.coverage(units, order)
        coverage = cov_q + 0.5 * (1 - cov_q) * cov_a
        return [int(i) for i in order], {int(i): float(c) for i, c in zip(order, coverage, strict=True)}, {}
    # P(this entry answers the question) from several signals, weighed by the KB's own model.
    table = decide.Table.build(faqs.question_index, faqs.answer_index, units)
    confidence: dict[int, float] = {}
    why: dict[int, dict] = {}
    every = table.all_signals(table.question, table.answer)
    for i in order[:CALIBRATED]:
        signals = every[int(i)]
        confidence[int(i)] = faqs.model.probability(signals)
        why[int(i)] = {
            "matched": table.matched(int(i)),
            "signals": {name: round(float(v), 3) for name, v in zip(decide.FEATURES, signals, strict=True)},
            "model": "learned" if faqs.model.learned else "default",
        }
    return [int(i) for i in order], confidence, why


def _chunk_keyword(
    index: KbIndex, terms: dict[str, float], units: list[dict[str, float]]
) -> tuple[list[int], dict[int, float], dict[int, dict]]:
    chunks = index.chunks
    if not chunks.ids or not terms:
        return [], {}, {}
    # Passages are ranked by plain BM25 (one bincount keeps 100k chunks fast); their
    # confidence counts a word's forms once, like the FAQ entries'.
    passage_units = [u for u in ({t: w for t, w in unit.items() if not t.startswith("!")} for unit in units) if u]
    hits = chunks.index.search(without_unigrams(terms), CANDIDATES, units=passage_units)
    coverage = {int(i): float(c) for i, c in zip(hits.indices, hits.coverage, strict=True)}
    return [int(i) for i in hits.indices], coverage, {}


def _top_by_vector(vectors: np.ndarray, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    sims = vectors @ query
    k = min(k, len(sims))
    top = np.argpartition(-sims, k - 1)[:k] if k < len(sims) else np.arange(len(sims))
    top = top[np.argsort(-sims[top], kind="stable")]
    return top, sims[top]


def search_indexes(
    indexes: list[KbIndex], query: str, *, k: int = 5, query_vectors: dict[int, np.ndarray] | None = None
) -> list[Hit]:
    """Search prepared indexes; query_vectors maps kb id to the query's embedding."""
    terms = query_terms(query)
    units = query_units(query)
    rankings: list[list[tuple[str, int]]] = []
    confidence: dict[tuple[str, int], float] = {}
    located: dict[tuple[str, int], tuple[KbIndex, int]] = {}
    why: dict[tuple[str, int], dict] = {}

    def note(
        kind: str,
        index: KbIndex,
        positions: list[int],
        conf: dict[int, float],
        details: dict[int, dict] | None = None,
        ranker: str = "keyword",
    ) -> None:
        ids = index.faqs.ids if kind == "faq" else index.chunks.ids
        ranking = []
        for rank, pos in enumerate(positions, start=1):
            key = (kind, ids[pos])
            ranking.append(key)
            located[key] = (index, pos)
            confidence[key] = max(confidence.get(key, 0.0), conf.get(pos, 0.0))
            entry = why.setdefault(key, {"rankers": {}})
            entry["rankers"][ranker] = {"rank": rank, "confidence": round(conf.get(pos, 0.0), 4)}
            if details and pos in details:
                entry.update(details[pos])
        if ranking:
            rankings.append(ranking)

    for index in indexes:
        note("faq", index, *_faq_keyword(index, terms, units))
        note("chunk", index, *_chunk_keyword(index, terms, units))
        vector = (query_vectors or {}).get(index.kb_id)
        if vector is None:
            continue
        if index.faqs.vectors is not None and len(index.faqs.ids):
            top, sims = _top_by_vector(index.faqs.vectors, vector, CANDIDATES)
            note(
                "faq",
                index,
                [int(i) for i in top],
                {int(i): similarity_confidence(float(s)) for i, s in zip(top, sims, strict=True)},
                ranker="vector",
            )
        if index.chunks.vectors is not None and index.chunks.vector_rows is not None:
            top, sims = _top_by_vector(index.chunks.vectors, vector, CANDIDATES)
            rows = index.chunks.vector_rows[top]
            note(
                "chunk",
                index,
                [int(i) for i in rows],
                {int(r): similarity_confidence(float(s)) for r, s in zip(rows, sims, strict=True)},
                ranker="vector",
            )

    fused = rrf(rankings)
    ordered = sorted(fused, key=lambda key: (-fused[key], -confidence.get(key, 0.0), key[0] != "faq", key[1]))
    hits = []
    for key in ordered[:k]:
        index, pos = located[key]
        alternates: tuple[str, ...] = ()
        if key[0] == "faq":
            title, text = index.faqs.questions[pos], index.faqs.answers[pos]
            alternates = tuple(index.faqs.alternates[pos]) if index.faqs.alternates else ()
        else:
            title, text = index.chunks.titles[pos], index.chunks.texts[pos]
        hits.append(
            Hit(
                key[0],
                key[1],
                index.kb_id,
                title,
                text,
                fused[key],
                round(confidence.get(key, 0.0), 4),
                why.get(key),
                alternates,
            )
        )
    return hits


def query_vectors_for(kbs: list[KnowledgeBase], query: str) -> dict[int, np.ndarray]:
    """The query embedded once per distinct provider; a failing provider only costs recall."""
    vectors: dict[int, np.ndarray] = {}
    for kb in kbs:
        config = EmbeddingConfig.for_knowledge_base(kb)
        if config is None:
            continue
        try:
            vectors[kb.pk] = embed_query(config, query)
        except EmbeddingError:
            logger.warning("embedding the query failed for knowledge base %s; keyword search only", kb.pk)
    return vectors


def search_knowledge_bases(kbs: list[KnowledgeBase], query: str, *, k: int = 5) -> list[Hit]:
    """Best FAQ entries and passages of KBs already checked to belong to the caller's tenant."""
    if not query.strip():
        return []
    indexes = get_indexes(kbs)
    return search_indexes(indexes, query, k=k, query_vectors=query_vectors_for(kbs, query))


def kb_search(*, tenant: Tenant, knowledge_base_ids: Iterable[object], query: str, k: int = 5) -> list[Hit]:
    """Best FAQ entries and passages of the tenant's knowledge bases for a question."""
    kbs = access_knowledge_bases(tenant=tenant, knowledge_base_ids=knowledge_base_ids)
    return search_knowledge_bases(kbs, query, k=k)
