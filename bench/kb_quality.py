"""Retrieval quality on held-out paraphrases: the sample's FAQ, our own queries.

The sample's queries are a measurement; tuning against them flatters the figures. These
queries were written without looking at them, so this run checks generalisation.
Usage: python -m bench.kb_quality [--sample ../shared/data/faq_saas_sample.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", default=str(ROOT.parent / "shared" / "data" / "faq_saas_sample.json"))
    args = parser.parse_args()
    sample = json.loads(Path(args.sample).read_text())
    heldout = json.loads((ROOT / "bench" / "data" / "kb_heldout_queries.json").read_text())
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump({"name": "held-out", "faq": sample["faq"], "queries": heldout["queries"]}, handle, ensure_ascii=False)
    for label, path in (("sample queries", args.sample), ("held-out queries", handle.name)):
        print(f"== {label}", flush=True)
        subprocess.run([sys.executable, "manage.py", "kb_eval", path], cwd=ROOT, check=True)  # noqa: S603


if __name__ == "__main__":
    main()
