"""Retrieval quality of the shared SaaS sample's FAQ entries against five query sets.

- sample: the sample's own queries (a measurement; tuning against them flatters it);
- held-out: bench/data/kb_heldout_queries.json, written without looking at the sample's;
- fresh: bench/data/kb_fresh_queries.json, written from the FAQ entries' meaning only,
  before the dictionary bridge was built;
- fresh2: bench/data/kb_fresh2_queries.json, written the same way before the second
  retrieval-quality pass (small-collection IDF), without looking at the other sets;
- unanswerable: bench/data/kb_unanswerable_queries.json, questions the FAQ cannot answer
  (used only for the threshold table).

Each set runs through `manage.py kb_eval` logic in this process (scratch tenant, rolled
back), with the current retrieval and with ablations (a word's forms summed instead of
counted once, per-field FAQ IDF instead of shared, no synonym table, no dictionary
bridge, neither), so every figure in docs/knowledge.md can be reproduced. For each
variant it also reports, over all sets pooled, how the answer-confidence threshold
splits answers into correct / wrong entry / "don't know" / unanswerable answered.

Usage: python -m bench.kb_quality [--sample PATH] [--out bench/results/kb_quality.json]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kefu.settings")
os.environ.setdefault("LOG_FORMAT", "console")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402

from bots.knowledge import bridge, index, search, text  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
VARIANTS = ("current", "forms-summed", "per-field-idf", "no-synonyms", "no-dictionary", "neither")
THRESHOLDS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5)


@contextmanager
def variant(name: str) -> Iterator[None]:
    """Switch one part of retrieval off for one run (see VARIANTS)."""
    saved = text.SYNONYMS_ENABLED, text.BRIDGE_ENABLED, search.FORMS_COUNT_ONCE, index.FAQ_SHARED_IDF
    text.SYNONYMS_ENABLED = name not in ("no-synonyms", "neither")
    text.BRIDGE_ENABLED = name not in ("no-dictionary", "neither")
    search.FORMS_COUNT_ONCE = name != "forms-summed"
    index.FAQ_SHARED_IDF = name != "per-field-idf"
    text.clear_caches()
    try:
        yield
    finally:
        text.SYNONYMS_ENABLED, text.BRIDGE_ENABLED, search.FORMS_COUNT_ONCE, index.FAQ_SHARED_IDF = saved
        text.clear_caches()


def evaluate(path: Path, *, details: bool = False) -> dict:
    out = io.StringIO()
    args = [str(path), "--json"] + (["--details"] if details else [])
    call_command("kb_eval", *args, stdout=out)
    return json.loads(out.getvalue())


def query_sets(sample_path: Path, tmp: Path) -> dict[str, Path]:
    sample = json.loads(sample_path.read_text())
    sets = {"sample": sample_path}
    for name, file in (
        ("held-out", "kb_heldout_queries.json"),
        ("fresh", "kb_fresh_queries.json"),
        ("fresh2", "kb_fresh2_queries.json"),
        ("unanswerable", "kb_unanswerable_queries.json"),
    ):
        queries = json.loads((DATA / file).read_text())["queries"]
        path = tmp / f"kb_quality_{name}.json"
        path.write_text(json.dumps({"name": name, "faq": sample["faq"], "queries": queries}, ensure_ascii=False))
        sets[name] = path
    return sets


def calibrate(details: list[dict]) -> list[dict]:
    """How the answer threshold splits pooled queries, answerable and unanswerable.

    A query is "answered" when the hit kb_answer would choose reaches the threshold.
    An answerable query is answered correctly when that hit is its expected entry;
    every answer to an unanswerable query is wrong, every "don't know" to it is right.
    precision = correct answers / all answers; recall = correct answers / answerable.
    """
    answerable = [d for d in details if d["expect"] is not None]
    unanswerable = [d for d in details if d["expect"] is None]
    rows = []
    for threshold in THRESHOLDS:
        answered = [d for d in answerable if d["confidence"] >= threshold]
        correct = sum(1 for d in answered if d["answer"] == d["expect"])
        false_answers = sum(1 for d in unanswerable if d["confidence"] >= threshold)
        all_answers = len(answered) + false_answers
        rows.append(
            {
                "threshold": threshold,
                "answerable": len(answerable),
                "correct": correct,
                "wrong_entry": len(answered) - correct,
                "dont_know": len(answerable) - len(answered),
                "dont_know_but_right": sum(
                    1 for d in answerable if d["confidence"] < threshold and d["answer"] == d["expect"]
                ),
                "unanswerable": len(unanswerable),
                "unanswerable_answered": false_answers,
                "precision": round(correct / all_answers, 3) if all_answers else None,
                "recall": round(correct / len(answerable), 3) if answerable else None,
                "right_decisions": round((correct + len(unanswerable) - false_answers) / max(1, len(details)), 3),
                # As if half the questions had no answer in the KB: the pooled sets are
                # mostly answerable, which favours low thresholds.
                "right_decisions_balanced": round(
                    (correct / max(1, len(answerable)) + 1 - false_answers / max(1, len(unanswerable))) / 2, 3
                ),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", default=str(ROOT.parent / "shared" / "data" / "faq_saas_sample.json"))
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "kb_quality.json"))
    parser.add_argument("--tmp", default="/tmp")
    args = parser.parse_args()
    sets = query_sets(Path(args.sample), Path(args.tmp))
    started = time.perf_counter()
    headwords = len(bridge.load_table())
    bridge_load = {"headwords": headwords, "load_seconds": round(time.perf_counter() - started, 2)}
    print(f"dictionary: {headwords} headwords in {bridge_load['load_seconds']} s", flush=True)
    results: dict[str, dict] = {}
    calibration: dict[str, list[dict]] = {}
    for name in args.variants.split(","):
        results[name] = {}
        pooled: list[dict] = []
        with variant(name):
            for label, path in sets.items():
                started = time.perf_counter()
                figures = evaluate(path, details=True)
                pooled.extend(figures.pop("details"))
                results[name][label] = figures
                note = " (no answer exists: threshold table only)" if label == "unanswerable" else ""
                print(f"== {name:13s} {label:8s} ({time.perf_counter() - started:.1f} s){note}", flush=True)
                for lang in ("overall", "zh", "en"):
                    if lang in figures and figures[lang]["n"]:
                        m = figures[lang]
                        print(
                            f"   {lang:8s} n={m['n']:3d}  hit@1={m['hit@1']:.3f}  hit@3={m['hit@3']:.3f}  "
                            f"MRR={m['mrr']:.3f}",
                            flush=True,
                        )
        calibration[name] = calibrate(pooled)
    for name, rows in calibration.items():
        print(
            f"== answer threshold, {name}: {rows[0]['answerable']} answerable queries (all sets), "
            f"{rows[0]['unanswerable']} unanswerable"
        )
        for row in rows:
            print(
                f"   >= {row['threshold']:.2f}: correct {row['correct']:3d}, wrong entry {row['wrong_entry']:2d}, "
                f"don't know {row['dont_know']:2d} (would have been right {row['dont_know_but_right']:2d}); "
                f"unanswerable answered {row['unanswerable_answered']:2d}  "
                f"precision {row['precision']}  recall {row['recall']}  right decisions {row['right_decisions']} "
                f"(half unanswerable: {row['right_decisions_balanced']})"
            )
    out = Path(args.out)
    out.write_text(
        json.dumps(
            {
                "benchmark": "kb_quality",
                "what": "hit@k/MRR of FAQ retrieval, keyword only (no embeddings), per query set, language and "
                "tokenizer variant; answer-threshold calibration over the pooled sets",
                "python": sys.version.split()[0],
                "dictionary": bridge_load,
                "results": results,
                "threshold_calibration": calibration,
            },
            indent=2,
            ensure_ascii=False,
        )
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
