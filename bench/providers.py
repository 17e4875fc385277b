"""Benchmark of the AI provider layer against a fake OpenAI-compatible server in another process.

    python -m bench.providers [--quick] [--uvloop]

(a) answering at once: answers/s through `bots.providers.base.stream` vs a raw httpx2
    client with a minimal SSE loop, and the first-token overhead our layer adds;
(b) realistic pacing (300 ms to first token, 30 tokens/s) with 500 concurrent streams in
    this one process: completions, first-token overhead percentiles, CPU and RSS.
Writes bench/results/providers.json. Prints figures; never asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx2
import orjson

from bots.interface import BotRequest, Delta, Done, ProviderConfig, Timeouts
from bots.providers.base import build_provider, close_http_clients, configure_http, stream
from bots.resilience import FallbackChain, Switch
from kefu import outbound

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "providers.json"
PORT_FAST, PORT_PACED = 8311, 8312


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary_ms(values: list[float]) -> dict[str, float]:
    return {f"p{p}": round(percentile(values, p) * 1000, 3) for p in (50, 90, 99)} | {
        "max": round(max(values) * 1000, 3) if values else float("nan")
    }


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def proc_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(port: int, *args: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-m", "tests.fakes.openai_server", "--port", str(port), *args], cwd=ROOT)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"fake server on {port} did not start")


def make_request(i: int) -> BotRequest:
    return BotRequest(question=f"Where is order {i}?", conversation_key=f"c{i}", visitor_id=f"v{i}")


def provider_for(port: int, timeouts: Timeouts) -> Any:
    return build_provider(
        ProviderConfig(
            kind="openai",
            base_url=f"http://127.0.0.1:{port}/v1",
            api_key="sk-bench",
            model="gpt-4o-mini",
            timeouts=timeouts,
            name=f"bench{port}",
        )
    )


async def one_layer(provider: Any, i: int) -> tuple[float, float, bool]:
    started = time.perf_counter()
    first = None
    ok = False
    async for event in stream(provider, make_request(i)):
        if first is None and isinstance(event, Delta):
            first = time.perf_counter() - started
        if isinstance(event, Done):
            ok = bool(event.text)
    return first or float("nan"), time.perf_counter() - started, ok


async def one_raw(client: httpx2.AsyncClient, port: int, i: int) -> tuple[float, float, bool]:
    """The least a client can do: POST, split lines, parse JSON, stop at [DONE]."""
    body = {
        "model": "gpt-4o-mini",
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": f"Where is order {i}?"}],
    }
    started = time.perf_counter()
    first = None
    parts: list[str] = []
    async with client.stream(
        "POST", f"http://127.0.0.1:{port}/v1/chat/completions", json=body, headers={"Authorization": "Bearer sk-bench"}
    ) as response:
        async for line in response.aiter_lines():
            if not line.startswith("data: "):
                continue
            payload = line[6:]
            if payload.startswith("[DONE]"):
                continue  # read to the end so the connection is reused
            chunk = orjson.loads(payload)
            if chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
                if first is None:
                    first = time.perf_counter() - started
                parts.append(chunk["choices"][0]["delta"]["content"])
    return first or float("nan"), time.perf_counter() - started, bool(parts)


async def closed_loop(fn: Any, total: int, concurrency: int) -> dict[str, Any]:
    counter = iter(range(total))
    firsts: list[float] = []
    errors = 0
    ok_count = 0

    async def worker() -> None:
        nonlocal errors, ok_count
        for i in counter:
            try:
                first, _, ok = await fn(i)
                firsts.append(first)
                ok_count += ok
            except Exception:
                errors += 1

    cpu0, t0 = cpu_seconds(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - t0
    return {
        "answers": ok_count,
        "errors": errors,
        "seconds": round(elapsed, 3),
        "answers_per_s": round(ok_count / elapsed, 1),
        "client_cpu_s": round(cpu_seconds() - cpu0, 3),
        "first_token_ms": summary_ms(firsts),
    }


async def part_a(total: int, concurrency: int, sequential: int) -> dict[str, Any]:
    timeouts = Timeouts(connect=5, first_token=30, idle=30, total=120)
    provider = provider_for(PORT_FAST, timeouts)
    raw_client = httpx2.AsyncClient(
        limits=httpx2.Limits(max_connections=2000, max_keepalive_connections=500), timeout=60
    )
    # Warm both paths (connections, imports, SDK model classes).
    await closed_loop(lambda i: one_layer(provider, i), 100, concurrency)
    await closed_loop(lambda i: one_raw(raw_client, PORT_FAST, i), 100, concurrency)
    raw = await closed_loop(lambda i: one_raw(raw_client, PORT_FAST, i), total, concurrency)
    layer = await closed_loop(lambda i: one_layer(provider, i), total, concurrency)
    raw_seq = await closed_loop(lambda i: one_raw(raw_client, PORT_FAST, i), sequential, 1)
    layer_seq = await closed_loop(lambda i: one_layer(provider, i), sequential, 1)
    await raw_client.aclose()
    overhead = {
        k: round(layer_seq["first_token_ms"][k] - raw_seq["first_token_ms"][k], 3) for k in ("p50", "p90", "p99")
    }
    return {
        "concurrency": concurrency,
        "raw_httpx2": raw,
        "provider_layer": layer,
        "throughput_ratio_layer_vs_raw": round(layer["answers_per_s"] / raw["answers_per_s"], 3),
        "sequential_first_token_raw_ms": raw_seq["first_token_ms"],
        "sequential_first_token_layer_ms": layer_seq["first_token_ms"],
        "first_token_overhead_ms": overhead,
    }


async def part_b(
    streams: int, server_pid: int, first_delay: float, raw: bool = False, spread: float = 0.0
) -> dict[str, Any]:
    """`spread` > 0 starts the streams on a schedule over that many seconds (open model), else all at once."""
    timeouts = Timeouts(connect=10, first_token=15, idle=10, total=60)
    provider = provider_for(PORT_PACED, timeouts)
    raw_client = httpx2.AsyncClient(
        limits=httpx2.Limits(max_connections=2000, max_keepalive_connections=500), timeout=60
    )

    def one(i: int) -> Any:
        return one_raw(raw_client, PORT_PACED, i) if raw else one_layer(provider, i)

    async def scheduled(i: int) -> Any:
        await asyncio.sleep(spread * i / streams)
        return await one(i)

    # Warm the pool to steady state: a busy worker keeps its connections alive between turns.
    await asyncio.gather(*(one(i) for i in range(streams)))
    rss0, cpu0, server_cpu0 = rss_mb(), cpu_seconds(), proc_cpu_seconds(server_pid)
    peak_rss = rss0
    done_flag = False

    async def sample_rss() -> None:
        nonlocal peak_rss
        while not done_flag:
            peak_rss = max(peak_rss, rss_mb())
            await asyncio.sleep(0.05)

    sampler = asyncio.create_task(sample_rss())
    t0 = time.perf_counter()
    results = await asyncio.gather(*(scheduled(i) for i in range(streams)), return_exceptions=True)
    elapsed = time.perf_counter() - t0
    done_flag = True
    await sampler
    await raw_client.aclose()
    completed = [r for r in results if not isinstance(r, BaseException) and r[2]]
    overheads = [r[0] - first_delay for r in completed]
    return {
        "streams": streams,
        "arrivals_spread_s": spread,
        "completed": len(completed),
        "errors": streams - len(completed),
        "wall_s": round(elapsed, 3),
        "first_token_overhead_ms": summary_ms(overheads),
        "stream_duration_ms": summary_ms([r[1] for r in completed]),
        "client_cpu_s": round(cpu_seconds() - cpu0, 3),
        "client_cpu_share_of_one_core": round((cpu_seconds() - cpu0) / elapsed, 3),
        "server_cpu_s": round(proc_cpu_seconds(server_pid) - server_cpu0, 3),
        "rss_mb_before": round(rss0, 1),
        "rss_mb_peak": round(peak_rss, 1),
    }


async def fallback_switch(rounds: int) -> dict[str, Any]:
    """Time from the primary's failure being known to the backup's first token (server answers 500)."""
    from bots.providers.local import LocalProvider
    from tests.fakes.http import Behaviour
    from tests.fakes.openai_server import FakeOpenAI

    gaps: list[float] = []
    with FakeOpenAI(Behaviour(fail_status=500)) as bad:
        primary = build_provider(
            ProviderConfig(kind="openai", base_url=bad.url + "/v1", api_key="k", model="m", name="bad")
        )
        backup = LocalProvider(ProviderConfig(kind="local", name="local"), lambda q: ("local answer", [], 1.0, True))
        chain = FallbackChain([primary, backup])
        for i in range(rounds):
            switched = None
            async for event in chain.run(make_request(i)):
                if isinstance(event, Switch):
                    switched = time.perf_counter()
                elif isinstance(event, Delta) and switched is not None:
                    gaps.append(time.perf_counter() - switched)
                    break
    return {"rounds": rounds, "switch_to_backup_first_token_ms": summary_ms(gaps)}


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    fast = start_server(PORT_FAST, "--tokens", "20")
    paced = start_server(PORT_PACED, "--first-token-delay", "0.3", "--tps", "30", "--tokens", "20")
    try:
        a = await part_a(args.answers, args.concurrency, args.sequential)
        b: dict[str, Any] = {}
        for label, spread in (("burst", 0.0), ("arrivals_over_1s", 1.0)):
            raw = await part_b(args.streams, paced.pid, 0.3, raw=True, spread=spread)
            layer = await part_b(args.streams, paced.pid, 0.3, spread=spread)
            b[label] = {
                "provider_layer": layer,
                "raw_httpx2": raw,
                "cpu_ratio_layer_vs_raw": round(layer["client_cpu_s"] / max(raw["client_cpu_s"], 1e-9), 3),
            }
        f = await fallback_switch(50)
    finally:
        await close_http_clients()
        fast.terminate()
        paced.terminate()
        fast.wait(5)
        paced.wait(5)
    return {"a_answer_at_once": a, "b_paced_500_streams": b, "fallback": f}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--answers", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--sequential", type=int, default=300)
    parser.add_argument("--streams", type=int, default=500)
    parser.add_argument("--uvloop", action="store_true")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.answers, args.sequential = 500, 100
    if args.uvloop:
        import uvloop

        uvloop.install()
    # What the bots app installs under Django: the guarded client, here allowing the fakes.
    configure_http(lambda options: outbound.async_client(allowlist=["127.0.0.1"], **options))
    started = time.time()
    results = asyncio.run(main_async(args))
    report = {
        "benchmark": "providers",
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "python": sys.version.split()[0],
        "loop": "uvloop" if args.uvloop else "asyncio",
        "cpus": os.cpu_count(),
        "tokens_per_answer": 20,
        **results,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
