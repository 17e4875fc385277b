"""BM25 over a sparse matrix: documents x terms, weights precomputed at build time.

A query then costs one column slice and one sparse-vector product, which keeps
search over 100,000 chunks in a few milliseconds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

K1 = 1.2
B = 0.75


# One CJK word also yields its characters and bigrams; weighting them down keeps a
# long word from counting several times over against a short one.
TERM_WEIGHTS = {"!": 0.3, "#": 0.5}


def term_weight(term: str) -> float:
    return TERM_WEIGHTS.get(term[:1], 1.0)


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
        self.matrix = sparse.csc_matrix((weights, (row_arr, col_arr)), shape=(self.size, n_terms), dtype=np.float32)

    def query_terms(self, terms: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        counts = Counter(terms)
        ids = [self.vocab[t] for t in counts if t in self.vocab]
        qtf = [counts[t] * term_weight(t) for t in counts if t in self.vocab]
        return np.asarray(ids, dtype=np.int64), np.asarray(qtf, dtype=np.float32)

    def idf_mass(self, terms: Sequence[str]) -> float:
        """The IDF of every distinct query term; unknown terms get the highest IDF."""
        top = float(np.log1p((self.size + 0.5) / 0.5))
        return sum(
            (float(self.idf[self.vocab[t]]) if t in self.vocab else top) * term_weight(t) for t in set(terms)
        )

    def scores(self, terms: Sequence[str]) -> tuple[np.ndarray, sparse.csc_matrix, np.ndarray]:
        ids, qtf = self.query_terms(terms)
        if not len(ids) or not self.size:
            return np.zeros(self.size, dtype=np.float32), sparse.csc_matrix((self.size, 0)), ids
        sub = self.matrix[:, ids]
        return np.asarray(sub @ qtf).ravel(), sub, ids

    def search(self, terms: Sequence[str], k: int = 10) -> Bm25Hits:
        scores, sub, ids = self.scores(terms)
        empty = np.zeros(0, dtype=np.int64)
        if not len(ids):
            return Bm25Hits(empty, np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.float32))
        nz = np.flatnonzero(scores)
        if not len(nz):
            return Bm25Hits(empty, np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.float32))
        if len(nz) > k:
            part = nz[np.argpartition(-scores[nz], k - 1)[:k]]
        else:
            part = nz
        order = part[np.argsort(-scores[part], kind="stable")]
        return Bm25Hits(order, scores[order], self.coverage(terms, order, sub, ids))

    def coverage(
        self, terms: Sequence[str], rows: np.ndarray, sub: sparse.csc_matrix | None = None,
        ids: np.ndarray | None = None,
    ) -> np.ndarray:
        if sub is None or ids is None:
            _, sub, ids = self.scores(terms)
        mass = self.idf_mass(terms)
        if not len(rows) or mass <= 0 or not len(ids):
            return np.zeros(len(rows), dtype=np.float32)
        present = (sub[rows].toarray() > 0).astype(np.float32)
        return (present @ (self.idf[ids] * self.weights[ids])) / np.float32(mass)
