"""BM25 over a sparse matrix: documents x terms, weights precomputed at build time.

A query then costs one bincount over the posting lists of its terms, which keeps
search over 100,000 chunks in a few milliseconds (scipy's indexing overhead would
cost more than the arithmetic).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
from scipy import sparse

K1 = 1.2
LENGTH_SKIP: tuple[str, ...] = ("^", "@", "~")
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


# A query by units (text.query_units): alternative forms of one word, term -> weight each.
Units = Sequence[Mapping[str, float]]


def as_units(terms: QueryTerms | Units) -> list[dict[str, float]]:
    """Distinct units with each weight capped at its kind's (a repeated word counts once,
    a pivot that is only part of a word's meaning keeps its fraction). Plain terms are a
    unit each."""
    if isinstance(terms, Sequence) and terms and isinstance(terms[0], Mapping):
        units = [dict(cast(Mapping[str, float], unit)) for unit in terms]
    else:
        units = [{t: w} for t, w in as_weights(terms).items()]  # type: ignore[arg-type]
    distinct: dict[frozenset, dict[str, float]] = {}
    for unit in units:
        capped = {t: min(w, term_weight(t)) for t, w in unit.items()}
        if capped:
            distinct.setdefault(frozenset(capped.items()), capped)
    return list(distinct.values())


@dataclass(frozen=True)
class Bm25Hits:
    indices: np.ndarray  # document positions, best first
    scores: np.ndarray
    coverage: np.ndarray  # share of the query's IDF mass each document contains, 0..1


def document_frequencies(*collections: Sequence[Sequence[str]]) -> tuple[Counter[str], int]:
    """In how many of the given texts each term occurs, and how many texts there are.

    For fields that should share one IDF (an FAQ's questions and answers): a KB of 20
    entries has only 20 short questions, too few to tell a rare word from one that the
    tenant uses everywhere; its answers are more of the same tenant's vocabulary.
    """
    df: Counter[str] = Counter()
    size = 0
    for docs in collections:
        for terms in docs:
            df.update(set(terms))
            size += 1
    return df, size


class Bm25Index:
    def __init__(
        self, docs: Sequence[Sequence[str]], *, statistics: tuple[Mapping[str, int], int] | None = None
    ) -> None:
        """statistics: (document frequencies, number of texts) to compute IDF from instead
        of docs' own, e.g. document_frequencies(questions, answers) for both FAQ fields."""
        vocab: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        tfs: list[float] = []
        lengths = np.zeros(len(docs), dtype=np.float32)
        for row, terms in enumerate(docs):
            lengths[row] = sum(1 for t in terms if t[:1] not in LENGTH_SKIP) if LENGTH_SKIP else len(terms)
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
        if statistics is None:
            df = np.bincount(col_arr, minlength=n_terms).astype(np.float32)
            texts = self.size
        else:
            counts, texts = statistics
            df = np.asarray([counts.get(t, 0) for t in vocab], dtype=np.float32)
        # The Lucene variant of IDF: never negative, so very common terms still count a little.
        self.idf = np.log1p((texts - df + 0.5) / (df + 0.5)).astype(np.float32)
        self.median_idf = float(np.median(self.idf)) if len(self.idf) else 1.0  # for unknown query terms
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

    def idf_mass(self, terms: QueryTerms | Units) -> float:
        """The weighted IDF of the query: per distinct unit its heaviest form (each
        distinct term is a unit unless units are given); unknown terms get the median IDF."""
        return sum(max(self._idf(t) * w for t, w in unit.items()) for unit in as_units(terms))

    def _idf(self, term: str) -> float:
        term_id = self.vocab.get(term)
        return self.median_idf if term_id is None else float(self.idf[term_id])

    def term_scores(self, terms: Sequence[str]) -> np.ndarray:
        """Each given term's BM25 weight in every document: terms x documents, dense.

        For small indexes (FAQ entries); unknown terms give a row of zeros.
        """
        out = np.zeros((len(terms), self.size), dtype=np.float32)
        for row, term in enumerate(terms):
            col = self.vocab.get(term)
            if col is not None:
                span = slice(self.indptr[col], self.indptr[col + 1])
                out[row, self.indices[span]] = self.data[span]
        return out

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

    def search(self, terms: QueryTerms, k: int = 10, *, units: Units | None = None) -> Bm25Hits:
        """Top k documents by BM25 over terms; coverage by units when given (text.query_units)."""
        scores = self.scores(terms)
        nz = np.flatnonzero(scores)
        if not len(nz):
            empty = np.zeros(0, dtype=np.int64)
            return Bm25Hits(empty, np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.float32))
        part = nz[np.argpartition(-scores[nz], k - 1)[:k]] if len(nz) > k else nz
        order = part[np.argsort(-scores[part], kind="stable")]
        return Bm25Hits(order, scores[order], self.coverage(terms if units is None else units, order))

    def coverage(self, terms: QueryTerms | Units, rows: np.ndarray) -> np.ndarray:
        """Share of the query's weighted IDF mass that each given document contains.

        A unit (a word's forms: itself, its synonym group, its pivots) is covered by the
        best form the document contains, so a synonym or a translation covers the word
        as far as its own IDF and weight go, not a third of it.
        """
        units = as_units(terms)
        if not len(rows) or not units:
            return np.zeros(len(rows), dtype=np.float32)
        rows = np.asarray(rows, dtype=self.indices.dtype)
        starts: list[int] = []
        flat: list[str] = []
        weights: list[float] = []
        for unit in units:  # the forms of one unit are consecutive rows
            starts.append(len(flat))
            flat.extend(unit)
            weights.extend(unit.values())
        ids = [self.vocab.get(t) for t in flat]
        idf = np.asarray([self.median_idf if i is None else self.idf[i] for i in ids], dtype=np.float32)
        values = idf * np.asarray(weights, dtype=np.float32)
        mass = float(np.maximum.reduceat(values, starts).sum())
        present = np.zeros((len(flat), len(rows)), dtype=np.float32)
        for k, term_id in enumerate(ids):
            if term_id is None:
                continue
            postings = self.indices[self.indptr[term_id] : self.indptr[term_id + 1]]  # sorted row numbers
            at = np.minimum(np.searchsorted(postings, rows), len(postings) - 1)
            present[k] = postings[at] == rows
        covered = np.maximum.reduceat(present * values[:, None], starts, axis=0).sum(axis=0)
        return (covered / np.float32(mass)).astype(np.float32) if mass > 0 else np.zeros(len(rows), np.float32)
