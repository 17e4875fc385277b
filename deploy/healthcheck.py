"""Container HEALTHCHECK: GET /healthz on the local web process.

Django validates the Host header before any view runs, so the probe presents the first
entry of ALLOWED_HOSTS instead of "localhost" (which production settings do not allow).
Exit 0 when healthy, 1 otherwise; only the standard library is used.
"""

from __future__ import annotations

import os
import sys
import urllib.request


def probe_host(allowed_hosts: str) -> str:
    for entry in allowed_hosts.split(","):
        entry = entry.strip()
        if entry and entry != "*":
            return entry.lstrip(".")
    return "localhost"


def main() -> int:
    port = os.environ.get("PORT", "8000")
    request = urllib.request.Request(  # noqa: S310 (fixed http URL on loopback)
        f"http://127.0.0.1:{port}/healthz",
        headers={"Host": probe_host(os.environ.get("ALLOWED_HOSTS", ""))},
    )
    try:
        with urllib.request.urlopen(request, timeout=3) as response:  # noqa: S310
            return 0 if response.status == 200 else 1
    except OSError as exc:
        print(f"healthcheck failed: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
