"""BM25 over a sparse matrix: documents x terms, weights precomputed at build time.

A query then costs one bincount over the posting lists of its terms, which keeps
search over 100,000 chunks in a few milliseconds (scipy's indexing overhead would
cost more than the arithmetic).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

K1 = 1.2
B = 0.75


# One CJK word also yields its characters and bigrams; weighting them down keeps a
# long word from counting several times over against a short one. Dictionary pivots
# ('@', bridge.py) weigh as much as a word, but a Chinese word's pivots share that
# weight among its senses (text.query_terms).
TERM_WEIGHTS = {"!": 0.3, "#": 0.5, "@": 1.0}


def term_weight(term: str) -> float:
    return TERM_WEIGHTS.get(term[:1], 1.0)


# A query: its terms (each weighted by its kind), or term -> weight as text.query_terms makes.
QueryTerms = Sequence[str] | Mapping[str, float]


def as_weights(terms: QueryTerms, *, distinct: bool = False) -> dict[str, float]:
    """term -> query weight. distinct: a repeated term counts once (for coverage), but a
    pivot that is only part of a word's meaning keeps its fraction."""
    if isinstance(terms, Mapping):
        weights = dict(terms)
    else:
        weights = {}
        for term in terms:
            weights[term] = weights.get(term, 0.0) + term_weight(term)
    if distinct:
        return {t: min(w, term_weight(t)) for t, w in weights.items()}
    return weights


@dataclass(frozen=True)
class Bm25Hits:
    indices: np.ndarray  # document positions, best first
    scores: np.ndarray
    coverage: np.ndarray  # share of the query's IDF mass each document contains, 0..1


class Bm25Index:
    def __init__(self, docs: Sequence[Sequence[str]]) -> None:
        vocab: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        tfs: list[float] = []
        lengths = np.zeros(len(docs), dtype=np.float32)
        for row, terms in enumerate(docs):
            lengths[row] = len(terms)
            for term, tf in Counter(terms).items():
                col = vocab.setdefault(term, len(vocab))
                rows.append(row)
                cols.append(col)
                tfs.append(tf)
        self.vocab = vocab
        self.terms = list(vocab)  # id -> term
        self.size = len(docs)
        self.weights = np.asarray([term_weight(t) for t in vocab], dtype=np.float32)
        n_terms = len(vocab)
        row_arr = np.asarray(rows, dtype=np.int64)
        col_arr = np.asarray(cols, dtype=np.int64)
        tf_arr = np.asarray(tfs, dtype=np.float32)
        df = np.bincount(col_arr, minlength=n_terms).astype(np.float32)
        # The Lucene variant of IDF: never negative, so very common terms still count a little.
        self.idf = np.log1p((self.size - df + 0.5) / (df + 0.5)).astype(np.float32)
        avgdl = float(lengths.mean()) if self.size else 1.0
        norm = K1 * (1 - B + B * lengths[row_arr] / max(avgdl, 1e-9))
        weights = tf_arr * (K1 + 1) / (tf_arr + norm) * self.idf[col_arr]
        matrix = sparse.csc_matrix((weights, (row_arr, col_arr)), shape=(self.size, n_terms), dtype=np.float32)
        matrix.sum_duplicates()
        matrix.sort_indices()
        # Raw CSC arrays: a column is a term's posting list, sorted by document row.
        self.indptr, self.indices, self.data = matrix.indptr, matrix.indices, matrix.data
        self.nnz = int(matrix.nnz)

    def query_terms(self, terms: QueryTerms) -> tuple[np.ndarray, np.ndarray]:
        """Vocabulary ids of the query's known terms and their query weights."""
        weights = as_weights(terms)
        known = [t for t in weights if t in self.vocab]
        ids = np.asarray([self.vocab[t] for t in known], dtype=np.int64)
        return ids, np.asarray([weights[t] for t in known], dtype=np.float32)

    def idf_mass(self, terms: QueryTerms) -> float:
        """The weighted IDF of every distinct query term; unknown terms get the median IDF."""
        top = float(np.median(self.idf)) if len(self.idf) else 1.0
        return sum(
            (float(self.idf[self.vocab[t]]) if t in self.vocab else top) * weight
            for t, weight in as_weights(terms, distinct=True).items()
        )

    def scores(self, terms: QueryTerms) -> np.ndarray:
        """Dense scores for every document: one bincount over the query terms' postings."""
        ids, qtf = self.query_terms(terms)
        if not len(ids) or not self.size:
            return np.zeros(self.size, dtype=np.float32)
        starts, ends = self.indptr[ids], self.indptr[ids + 1]
        spans = [slice(a, b) for a, b in zip(starts.tolist(), ends.tolist(), strict=True)]
        rows = np.concatenate([self.indices[sp] for sp in spans])
        weights = np.concatenate([self.data[sp] * w for sp, w in zip(spans, qtf.tolist(), strict=True)])
        return np.bincount(rows, weights=weights, minlength=self.size).astype(np.float32, copy=False)

    def search(self, terms: Sequence[str], k: int = 10) -> Bm25Hits:
        scores = self.scores(terms)
        nz = np.flatnonzero(scores)
        if not len(nz):
            empty = np.zeros(0, dtype=np.int64)
            return Bm25Hits(empty, np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.float32))
        part = nz[np.argpartition(-scores[nz], k - 1)[:k]] if len(nz) > k else nz
        order = part[np.argsort(-scores[part], kind="stable")]
        return Bm25Hits(order, scores[order], self.coverage(terms, order))

    def coverage(self, terms: QueryTerms, rows: np.ndarray) -> np.ndarray:
        """Share of the query's weighted IDF mass that each given document contains."""
        mass = self.idf_mass(terms)
        weights = as_weights(terms, distinct=True)
        ids, _ = self.query_terms(terms)
        covered = np.zeros(len(rows), dtype=np.float32)
        if not len(rows) or mass <= 0 or not len(ids):
            return covered
        rows = np.asarray(rows, dtype=self.indices.dtype)
        for term_id in ids.tolist():
            postings = self.indices[self.indptr[term_id] : self.indptr[term_id + 1]]  # sorted row numbers
            at = np.searchsorted(postings, rows)
            present = (at < len(postings)) & (postings[np.minimum(at, len(postings) - 1)] == rows)
            covered += present * (self.idf[term_id] * weights[self.terms[term_id]])
        return covered / np.float32(mass)
