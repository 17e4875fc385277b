"""`make bench`: every benchmark in turn, at a scale that finishes in minutes on 2 cores.

Each writes its own JSON under bench/results/; the full-scale chat run (20,000 idle
sockets, 10,000 reconnects) is `python -m bench.chat` with its documented flags.
"""

from __future__ import annotations

import subprocess
import sys

RUNS = [
    ["bench.kb_search"],
    ["bench.providers"],
    ["bench.bots", "--answers", "2000", "--streams", "500", "--turns", "300"],
    [
        "bench.chat",
        "--layer",
        "pubsub",
        "--server",
        "uvicorn",
        "--visitors",
        "300",
        "--agents",
        "30",
        "--rate",
        "100",
        "--duration",
        "20",
        "--idle",
        "2000",
        "--reconnects",
        "2000",
        "--out",
        "bench/results/chat-make-bench-uvicorn.json",
    ],
]


def main() -> None:
    failed = []
    for args in RUNS:
        print(f"== python -m {' '.join(args)}", flush=True)
        if subprocess.run([sys.executable, "-m", *args], check=False).returncode != 0:  # noqa: S603
            failed.append(args[0])
    if failed:
        sys.exit(f"benchmarks that did not finish: {', '.join(failed)}")


if __name__ == "__main__":
    main()
