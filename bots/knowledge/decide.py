"""Whether the best FAQ entry answers the question: a probability from several signals, learned per KB.

One lexical score cannot tell "a paraphrase of entry A" from "a question on a topic
next to A that the FAQ does not cover" (a phone case's material vs changing a phone
number): both share a word or two with A. Several signals together do better:

- coverage: the share of the question's weighted IDF mass the entry contains (its
  question field, plus half the rest from its answer);
- question coverage alone;
- margin: how far the entry's score is ahead of the next entry's;
- known: the share of the question's words (IDF mass) that occur anywhere in the
  knowledge base; words the KB never uses (天气, 硅胶, 招聘) mean the question is
  probably about something else;
- length: how many words the question has.

Each knowledge base learns its own weights from its own FAQ when its index is built,
so nothing is tuned to one domain: every entry's question is asked twice of the KB,
once with that entry removed (the right answer is missing: any answer is wrong, the
situation of an out-of-scope question in the same domain) and once with only its
question text removed (the entry is still there through its answer and alternates:
a paraphrase that shares little wording with it). A logistic regression on those
examples gives P(the best entry is the right answer). Small KBs (fewer than
MIN_ENTRIES entries, or examples of only one kind) use DEFAULT_WEIGHTS, fitted the
same way over the sample knowledge bases in bench/data/domains (their FAQ text only,
never their queries).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from bots.knowledge.bm25 import Bm25Index

FEATURES = ("coverage", "question_coverage", "margin", "known", "length")
MONOTONE = 4  # the first four must weigh positively
MIN_ENTRIES = 8
# At most this many entries are asked of the KB when it learns (two searches each).
TRAINING_ENTRIES = 300
# Simulated paraphrases per entry, and the share of the question's units each one drops.
PARAPHRASES = 2
DROP_SHARE = 0.5
QUESTION_WEIGHT = 1.0  # as search.QUESTION_WEIGHT / ANSWER_WEIGHT
ANSWER_WEIGHT = 0.5


@dataclass(frozen=True)
class Model:
    """Logistic regression over FEATURES: P = 1 / (1 + exp(-(bias + weights . x)))."""

    weights: tuple[float, ...]
    bias: float
    learned: bool  # False: DEFAULT_WEIGHTS (the KB was too small or too uniform to learn from)

    def probability(self, signals: np.ndarray) -> float:
        z = self.bias + float(np.dot(self.weights, signals))
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


# Fitted by `python -m bench.kb_quality --fit-default` over the FAQ text (not the queries)
# of the development sets: the SaaS sample and bench/data/domains except the blind one.
DEFAULT = Model(weights=(3.66, 2.85, 3.04, 1.89, -0.06), bias=-5.1, learned=False)


def _is_word_unit(unit: dict[str, float]) -> bool:
    """Character ('!') and bigram ('#') units are surface evidence, not words of the question."""
    return any(term[:1] not in ("!", "#") for term in unit)


@dataclass
class Table:
    """A question's terms against every FAQ entry: BM25 weights and presence per field.

    Every signal is computed for all entries at once with numpy (a question costs tens of
    microseconds here, not a Python loop per entry and unit).
    """

    units: list[dict[str, float]]
    rows: list[list[int]]  # per unit: row numbers of its forms in the arrays below
    weights: np.ndarray  # per row: the form's query weight
    idf: np.ndarray  # per row
    question: np.ndarray  # rows x entries: BM25 weight in the question field (0: absent)
    answer: np.ndarray  # rows x entries: BM25 weight in the answer field
    flat: np.ndarray  # the rows of every unit, unit after unit
    starts: np.ndarray  # where each unit begins in flat
    word_units: np.ndarray  # the units that are words (not characters or bigrams)

    @classmethod
    def build(cls, question_index: Bm25Index, answer_index: Bm25Index, units: list[dict[str, float]]) -> Table:
        units = [unit for unit in units if unit]
        vocab: dict[str, int] = {}
        rows = [[vocab.setdefault(t, len(vocab)) for t in unit] for unit in units]
        weights = np.zeros(len(vocab), dtype=np.float32)
        for unit, unit_rows in zip(units, rows, strict=True):
            for (_, w), row in zip(unit.items(), unit_rows, strict=True):
                weights[row] = max(weights[row], w)
        terms = list(vocab)
        idf = np.asarray([question_index._idf(t) for t in terms], dtype=np.float32)
        flat = np.asarray([r for unit_rows in rows for r in unit_rows], dtype=np.int64)
        starts = np.cumsum([0] + [len(r) for r in rows[:-1]]).astype(np.int64) if rows else np.zeros(0, np.int64)
        word_units = np.asarray([i for i, unit in enumerate(units) if _is_word_unit(unit)], dtype=np.int64)
        return cls(
            units,
            rows,
            weights,
            idf,
            question_index.term_scores(terms),
            answer_index.term_scores(terms),
            flat,
            starts,
            word_units,
        )

    def _per_unit(self, per_row: np.ndarray) -> np.ndarray:
        """units x entries: the best of each unit's forms (rows x entries in)."""
        if not len(self.flat):
            return np.zeros((0, per_row.shape[1] if per_row.ndim > 1 else 0), dtype=np.float32)
        return np.maximum.reduceat(per_row[self.flat], self.starts, axis=0)

    def scores(self, question: np.ndarray, answer: np.ndarray) -> np.ndarray:
        """Per entry: sum over units of the best form's field-weighted BM25 (search.faq_scores)."""
        per_row = (QUESTION_WEIGHT * question + ANSWER_WEIGHT * answer) * self.weights[:, None]
        return self._per_unit(per_row).sum(axis=0)

    def matched(self, entry: int) -> list[dict[str, str]]:
        """The question's words this entry contains, each through its best form: the word
        itself, its synonym group, a dictionary translation or its pinyin (for "why")."""
        out = []
        for unit, unit_rows in zip(self.units, self.rows, strict=True):
            if not _is_word_unit(unit):
                continue
            word = next(iter(unit))
            best = None  # the question field first, then the word itself, then the strongest form
            for (term, _), row in zip(unit.items(), unit_rows, strict=True):
                for rank, (field, present) in enumerate((("question", self.question), ("answer", self.answer))):
                    value = float(present[row, entry]) * float(self.weights[row])
                    key = (-rank, term == word, value)
                    if value > 0 and (best is None or key > best[0]):
                        best = (key, term, field)
            if best is not None:
                out.append({"word": word, "via": VIA.get(best[1][:1], "word"), "field": best[2]})
        return out

    def all_signals(self, question: np.ndarray, answer: np.ndarray) -> np.ndarray:
        """entries x FEATURES: each entry's signals as if the ranking had put it first."""
        entries = question.shape[1]
        if not len(self.flat) or not entries:
            return np.zeros((entries, len(FEATURES)), dtype=np.float32)
        mass_rows = (self.idf * self.weights)[:, None]
        units_mass = self._per_unit(np.broadcast_to(mass_rows, (len(self.weights), 1)))[:, 0]
        mass = float(units_mass.sum()) or 1.0
        cov_q = self._per_unit(mass_rows * (question > 0)).sum(axis=0) / mass
        cov_a = self._per_unit(mass_rows * (answer > 0)).sum(axis=0) / mass
        scores = self.scores(question, answer)
        order = np.argsort(-scores, kind="stable")
        best_other = np.full(entries, scores[order[0]], dtype=np.float32)
        best_other[order[0]] = scores[order[1]] if entries > 1 else 0.0
        top = np.maximum(scores, best_other)
        margin = np.where(top > 0, (scores - best_other) / np.where(top > 0, top, 1.0), -1.0)
        known_rows = np.logical_or((question > 0).any(axis=1), (answer > 0).any(axis=1)).reshape(-1, 1)
        word_mass = float(units_mass[self.word_units].sum()) if len(self.word_units) else 0.0
        known_units = self._per_unit(mass_rows * known_rows)[:, 0]
        known = float(known_units[self.word_units].sum()) / word_mass if word_mass else 0.0
        out = np.empty((entries, len(FEATURES)), dtype=np.float32)
        out[:, 0] = cov_q + 0.5 * (1 - cov_q) * cov_a
        out[:, 1] = cov_q
        out[:, 2] = margin
        out[:, 3] = known
        out[:, 4] = math.log1p(len(self.word_units))
        return out


VIA = {"~": "synonym", "@": "translation", "^": "pinyin"}


def _top(scores: np.ndarray) -> int | None:
    return int(np.argmax(scores)) if len(scores) and scores.max() > 0 else None


def signals_for(table: Table, top: int) -> np.ndarray:
    """Signals of a served question for one entry, as if the ranking had put it first."""
    return table.all_signals(table.question, table.answer)[top]


def training_examples(
    question_index: Bm25Index, answer_index: Bm25Index, questions: list[list[dict[str, float]]], sample: Iterable[int]
) -> tuple[np.ndarray, np.ndarray]:
    """(signals, labels) from asking each sampled entry's question of the KB (see the module doc)."""
    xs: list[np.ndarray] = []
    ys: list[int] = []
    for entry in sample:
        units = questions[entry]
        if not units:
            continue
        table = Table.build(question_index, answer_index, units)
        # A paraphrase: the entry keeps its answer but its question shares only some of
        # the words asked (a random part of the question's units is taken out of it).
        rng = np.random.default_rng(entry)
        for _ in range(PARAPHRASES):
            dropped = rng.random(len(units)) < DROP_SHARE
            q = table.question.copy()
            for unit_rows, drop in zip(table.rows, dropped, strict=True):
                if drop:
                    q[unit_rows, entry] = 0.0
            top = _top(table.scores(q, table.answer))
            if top is not None:
                xs.append(table.all_signals(q, table.answer)[top])
                ys.append(int(top == entry))
        # The entry removed: whatever comes first is a wrong answer.
        q = table.question.copy()
        a = table.answer.copy()
        q[:, entry] = 0.0
        a[:, entry] = 0.0
        top = _top(table.scores(q, a))
        if top is not None:
            xs.append(table.all_signals(q, a)[top])
            ys.append(0)
    if not xs:
        return np.zeros((0, len(FEATURES)), dtype=np.float32), np.zeros(0, dtype=np.int64)
    return np.stack(xs), np.asarray(ys, dtype=np.int64)


def fit(x: np.ndarray, y: np.ndarray, *, min_each: int = 3) -> Model | None:
    """A logistic regression, or None when there are too few examples of either kind."""
    if len(y) == 0 or min(int(y.sum()), int(len(y) - y.sum())) < min_each:
        return None
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415 - only index builds need it

    model = LogisticRegression(C=1.0, max_iter=500)
    model.fit(x, y)
    weights = tuple(float(w) for w in model.coef_[0])
    # More coverage, a wider margin or more known words must never lower the probability.
    # A KB whose own examples say otherwise is unusual (the same entries in two languages:
    # removing one leaves its twin, a "wrong" answer that is in fact right), and its
    # model would be wrong on real questions: fall back to the default.
    if min(weights[:MONOTONE]) < 0:
        return None
    return Model(weights, float(model.intercept_[0]), learned=True)


def learn(question_index: Bm25Index, answer_index: Bm25Index, questions: list[list[dict[str, float]]]) -> Model:
    """This KB's model from its own FAQ questions, or DEFAULT when it is too small to learn from."""
    if len(questions) < MIN_ENTRIES:
        return DEFAULT
    step = max(1, len(questions) // TRAINING_ENTRIES)
    x, y = training_examples(question_index, answer_index, questions, range(0, len(questions), step))
    return fit(x, y) or DEFAULT
