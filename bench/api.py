"""REST API throughput: list and send endpoints against real server processes, open loop.

    python -m bench.api [--duration 5] [--out bench/results/api.json]

Two uvicorn processes (the web-uvicorn deploy flags) on PostgreSQL and Redis serve the
product with a bench URL conf that adds a bare Django view and a bare DRF view, measured
in the same run through the same middleware. The load is open loop: request i is due at
t0 + i/rate whatever the answers, sent on an idle keep-alive connection (or a new one),
and its latency counts from when it was due, so a slow server cannot slow the load down
(no coordinated omission). Each endpoint is stepped up in rate; a step holds when 99 % of
its requests were answered 2xx within the step plus two seconds and p99 stayed under
250 ms. The result is the highest rate that held. Rate limits stay on (one counter round
trip per request, as in production) with a limit no run reaches.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from bench.chat.setup import ROOT, bench_env, ensure_database, migrate, proc_stats, start_servers, stop_servers

RATES = [100, 200, 300, 400, 500, 750, 1000, 1500, 2000, 2500, 3000, 4000]
P99_LIMIT_MS = 250.0


class Conn:
    """One keep-alive HTTP/1.1 connection (just enough protocol for these endpoints)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def request(self, raw: bytes) -> int:
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length, chunked = 0, False
        for line in head.split(b"\r\n"):
            lower = line.lower()
            if lower.startswith(b"content-length:"):
                length = int(line[15:])
            elif lower.startswith(b"transfer-encoding:") and b"chunked" in lower:
                chunked = True
        if chunked:  # ASGI servers chunk bodies whose length the app did not declare
            while True:
                size = int((await self.reader.readuntil(b"\r\n"))[:-2].split(b";")[0], 16)
                await self.reader.readexactly(size + 2)
                if size == 0:
                    break
        elif length:
            await self.reader.readexactly(length)
        return status


async def run_step(ports: list[int], make_request: Any, rate: int, duration: float) -> dict[str, Any]:
    idle: dict[int, list[Conn]] = {p: [] for p in ports}
    latencies: list[float] = []
    errors = 0
    total = int(rate * duration)
    tasks = []
    loop = asyncio.get_running_loop()

    async def one(i: int, due: float) -> None:
        nonlocal errors
        port = ports[i % len(ports)]
        pool = idle[port]
        try:
            conn = pool.pop() if pool else Conn(*await asyncio.open_connection("127.0.0.1", port))
            status = await conn.request(make_request(i))
        except (OSError, asyncio.IncompleteReadError, ValueError):
            errors += 1
            return
        if 200 <= status < 300:
            latencies.append(loop.time() - due)
            pool.append(conn)
        else:
            errors += 1
            pool.append(conn)

    start = loop.time() + 0.05
    for i in range(total):
        due = start + i / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one(i, due)))
    deadline = start + duration + 2.0
    pending = [t for t in tasks if not t.done()]
    if pending:
        await asyncio.wait(pending, timeout=max(0.0, deadline - loop.time()))
    late = sum(1 for t in tasks if not t.done())
    for t in tasks:
        t.cancel()
    for pool in idle.values():
        for conn in pool:
            conn.writer.close()
    lat = sorted(latencies)
    ok = len(lat)

    def pct(p: float) -> float:
        return round(lat[min(ok - 1, int(p * ok))] * 1000, 1) if ok else float("nan")

    held = ok >= 0.99 * total and ok > 0 and pct(0.99) <= P99_LIMIT_MS
    return {
        "rate": rate,
        "sent": total,
        "ok": ok,
        "errors": errors,
        "unanswered": late,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "mean_ms": round(statistics.fmean(lat) * 1000, 1) if lat else None,
        "held": held,
    }


async def measure(ports: list[int], name: str, make_request: Any, duration: float) -> dict[str, Any]:
    steps = []
    best = 0
    for rate in RATES:
        step = await run_step(ports, make_request, rate, duration)
        steps.append(step)
        print(
            f"  {name:12s} {rate:5d}/s: ok {step['ok']}/{step['sent']} p50 {step['p50_ms']} ms "
            f"p99 {step['p99_ms']} ms {'held' if step['held'] else 'NOT held'}",
            flush=True,
        )
        if not step["held"]:
            break
        best = rate
        await asyncio.sleep(1.0)
    return {"endpoint": name, "max_sustained_rps": best, "steps": steps}


def seed(conversations: int) -> tuple[str, list[int]]:
    from kefu.models import Channel, Conversation, Tenant, Visitor
    from kefu.services.api_keys import api_key_issue
    from kefu.services.inboxes import inbox_default

    suffix = secrets.token_hex(4)
    tenant = Tenant.objects.create(name=f"API bench {suffix}", slug=f"api-bench-{suffix}")
    inbox = inbox_default(tenant=tenant, channel=Channel.API)
    visitors = Visitor.objects.bulk_create(
        [Visitor(tenant=tenant, anon_id=f"api{suffix}{i}", name=f"Contact {i}") for i in range(conversations)]
    )
    convs = Conversation.objects.bulk_create(
        [Conversation(tenant=tenant, inbox=inbox, channel=Channel.API, visitor=v, status="queued") for v in visitors]
    )
    _key, token = api_key_issue(tenant=tenant, name="bench", scopes=["conversations:write"])
    return token, [c.pk for c in convs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/kefu_bench_api")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per rate step")
    parser.add_argument("--conversations", type=int, default=500)
    parser.add_argument("--db-pool", type=int, default=20)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "api.json"))
    args = parser.parse_args()

    env = bench_env(args)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "bench.api_settings",
            # Counted as in production (one pipelined round trip), with a limit no run reaches.
            "KEFU_API_RATE_KEY_PER_MINUTE": "1000000000",
        }
    )
    ensure_database(args.database_url)
    migrate(env)
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS")})
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.api_settings"
    import django

    django.setup()
    token, conv_ids = seed(args.conversations)
    auth = f"Authorization: Bearer {token}\r\n".encode()
    host = b"Host: 127.0.0.1\r\n"

    def get(path: str, with_auth: bool = True):
        raw = b"GET " + path.encode() + b" HTTP/1.1\r\n" + host + (auth if with_auth else b"") + b"\r\n"
        return lambda i: raw

    run_id = secrets.token_hex(3)

    def send(i: int) -> bytes:
        conv = conv_ids[i % len(conv_ids)]
        body = json.dumps({"body": f"message {i}", "client_msg_id": f"b{run_id}-{i}"}).encode()
        return (
            f"POST /api/v1/conversations/{conv}/messages/ HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode()
            + auth
            + b"Content-Type: application/json\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body
        )

    ports = [18611, 18612]
    servers = start_servers(ports, env, server="uvicorn", log_dir=ROOT / "var" / "bench")
    try:
        import uvloop

        uvloop.install()
        load_before = os.getloadavg()
        cpu_before = [proc_stats(s.process.pid)["cpu_s"] for s in servers]
        t0 = time.monotonic()
        results = []
        for name, maker in (
            ("bare-django", get("/bench/bare-django", with_auth=False)),
            ("bare-drf", get("/bench/bare-drf", with_auth=False)),
            ("list", get("/api/v1/conversations/?limit=20")),
            ("send", send),
        ):
            run_id = secrets.token_hex(3)
            results.append(asyncio.run(measure(ports, name, maker, args.duration)))
        elapsed = time.monotonic() - t0
        cpu_after = [proc_stats(s.process.pid)["cpu_s"] for s in servers]
    finally:
        stop_servers(servers)
    by = {r["endpoint"]: r["max_sustained_rps"] for r in results}
    summary = {
        "list_rps": by["list"],
        "send_rps": by["send"],
        "bare_django_rps": by["bare-django"],
        "bare_drf_rps": by["bare-drf"],
        "list_vs_bare_django": round(by["list"] / by["bare-django"], 2) if by["bare-django"] else None,
    }
    out = {
        "benchmark": "bench.api",
        "command": " ".join(["python -m bench.api", *sys.argv[1:]]),
        "machine": {"cpus": os.cpu_count(), "loadavg_before": load_before, "loadavg_after": os.getloadavg()},
        "servers": {"kind": "uvicorn (web-uvicorn flags)", "processes": len(servers), "database": "PostgreSQL"},
        "server_cpu_s": round(sum(cpu_after) - sum(cpu_before), 1),
        "elapsed_s": round(elapsed, 1),
        "step_seconds": args.duration,
        "summary": summary,
        "results": results,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
