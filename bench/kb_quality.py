"""Answer quality of the local knowledge-base bot (no API key, no embeddings) on every evaluation set.

Sets (each a FAQ plus questions; `expect` null marks a question the FAQ cannot answer):

- bench/data/domains/*.json: knowledge bases in five domains the product was not built
  on (e-commerce, banking, telecom, online education, travel), each committed before any
  experiment on it. travel is BLIND: only its aggregate figures are printed, never its
  misses, and no choice may be made on it;
- saas: the shared sample's FAQ (../shared/data/faq_saas_sample.json) with its own
  queries and bench/data/kb_{heldout,fresh,fresh2,unanswerable}_queries.json.

For each variant (the product's current method; old-decision: today's ranking with the
former decision, lexical coverage at threshold 0.20 and no one-character translations;
and ablations that switch one part off; the code before this work is measured in
kb_quality_before.json) it prints per set: hit@1 / hit@3 / MRR of
the FAQ ranking (answerable questions), and what a visitor would see at the product's
answer threshold: the share of answers that are right, coverage (answerable questions
answered) and out-of-scope questions answered. Then a threshold table pooled over the
development sets (never the blind one). Writes bench/results/kb_quality.json.

Usage: python -m bench.kb_quality [--variants current,old-decision,...] [--misses SET]
       python -m bench.kb_quality --fit-default   (prints decide.DEFAULT's weights)
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kefu.settings")
os.environ.setdefault("LOG_FORMAT", "console")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402

from bots.knowledge import answer, bridge, decide, evaluation, index, judge, search, text  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
# The shared sample sits beside the checkout (CI) or at /work/shared (worktrees).
SAMPLE = (
    next(
        (p for p in (ROOT.parent / "shared", Path("/work/shared")) if (p / "data" / "faq_saas_sample.json").is_file()),
        ROOT.parent / "shared",
    )
    / "data"
    / "faq_saas_sample.json"
)
VARIANTS = (
    "current",
    "old-decision",
    "no-calibration",
    "no-short-pivots",
    "default-model",
    "forms-summed",
    "per-field-idf",
    "no-synonyms",
    "no-dictionary",
)
THRESHOLDS = (0.3, 0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.8)
BEFORE_THRESHOLD = 0.20  # the coverage threshold of the method before calibration
BEFORE_THRESHOLDS = (0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5)


def _at(default: float, hits: list, threshold: float | None = None, *, question: str = "") -> Any:
    """choose_answer with another default threshold (the coverage variants)."""
    return answer.choose_answer(hits, default if threshold is None else threshold, question=question)


def load_sets(sample_path: Path = SAMPLE) -> dict[str, dict[str, Any]]:
    sets: dict[str, dict[str, Any]] = {}
    for path in sorted((DATA / "domains").glob("*.json")):
        sets[path.stem] = json.loads(path.read_text(encoding="utf-8"))
    if sample_path.exists():
        sample = json.loads(sample_path.read_text(encoding="utf-8"))
        queries = list(sample["queries"])
        for name in ("kb_heldout_queries", "kb_fresh_queries", "kb_fresh2_queries", "kb_unanswerable_queries"):
            queries += json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))["queries"]
        sets["saas"] = {"name": "saas", "faq": sample["faq"], "queries": queries}
    return sets


@contextmanager
def variant(name: str) -> Iterator[float | None]:
    """Switch one part off for one run; yields the answer threshold to use (None: the product's)."""
    saved = (
        text.SYNONYMS_ENABLED,
        text.BRIDGE_ENABLED,
        text.BRIDGE_MIN_CHARS,
        search.FORMS_COUNT_ONCE,
        search.CALIBRATED_CONFIDENCE,
        index.FAQ_SHARED_IDF,
        index.LEARN,
    )
    text.SYNONYMS_ENABLED = name != "no-synonyms"
    text.BRIDGE_ENABLED = name != "no-dictionary"
    text.BRIDGE_MIN_CHARS = 2 if name in ("old-decision", "no-short-pivots") else text.BRIDGE_MIN_CHARS
    search.FORMS_COUNT_ONCE = name != "forms-summed"
    search.CALIBRATED_CONFIDENCE = name not in ("old-decision", "no-calibration")
    index.FAQ_SHARED_IDF = name != "per-field-idf"
    index.LEARN = name != "default-model"
    text.clear_caches()
    try:
        yield BEFORE_THRESHOLD if not search.CALIBRATED_CONFIDENCE else None
    finally:
        (
            text.SYNONYMS_ENABLED,
            text.BRIDGE_ENABLED,
            text.BRIDGE_MIN_CHARS,
            search.FORMS_COUNT_ONCE,
            search.CALIBRATED_CONFIDENCE,
            index.FAQ_SHARED_IDF,
            index.LEARN,
        ) = saved
        text.clear_caches()


def sweep(rows: list[evaluation.Outcome], thresholds: tuple[float, ...]) -> list[dict[str, Any]]:
    """How each answer threshold splits the pooled questions."""
    answerable = [r for r in rows if r.expect is not None]
    unanswerable = [r for r in rows if r.expect is None]
    table = []
    for threshold in thresholds:
        answered = [r for r in answerable if r.by_threshold[threshold] is not None]
        correct = sum(1 for r in answered if r.by_threshold[threshold] == r.expect)
        oos = sum(1 for r in unanswerable if r.by_threshold[threshold] is not None)
        table.append(
            {
                "threshold": threshold,
                "answered_correct": round(correct / len(answered), 3) if answered else None,
                "coverage": round(len(answered) / max(1, len(answerable)), 3),
                "correct_share": round(correct / max(1, len(answerable)), 3),
                "out_of_scope_answered_share": round(oos / max(1, len(unanswerable)), 3),
            }
        )
    return table


def fit_default(sets: dict[str, dict[str, Any]]) -> decide.Model | None:
    xs, ys = [], []
    for data in sets.values():
        if data.get("blind"):
            continue
        faqs = evaluation.build_index(data["faq"])[0].faqs
        units = [text.query_units(q) for q in faqs.questions]
        x, y = decide.training_examples(faqs.question_index, faqs.answer_index, units, range(len(units)))
        xs.append(x)
        ys.append(y)
    return decide.fit(np.concatenate(xs), np.concatenate(ys))


def print_misses(name: str, rows: list[evaluation.Outcome]) -> None:
    for r in rows:
        if r.expect is not None and (r.rank != 1 or r.answer != r.expect):
            print(f"   miss: rank {r.rank}, answered {r.answer} ({r.confidence:.2f}), expected {r.expect}: {r.q}")
        elif r.expect is None and r.answer is not None:
            print(f"   out of scope answered with {r.answer} ({r.confidence:.2f}): {r.q}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--misses", default="", help="comma-separated development sets whose misses to print")
    parser.add_argument("--fit-default", action="store_true")
    parser.add_argument(
        "--check",
        default="",
        help="BASE_URL,MODEL[,API_KEY] of an OpenAI-compatible chat model: measure the answer check (variant 'checked')",
    )
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "kb_quality.json"))
    args = parser.parse_args()
    sets = load_sets()
    if args.fit_default:
        model = fit_default(sets)
        print(model)
        return
    started = time.perf_counter()
    headwords = len(bridge.load_table())
    text.warm_up()
    print(f"dictionary: {headwords} headwords, loaded with jieba in {time.perf_counter() - started:.2f} s")
    show = set(filter(None, args.misses.split(",")))
    results: dict[str, Any] = {}
    calibration: dict[str, Any] = {}
    names = args.variants.split(",")
    check = None
    if args.check:
        base_url, model, *key = args.check.split(",")
        check = judge.JudgeConfig(base_url=base_url, model=model, api_key=key[0] if key else "")
        names.append("checked")
    for name in names:
        results[name] = {}
        pooled: list[evaluation.Outcome] = []
        with variant(name) as threshold:
            thresholds = THRESHOLDS if threshold is None else BEFORE_THRESHOLDS
            decide_at = answer.choose_answer if threshold is None else functools.partial(_at, threshold)
            for label, data in sets.items():
                started = time.perf_counter()
                rows = evaluation.run(
                    data, answer=decide_at, thresholds=thresholds, check=check if name == "checked" else None
                )
                figures = evaluation.figures(rows)
                figures["blind"] = bool(data.get("blind"))
                results[name][label] = figures
                if not data.get("blind"):
                    pooled.extend(rows)
                f = figures
                bar = answer.answer_threshold() if threshold is None else threshold
                print(
                    f"{name:15s} {label:10s} hit@1 {f['hit@1']:.3f} hit@3 {f['hit@3']:.3f} MRR {f['mrr']:.3f} | "
                    f"hit@5 {f['hit@5']:.3f} | at {bar:.2f}: right {f['answered_correct']} coverage {f['coverage']:.3f} "
                    f"out of scope answered {f['out_of_scope_answered']}/{f['out_of_scope']} "
                    f"| suggested right {f['suggested_right']} wrong {f['suggested_wrong']}, "
                    f"self-service {f['self_service']:.3f} "
                    f"({time.perf_counter() - started:.1f} s){' BLIND' if data.get('blind') else ''}",
                    flush=True,
                )
                if label in show and not data.get("blind"):
                    print_misses(label, rows)
            calibration[name] = sweep(pooled, thresholds)
    for name, rows in calibration.items():
        print(f"== threshold table, {name}, pooled development sets (blind set excluded)")
        for row in rows:
            print(
                f"   >= {row['threshold']:.2f}: right {row['answered_correct']} coverage {row['coverage']} "
                f"correct share {row['correct_share']} out of scope answered {row['out_of_scope_answered_share']}"
            )
    Path(args.out).write_text(
        json.dumps(
            {
                "benchmark": "kb_quality",
                "what": "FAQ ranking (hit@k, MRR) and answer decisions (share right, coverage, out-of-scope "
                "answered) of the local knowledge-base bot, keyword only, per set and variant; threshold "
                "tables pooled over the development sets",
                "python": sys.version.split()[0],
                "answer_threshold": answer.answer_threshold(),
                "results": results,
                "threshold_tables": calibration,
            },
            indent=2,
            ensure_ascii=False,
        )
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
