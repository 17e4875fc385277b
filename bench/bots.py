"""Bot benchmark: what the product adds on top of the AI provider.

Four measurements against a fake OpenAI-compatible server in its own process on
127.0.0.1 and the real Redis channel layer:

1. engine, instant provider: bot answers per second through the hybrid engine and the
   delta publisher (provider chain, the worker's Redis circuit breaker, batching,
   channel-layer sends), CPU per answer (this process and the fake server's), and the
   first-token overhead: first delta published minus first token received by a bare
   client in the same run;
1b. the same closed loop in --processes bot processes at once (default one per core, as
   a deployment runs one worker per core): answers/s of them all together;
2. engine, realistic pacing (300 ms to first token, 30 tokens/s): N concurrent streams
   started at once in one worker process, completion and first-token delay percentiles
   (beyond the provider's 300 ms), CPU and RSS;
3. whole turns (database included): visitor message -> BotTurn -> answer stored, with
   the local knowledge-base bot, in worker threads: turns/s, latency, CPU per turn and
   SQL statements per turn.

The engine phases run on the loop the worker's bot loop uses (bots.runtime.new_loop).
Environment: DATABASE_URL and REDIS_URL pick the database and Redis db (defaults below).

Usage: python -m bench.bots [--answers 3000] [--processes 2] [--open-rate 150] [--streams 500] [--turns 300]
Writes bench/results/bots.json. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import queue
import resource
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kefu.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/kefu_bench")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/12")
os.environ.setdefault("KEFU_TASKS_MODE", "eager")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("KEFU_OUTBOUND_ALLOWLIST", "127.0.0.1")

import django  # noqa: E402

django.setup()

import contextlib  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402

import httpx2  # noqa: E402

from bots.alerts_hub import breaker_for_workers  # noqa: E402
from bots.engine import TurnPlan, answer_turn  # noqa: E402
from bots.interface import BotRequest, ProviderConfig, Timeouts  # noqa: E402
from bots.providers.base import build_provider, close_http_clients  # noqa: E402
from bots.runtime import new_loop  # noqa: E402
from bots.streaming import DeltaPublisher  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "bots.json"


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def summary(values: list[float]) -> dict[str, float]:
    return {
        k: round(v, 3)
        for k, v in {
            "p50": pct(values, 50),
            "p90": pct(values, 90),
            "p99": pct(values, 99),
            "max": max(values, default=float("nan")),
            "mean": statistics.fmean(values) if values else float("nan"),
        }.items()
    }


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def bare_first_token(url: str, n: int = 200) -> list[float]:
    """Baseline: time to the first content chunk for a bare streaming client."""
    out = []
    async with httpx2.AsyncClient() as client:
        for _ in range(n):
            started = time.perf_counter()
            async with client.stream(
                "POST",
                f"{url}/v1/chat/completions",
                json={
                    "model": "m",
                    "stream": True,
                    "messages": [{"role": "user", "content": "hi"}],
                },
            ) as response:
                first = None
                async for line in response.aiter_lines():
                    if first is None and '"content":"' in line and '"content":""' not in line:
                        first = (time.perf_counter() - started) * 1000
                if first is not None:
                    out.append(first)
    return out


def plan_for(url: str, conversation_id: int, timeouts: Timeouts) -> TurnPlan:
    config = ProviderConfig(
        kind="openai", base_url=f"{url}/v1", api_key="sk", model="m", name=f"bench:{url}", timeouts=timeouts
    )
    request = BotRequest(question="你好", conversation_key=f"c{conversation_id}", visitor_id="v")
    # The worker's circuit breaker (Redis), as bots.pipeline passes it.
    return TurnPlan(request=request, chain=[build_provider(config)], breaker=breaker_for_workers())


async def one_answer(url: str, i: int, timeouts: Timeouts) -> tuple[float, float | None, bool]:
    publisher = DeltaPublisher(conversation_id=10_000_000 + i)
    started = time.monotonic()
    outcome = await answer_turn(plan_for(url, i, timeouts), publisher, kb=None, hooks=[], started=started)
    first = (publisher.first_sent_at - started) * 1000 if publisher.first_sent_at else None
    return (time.monotonic() - started) * 1000, first, bool(outcome.text)


async def open_loop(url: str, rate: float, seconds: float, timeouts: Timeouts) -> dict:
    """Poisson arrivals at `rate` answers/s: first-token latency under a load the system
    is offered, not one it sets itself (the closed loop above queues by construction)."""
    import random

    rng = random.Random(7)
    tasks: list[asyncio.Task] = []
    loop = asyncio.get_running_loop()
    started = loop.time()
    arrival = started
    i = 0
    while arrival - started < seconds:
        arrival += rng.expovariate(rate)
        await asyncio.sleep(max(0.0, arrival - loop.time()))
        tasks.append(asyncio.create_task(one_answer(url, 20_000_000 + i, timeouts)))
        i += 1
    results = await asyncio.gather(*tasks)
    firsts = [first for _total, first, _ok in results if first is not None]
    return {
        "rate": rate,
        "answers": len(results),
        "ok": sum(ok for *_x, ok in results),
        "first_token_ms": summary(firsts),
        "answer_ms": summary([total for total, *_x in results]),
    }


async def closed_loop(
    url: str, answers: int, concurrency: int, timeouts: Timeouts, offset: int = 0
) -> tuple[int, list[float]]:
    """`answers` answers, at most `concurrency` at a time: (answers with text, first-token ms)."""
    semaphore = asyncio.Semaphore(concurrency)
    firsts: list[float] = []
    ok = 0

    async def run(i: int) -> None:
        nonlocal ok
        async with semaphore:
            _total, first, good = await one_answer(url, offset + i, timeouts)
            ok += good
            if first is not None:
                firsts.append(first)

    await asyncio.gather(*(run(i) for i in range(answers)))
    return ok, firsts


INSTANT_TIMEOUTS = Timeouts(connect=5, first_token=10, idle=10, total=30)


async def engine_instant(url: str, answers: int, concurrency: int, open_rate: float = 150.0) -> dict:
    timeouts = INSTANT_TIMEOUTS
    baseline = await bare_first_token(url)
    cpu0, fake0, t0 = cpu_seconds(), fake_cpu_seconds(url), time.perf_counter()
    ok, firsts = await closed_loop(url, answers, concurrency, timeouts)
    elapsed = time.perf_counter() - t0
    cpu, fake_cpu = cpu_seconds() - cpu0, fake_cpu_seconds(url) - fake0
    base_p50 = pct(baseline, 50)
    # Overhead measured one at a time, so queueing behind other answers does not count.
    serial = [(await one_answer(url, answers + i, timeouts))[1] or 0.0 for i in range(200)]
    offered = await open_loop(url, open_rate, 10.0, timeouts) if open_rate else None
    return {
        "answers": answers,
        "concurrency": concurrency,
        "ok": ok,
        "seconds": round(elapsed, 2),
        "answers_per_second": round(ok / elapsed, 1),
        "cpu_share": round(cpu / elapsed, 2),
        # CPU per answer survives a noisy machine better than answers per second.
        "cpu_ms_per_answer": round(cpu / max(ok, 1) * 1000, 3),
        "fake_server_cpu_ms_per_answer": round(fake_cpu / max(ok, 1) * 1000, 3),
        "bare_client_first_token_ms": summary(baseline),
        "product_first_token_ms_serial": summary(serial),
        "first_token_overhead_ms_p50": round(pct(serial, 50) - base_p50, 3),
        "first_token_overhead_ms_p99": round(pct(serial, 99) - pct(baseline, 99), 3),
        # Closed loop of `concurrency` answers: latency here is queueing at the throughput reached.
        "first_token_ms_under_load": summary(firsts),
        "open_loop": offered,
    }


def _engine_process(url: str, answers: int, concurrency: int, index: int, ready, go, out) -> None:  # noqa: ANN001
    """One worker process of the multi-process phase: warm up, wait for the others, measure."""
    with asyncio.Runner(loop_factory=new_loop) as runner:
        runner.run(closed_loop(url, 200, concurrency, INSTANT_TIMEOUTS, offset=30_000_000 + index * 1_000_000))
        ready.put(index)
        go.wait()
        cpu0, t0 = cpu_seconds(), time.time()
        ok, _firsts = runner.run(
            closed_loop(url, answers, concurrency, INSTANT_TIMEOUTS, offset=40_000_000 + index * 1_000_000)
        )
        out.put({"ok": ok, "start": t0, "end": time.time(), "cpu": cpu_seconds() - cpu0})
        runner.run(close_http_clients())


def engine_processes(url: str, processes: int, answers: int, concurrency: int) -> dict:
    """The engine with one bot process per core, as a deployment runs its Celery workers:
    answers/s of all of them together, from a common start."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    ready, out, go = context.Queue(), context.Queue(), context.Event()
    workers = [
        context.Process(target=_engine_process, args=(url, answers, concurrency, i, ready, go, out))
        for i in range(processes)
    ]
    for worker in workers:
        worker.start()
    waiting = len(workers)
    while waiting:
        try:
            ready.get(timeout=1)
            waiting -= 1
        except queue.Empty:
            if not all(worker.is_alive() for worker in workers):
                raise RuntimeError("a bot process died before the start") from None
    redis = redis_pid()
    fake0, redis0 = fake_cpu_seconds(url), process_cpu_seconds(redis) if redis else 0.0
    go.set()
    reports = [out.get(timeout=600) for _ in workers]
    fake_cpu = fake_cpu_seconds(url) - fake0
    redis_cpu = process_cpu_seconds(redis) - redis0 if redis else None
    for worker in workers:
        worker.join()
    ok = sum(r["ok"] for r in reports)
    elapsed = max(r["end"] for r in reports) - min(r["start"] for r in reports)
    cpu = sum(r["cpu"] for r in reports)
    return {
        "processes": processes,
        "answers": answers * processes,
        "concurrency_per_process": concurrency,
        "ok": ok,
        "seconds": round(elapsed, 2),
        "answers_per_second": round(ok / elapsed, 1),
        "cpu_ms_per_answer": round(cpu / max(ok, 1) * 1000, 3),
        "fake_server_cpu_ms_per_answer": round(fake_cpu / max(ok, 1) * 1000, 3),
        "redis_cpu_ms_per_answer": round(redis_cpu / max(ok, 1) * 1000, 3) if redis_cpu is not None else None,
    }


async def engine_paced(url: str, streams: int) -> dict:
    timeouts = Timeouts(connect=5, first_token=10, idle=10, total=60)
    rss0, cpu0, fake0, t0 = rss_mb(), cpu_seconds(), fake_cpu_seconds(url), time.perf_counter()
    results = await asyncio.gather(*(one_answer(url, i, timeouts) for i in range(streams)))
    elapsed = time.perf_counter() - t0
    cpu, fake_cpu = cpu_seconds() - cpu0, fake_cpu_seconds(url) - fake0
    firsts = [first - 300.0 for _total, first, ok in results if first is not None]
    return {
        "streams": streams,
        "completed": sum(ok for *_x, ok in results),
        "seconds": round(elapsed, 2),
        "first_token_overhead_ms": summary(firsts),
        "cpu_seconds": round(cpu, 2),
        "cpu_ms_per_stream": round(cpu / streams * 1000, 3),
        "fake_server_cpu_seconds": round(fake_cpu, 2),
        "rss_mb_before": round(rss0, 1),
        "rss_mb_after": round(rss_mb(), 1),
    }


def whole_turns(turns: int, threads: int) -> dict:
    from concurrent.futures import ThreadPoolExecutor

    from django.core.management import call_command
    from django.db import close_old_connections, connection

    from bots.knowledge.services import faq_create, knowledge_base_create
    from bots.models import Bot, BotTurn, TurnStatus
    from kefu.models import SenderType, Tenant
    from kefu.services.conversations import conversation_open
    from kefu.services.messages import message_send
    from kefu.services.visitors import visitor_get_or_create

    call_command("migrate", verbosity=0)
    tenant = Tenant.objects.create(name="bench", slug=f"bench-{time.time_ns()}")
    kb = knowledge_base_create(tenant=tenant, name="faq")
    faq_create(knowledge_base=kb, question="退款多久到账?", answer="审核通过后3-5个工作日原路退回。")
    Bot.objects.create(tenant=tenant, name="local")

    statements: list[int] = []
    thread_cpu: list[float] = []

    def turn(i: int) -> float:
        count = 0

        def counter(execute, sql, params, many, context):  # noqa: ANN001, ANN202
            nonlocal count
            count += 1
            return execute(sql, params, many, context)

        try:
            visitor = visitor_get_or_create(tenant=tenant, anon_id=f"bench-{i}")
            conv, _ = conversation_open(tenant=tenant, visitor=visitor)
            started, cpu_started = time.perf_counter(), time.thread_time()
            # KEFU_TASKS_MODE=eager: the whole turn runs in this thread, inside message_send.
            with connection.execute_wrapper(counter):
                message_send(conversation=conv, sender_type=SenderType.VISITOR, body="退款多久到账?")
            thread_cpu.append(time.thread_time() - cpu_started)
            statements.append(count)
            return (time.perf_counter() - started) * 1000
        finally:
            close_old_connections()

    turn(-1)  # warm the index and the classifier
    statements.clear()
    thread_cpu.clear()
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        latencies = list(pool.map(turn, range(turns)))
    elapsed = time.perf_counter() - t0
    cpu = cpu_seconds() - cpu0
    done = BotTurn.objects.filter(tenant=tenant, status=TurnStatus.DONE).count()
    answered = conversation_count = tenant.messages.filter(sender_type=SenderType.BOT).count()
    del conversation_count
    return {
        "turns": turns,
        "threads": threads,
        "done": done,
        "answers_stored": answered,
        "seconds": round(elapsed, 2),
        "turns_per_second": round(turns / elapsed, 1),
        # This process only (PostgreSQL and Redis run apart), the setup of each visitor included.
        "cpu_ms_per_turn": round(cpu / turns * 1000, 2),
        # The turn's own thread from the visitor's message to the stored answer (not the
        # bot loop's streaming, not the setup).
        "thread_cpu_ms_per_turn": round(statistics.fmean(thread_cpu) * 1000, 2) if thread_cpu else None,
        # Every statement of the visitor's message_send, the bot turn and the stored answer.
        "sql_statements_per_turn": round(statistics.fmean(statements), 2) if statements else None,
        "turn_ms": summary(latencies),
    }


_fake_pids: dict[str, int] = {}


def fake_cpu_seconds(url: str) -> float:
    """CPU used so far by the fake provider's process (the load generator's share)."""
    pid = _fake_pids.get(url)
    return 0.0 if pid is None else process_cpu_seconds(pid)


def redis_pid() -> int | None:
    """The local redis-server, whose CPU the delta frames and breaker reads cost too."""
    found = subprocess.run(["pgrep", "-x", "redis-server"], capture_output=True, text=True, check=False)  # noqa: S603, S607
    pids = found.stdout.split()
    return int(pids[0]) if len(pids) == 1 else None


def process_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def fake_openai(*args: str):
    """The fake provider in its own process, so it does not share this process's CPU."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "tests.fakes.openai_server", "--port", str(port), *args],
        cwd=Path(__file__).resolve().parent.parent,
    )
    url = f"http://127.0.0.1:{port}"
    _fake_pids[url] = process.pid
    try:
        for _ in range(100):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait()


def prompt_context(samples: int = 5000) -> dict:
    """Assembling the last 20 messages for a prompt (cache hit path, Redis cache)."""
    from bots.context import context_for_prompt
    from kefu.models import SenderType, Tenant
    from kefu.services.conversations import conversation_open
    from kefu.services.messages import message_send
    from kefu.services.visitors import visitor_get_or_create

    tenant = Tenant.objects.create(name="bench-ctx", slug=f"bench-ctx-{time.time_ns()}")
    conv, _ = conversation_open(tenant=tenant, visitor=visitor_get_or_create(tenant=tenant, anon_id="ctx"))
    last = None
    for i in range(40):
        sender = SenderType.VISITOR if i % 2 == 0 else SenderType.BOT
        last = message_send(conversation=conv, sender_type=sender, body=f"消息 message {i} " * 5).message
    context_for_prompt(conversation_id=conv.pk, up_to_seq=last.seq)
    timings = []
    for _ in range(samples):
        started = time.perf_counter()
        context_for_prompt(conversation_id=conv.pk, up_to_seq=last.seq, limit=20)
        timings.append((time.perf_counter() - started) * 1000)
    return {"samples": samples, "messages": 20, "ms": summary(timings)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument(
        "--processes",
        type=int,
        default=os.cpu_count() or 2,
        help="bot processes of the multi-process phase (default: one per core)",
    )
    parser.add_argument("--open-rate", type=float, default=150.0, help="Poisson arrivals/s for open-loop latency")
    parser.add_argument("--streams", type=int, default=500)
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))

    result: dict = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}}
    with fake_openai("--tokens", "6") as fast, asyncio.Runner(loop_factory=new_loop) as runner:
        # The worker's bot loop is built by bots.runtime.new_loop (uvloop): measure on the same kind.
        result["engine_instant"] = runner.run(engine_instant(fast, args.answers, args.concurrency, args.open_rate))
        runner.run(close_http_clients())
        print(json.dumps({"engine_instant": result["engine_instant"]}, ensure_ascii=False, indent=1))
        if args.processes > 1:
            result["engine_processes"] = engine_processes(fast, args.processes, args.answers, args.concurrency)
            print(json.dumps({"engine_processes": result["engine_processes"]}, ensure_ascii=False, indent=1))
    with (
        fake_openai("--tokens", "60", "--first-token-delay", "0.3", "--tps", "30") as slow,
        asyncio.Runner(loop_factory=new_loop) as runner,
    ):
        result["engine_paced"] = runner.run(engine_paced(slow, args.streams))
        runner.run(close_http_clients())
    print(json.dumps({"engine_paced": result["engine_paced"]}, ensure_ascii=False, indent=1))
    result["whole_turns"] = whole_turns(args.turns, args.threads)
    result["prompt_context"] = prompt_context()
    print(json.dumps({"prompt_context": result["prompt_context"]}, ensure_ascii=False, indent=1))
    print(json.dumps({"whole_turns": result["whole_turns"]}, ensure_ascii=False, indent=1))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, ensure_ascii=False, indent=1))
    print(f"written {RESULTS}")


if __name__ == "__main__":
    main()
