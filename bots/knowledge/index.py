"""In-process search indexes per (tenant, knowledge base), rebuilt when the KB changes.

Each process keeps its own indexes; a version counter in the shared Django cache is
bumped after every committed change, so every process notices on its next search.
A TTL bounds staleness if the cache itself was flushed or unreachable.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

import numpy as np
from django.core.cache import cache
from django.db import close_old_connections, transaction

from bots.knowledge import decide
from bots.knowledge.bm25 import Bm25Index, document_frequencies
from bots.knowledge.embeddings import from_bytes, normalize_rows
from bots.knowledge.models import Chunk, FaqEntry, KnowledgeBase
from bots.knowledge.text import query_units, tokenize

logger = logging.getLogger(__name__)

INDEX_TTL_SECONDS = 300.0
MAX_CACHED_INDEXES = 256
# Past this size a rebuild takes seconds (tokenizing ~1,500 chunks/s): questions keep
# the previous index while one background thread builds the new one.
BACKGROUND_REBUILD_CHUNKS = 5_000
# Ablation switch for bench.kb_quality (always on in the product): off, each FAQ field
# computes IDF from its own texts, as before.
FAQ_SHARED_IDF = True
# Switch for bench.kb_quality (always on in the product): off, every KB uses decide.DEFAULT.
LEARN = True


def _version_key(kb_id: int) -> str:
    return f"kb:version:{kb_id}"


def _tenant_version_key(tenant_id: int) -> str:
    return f"kb:tenant-version:{tenant_id}"


def _incr(key: str) -> None:
    try:
        cache.add(key, 0, timeout=None)
        cache.incr(key)
    except ValueError:  # evicted between add and incr
        cache.set(key, 1, timeout=None)
    except Exception:  # the TTL still bounds staleness when the cache is down
        logger.warning("could not bump knowledge version %s", key, exc_info=True)


def bump_version_on_commit(*, tenant_id: int, kb_id: int) -> None:
    """Called by every service that changes what a KB can answer."""

    def bump() -> None:
        _incr(_version_key(kb_id))
        _incr(_tenant_version_key(tenant_id))
        # Small indexes are dropped at once (this process may have no shared cache);
        # a large one stays in service until its background rebuild replaces it.
        current = _indexes.get((tenant_id, kb_id))
        if current is not None and len(current.chunks.ids) < BACKGROUND_REBUILD_CHUNKS:
            _drop_local(tenant_id, kb_id)

    transaction.on_commit(bump)


def tenant_version(tenant_id: int) -> int:
    try:
        return int(cache.get(_tenant_version_key(tenant_id)) or 0)
    except Exception:
        return 0


@dataclass
class FaqIndex:
    ids: list[int]
    questions: list[str]
    answers: list[str]
    question_index: Bm25Index
    answer_index: Bm25Index
    vectors: np.ndarray | None  # unit rows, or None when any entry lacks an embedding
    model: decide.Model = decide.DEFAULT  # P(the best entry answers the question), learned from this FAQ
    alternates: list[list[str]] = field(default_factory=list)  # other ways to ask, per entry


@dataclass
class ChunkIndex:
    ids: list[int]
    document_ids: list[int]
    titles: list[str]
    texts: list[str]
    index: Bm25Index
    vectors: np.ndarray | None
    vector_rows: np.ndarray | None  # positions in ids that the vector rows stand for


@dataclass
class KbIndex:
    tenant_id: int
    kb_id: int
    version: int
    built_at: float
    faqs: FaqIndex
    chunks: ChunkIndex
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


def _vectors(blobs: list[bytes | memoryview | None]) -> tuple[np.ndarray | None, np.ndarray | None]:
    rows = [(i, v) for i, b in enumerate(blobs) if b and (v := from_bytes(b)) is not None]
    if not rows:
        return None, None
    dims = {len(v) for _, v in rows}
    if len(dims) != 1:  # the model changed mid-way; vectors are not comparable
        return None, None
    return normalize_rows(np.stack([v for _, v in rows])), np.asarray([i for i, _ in rows], dtype=np.int64)


def build_faq_index(
    questions: list[str],
    alternates: list[list[str]],
    answers: list[str],
    ids: list[int],
    blobs: list[bytes | memoryview | None],
) -> FaqIndex:
    question_docs = [tokenize(" \n".join([q, *alts])) for q, alts in zip(questions, alternates, strict=True)]
    answer_docs = [tokenize(a) for a in answers]
    # Both fields take IDF from all questions and answers together (bm25.document_frequencies).
    statistics = document_frequencies(question_docs, answer_docs) if FAQ_SHARED_IDF else None
    vectors, rows = _vectors(blobs)
    if rows is not None and len(rows) != len(ids):
        vectors = None
    question_index = Bm25Index(question_docs, statistics=statistics)
    answer_index = Bm25Index(answer_docs, statistics=statistics)
    model = decide.learn(question_index, answer_index, [query_units(q) for q in questions]) if LEARN else decide.DEFAULT
    return FaqIndex(
        ids=ids,
        questions=questions,
        answers=answers,
        question_index=question_index,
        answer_index=answer_index,
        vectors=vectors,
        model=model,
        alternates=alternates,
    )


def build_chunk_index(
    ids: list[int],
    document_ids: list[int],
    titles: list[str],
    headings: list[str],
    texts: list[str],
    blobs: list[bytes | memoryview | None],
) -> ChunkIndex:
    docs = [tokenize(f"{h}\n{t}" if h else t, unigrams=False) for h, t in zip(headings, texts, strict=True)]
    vectors, rows = _vectors(blobs)
    return ChunkIndex(
        ids=ids,
        document_ids=document_ids,
        titles=titles,
        texts=texts,
        index=Bm25Index(docs),
        vectors=vectors,
        vector_rows=rows,
    )


def _build(kb: KnowledgeBase, version: int) -> KbIndex:
    faq_rows = list(
        FaqEntry.objects.filter(tenant_id=kb.tenant_id, knowledge_base=kb, enabled=True)
        .order_by("pk")
        .values_list("pk", "question", "alternates", "answer", "embedding")
    )
    chunk_rows = list(
        Chunk.objects.filter(tenant_id=kb.tenant_id, knowledge_base=kb)
        .order_by("pk")
        .values_list("pk", "document_id", "document__title", "heading_path", "text", "embedding")
    )
    faqs = build_faq_index(
        [r[1] for r in faq_rows],
        [list(r[2] or []) for r in faq_rows],
        [r[3] for r in faq_rows],
        [r[0] for r in faq_rows],
        [r[4] for r in faq_rows],
    )
    titles = [f"{r[2]} > {r[3]}" if r[3] else r[2] for r in chunk_rows]
    chunks = build_chunk_index(
        [r[0] for r in chunk_rows],
        [r[1] for r in chunk_rows],
        titles,
        [r[3] for r in chunk_rows],
        [r[4] for r in chunk_rows],
        [r[5] for r in chunk_rows],
    )
    return KbIndex(kb.tenant_id, kb.pk, version, time.monotonic(), faqs, chunks)


_indexes: dict[tuple[int, int], KbIndex] = {}
_build_locks: dict[tuple[int, int], threading.Lock] = {}
_registry_lock = threading.Lock()


def _drop_local(tenant_id: int, kb_id: int) -> None:
    with _registry_lock:
        _indexes.pop((tenant_id, kb_id), None)


def clear_local_indexes() -> None:
    with _registry_lock:
        _indexes.clear()


def _store(key: tuple[int, int], index: KbIndex) -> None:
    with _registry_lock:
        if key not in _indexes and len(_indexes) >= MAX_CACHED_INDEXES:
            _indexes.pop(min(_indexes, key=lambda k: _indexes[k].built_at))
        _indexes[key] = index


def _rebuild_in_background(kb: KnowledgeBase, version: int, lock: threading.Lock) -> None:
    if not lock.acquire(blocking=False):
        return  # already being rebuilt

    def run() -> None:
        try:
            _store((kb.tenant_id, kb.pk), _build(kb, version))
        except Exception:
            logger.exception("rebuilding the index of knowledge base %s failed", kb.pk)
        finally:
            lock.release()
            close_old_connections()

    threading.Thread(target=run, name=f"kb-index-{kb.pk}", daemon=True).start()


def get_indexes(kbs: list[KnowledgeBase]) -> list[KbIndex]:
    """Current indexes for KBs already checked to belong to one tenant."""
    if not kbs:
        return []
    try:
        versions = cache.get_many([_version_key(kb.pk) for kb in kbs])
    except Exception:
        logger.warning("knowledge version lookup failed; relying on the TTL", exc_info=True)
        versions = None
    now = time.monotonic()
    result = []
    for kb in kbs:
        key = (kb.tenant_id, kb.pk)
        version = int((versions or {}).get(_version_key(kb.pk)) or 0)
        current = _indexes.get(key)
        if (
            current is not None
            and now - current.built_at < INDEX_TTL_SECONDS
            and (versions is None or current.version == version)
        ):
            result.append(current)
            continue
        with _registry_lock:
            lock = _build_locks.setdefault(key, threading.Lock())
        if current is not None and len(current.chunks.ids) >= BACKGROUND_REBUILD_CHUNKS:
            _rebuild_in_background(kb, version, lock)
            result.append(current)
            continue
        with lock:  # one build per KB per process, even under a burst of questions
            current = _indexes.get(key)
            if current is None or current.version != version or now - current.built_at >= INDEX_TTL_SECONDS:
                current = _build(kb, version)
                _store(key, current)
        result.append(current)
    return result
