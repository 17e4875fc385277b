"""`python -m bench.chat`: seed, start daphne processes, run the phases, write JSON."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import resource
import sys
import time
from pathlib import Path

from bench.chat import load
from bench.chat.setup import (
    ROOT,
    bench_env,
    ensure_database,
    machine_busy_cpu_s,
    migrate,
    proc_stats,
    redis_clients,
    seed,
    service_cpu_s,
    start_servers,
    stop_servers,
)

TARGETS = {
    "idle_sockets": "20,000 idle sockets, server RSS under 3 GB",
    "latency": "p99 under 50 ms (p50 under 5 ms) at 1,000 msg/s",
    "reconnects": "10,000 reconnects in 60 s without errors, Redis clients flat",
    "deliveries": "20,000 deliveries/s",
}


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.chat", description=__doc__)
    p.add_argument("--visitors", type=int, default=1000, help="active visitor sockets in the load phase")
    p.add_argument("--agents", type=int, default=100)
    p.add_argument("--rate", type=float, default=1000, help="messages per second (Poisson, open loop)")
    p.add_argument("--duration", type=float, default=30, help="seconds of load (max 300)")
    p.add_argument("--idle", type=int, default=20000, help="idle visitor sockets to hold (0 skips)")
    p.add_argument("--reconnects", type=int, default=10000, help="reconnects in the storm (0 skips)")
    p.add_argument("--servers", type=int, default=2, help="daphne processes (one per core)")
    p.add_argument("--server", choices=["daphne", "uvicorn"], default="daphne", help="ASGI server")
    p.add_argument("--base-port", type=int, default=8100)
    p.add_argument("--db-pool", type=int, default=10)
    p.add_argument(
        "--database-url", default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/kefu_bench")
    )
    p.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/3"))
    p.add_argument("--skip-baseline", action="store_true")
    p.add_argument(
        "--layer",
        choices=["core", "pubsub"],
        default=os.environ.get("CHANNEL_LAYER", "core"),
        help="channels_redis layer for servers and the echo baseline",
    )
    p.add_argument("--out", default="")
    args = p.parse_args()
    args.duration = min(args.duration, 300)
    args.idle = min(args.idle, 30000)
    args.reconnects = min(args.reconnects, 20000)
    args.servers = max(1, min(args.servers, 4))
    if not (8100 <= args.base_port and args.base_port + 2 * args.servers - 1 <= 8199):
        p.error("ports must stay within 8100-8199")
    return args


def _own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cpu_window(servers, fn):
    """Run fn; the servers' CPU and RSS over it, and the load generator's own CPU share."""
    before = {s.port: proc_stats(s.process.pid) for s in servers}
    own_before = _own_cpu_s()
    t0 = time.perf_counter()
    result = fn()
    wall = time.perf_counter() - t0
    after = {s.port: proc_stats(s.process.pid) for s in servers}
    stats = {
        str(port): {
            "cpu_percent": round(100 * (after[port]["cpu_s"] - before[port]["cpu_s"]) / wall, 1),
            "rss_mb": round(after[port]["rss_mb"], 1),
        }
        for port in before
    }
    stats["load_generator"] = {"cpu_percent": round(100 * (_own_cpu_s() - own_before) / wall, 1)}
    return result, stats


def main() -> int:
    args = parse()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    env = bench_env(args)
    env["CHANNEL_LAYER"] = args.layer
    os.environ.update(
        {
            k: env[k]
            for k in (
                "DATABASE_URL",
                "REDIS_URL",
                "SECRET_KEY",
                "DEBUG",
                "ALLOWED_HOSTS",
                "SECURE_SSL_REDIRECT",
                "CELERY_BROKER_URL",
                "KEFU_TASKS_MODE",
                "LOG_LEVEL",
                "CACHE_PREFIX",
                "CHANNEL_LAYER_PREFIX",
            )
        }
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kefu.settings")
    ensure_database(args.database_url)
    migrate(env)
    import django

    django.setup()
    print("seeding…", flush=True)
    data = seed(max(args.visitors, args.idle, 1), args.agents)
    origin = data.origin
    ports = [args.base_port + i for i in range(args.servers)]
    result: dict = {
        "benchmark": "chat",
        "started_at": dt.datetime.now(dt.UTC).isoformat(),
        "args": vars(args),
        "machine": {"cpus": os.cpu_count(), "fd_limit": hard, "python": sys.version.split()[0]},
        "targets": TARGETS,
    }
    if not args.skip_baseline:
        echo_ports = [args.base_port + args.servers + i for i in range(args.servers)]
        echo = start_servers(echo_ports, env, app="bench.chat.echo_asgi:application", server=args.server)
        try:
            pairs = max(1, min(args.visitors, 1000) // 2)
            baseline, cpu = cpu_window(
                echo,
                lambda: asyncio.run(
                    load.echo_load(
                        servers=[s.ws for s in echo], pairs=pairs, rate=args.rate, duration=min(args.duration, 30)
                    )
                ),
            )
            baseline["servers"] = cpu
            result["baseline_echo"] = baseline
            print("baseline echo:", json.dumps(baseline["latency"]), flush=True)
        finally:
            stop_servers(echo)

    servers = start_servers(ports, env, server=args.server)
    ws = [s.ws for s in servers]
    try:
        result["servers_at_start"] = {str(s.port): proc_stats(s.process.pid) for s in servers}
        chat, cpu = cpu_window(
            servers,
            lambda: asyncio.run(
                load.chat_load(
                    servers=ws,
                    origin=origin,
                    visitors=data.visitors[: args.visitors],
                    agents=data.agents,
                    rate=args.rate,
                    duration=args.duration,
                    connect_concurrency=100,
                    server_cpu_s=lambda: sum(proc_stats(s.process.pid)["cpu_s"] for s in servers),
                    cpu_meters={
                        "postgres": lambda: service_cpu_s("postgres"),
                        "redis": lambda: service_cpu_s("redis-server"),
                        "load_generator": _own_cpu_s,
                        "machine": machine_busy_cpu_s,
                    },
                )
            ),
        )
        chat["servers"] = cpu
        result["chat"] = chat
        print(
            "chat:",
            json.dumps(
                {
                    k: chat[k]
                    for k in (
                        "sent",
                        "received",
                        "deliveries_per_s",
                        "error_count",
                        "server_cpu_ms_per_message",
                        "cpu_ms_per_message",
                        "machine_busy_percent",
                    )
                }
            ),
            json.dumps(chat["latency"]),
            "ack:",
            json.dumps(chat["ack_latency"]),
            flush=True,
        )

        if args.reconnects:
            clients_before = redis_clients(args.redis_url)
            storm, cpu = cpu_window(
                servers,
                lambda: asyncio.run(
                    load.reconnect_storm(
                        servers=ws,
                        origin=origin,
                        tokens=[v[2] for v in data.visitors],
                        total=args.reconnects,
                        concurrency=100,
                        time_limit=120,
                    )
                ),
            )
            storm["servers"] = cpu
            storm["redis_clients_before"] = clients_before
            storm["redis_clients_after"] = redis_clients(args.redis_url)
            result["reconnect_storm"] = storm
            print(
                "reconnects:",
                json.dumps({k: storm[k] for k in ("completed", "seconds", "rate_per_s", "error_count")}),
                flush=True,
            )

        if args.idle:
            base = {str(s.port): proc_stats(s.process.pid)["rss_mb"] for s in servers}

            def measure() -> dict:
                time.sleep(3)
                rss = {str(s.port): round(proc_stats(s.process.pid)["rss_mb"], 1) for s in servers}
                return {
                    "server_rss_mb": rss,
                    "server_rss_total_mb": round(sum(rss.values()), 1),
                    "server_rss_before_mb": base,
                    "redis_clients": redis_clients(args.redis_url),
                }

            children = max(1, -(-args.idle // 9000))
            idle = load.idle_hold(
                servers=ws,
                origin=origin,
                tokens=[v[2] for v in data.visitors[: args.idle]],
                children=children,
                concurrency=200,
                measure=measure,
            )
            result["idle"] = idle
            print(
                "idle:",
                json.dumps({k: idle[k] for k in ("connected", "errors", "connect_rate_per_s", "server_rss_total_mb")}),
                flush=True,
            )
    finally:
        stop_servers(servers)
    result["finished_at"] = dt.datetime.now(dt.UTC).isoformat()
    out = (
        Path(args.out)
        if args.out
        else ROOT / "bench" / "results" / (f"chat-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}.json")
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
