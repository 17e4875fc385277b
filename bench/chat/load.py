"""Client side of the benchmark: sockets, open-loop Poisson senders, latency bookkeeping.

Only 127.0.0.1 is ever targeted; every phase is bounded in socket count and time.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import multiprocessing as mp
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import websockets

HOST = "127.0.0.1"


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summarize_ms(latencies: list[float]) -> dict[str, Any]:
    ms = [v * 1000 for v in latencies]
    return {
        "count": len(ms),
        "p50_ms": percentile(ms, 50),
        "p90_ms": percentile(ms, 90),
        "p99_ms": percentile(ms, 99),
        "max_ms": max(ms) if ms else None,
        "mean_ms": sum(ms) / len(ms) if ms else None,
    }


async def _connect(url: str, origin: str, headers: dict[str, str] | None = None):
    assert url.startswith(f"ws://{HOST}:")
    return await websockets.connect(
        url,
        origin=origin,
        additional_headers=headers,
        compression=None,
        open_timeout=30,
        max_size=2**20,
        ping_interval=None,
    )


async def _first(ws, kind: str, timeout: float = 30) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=max(0.01, deadline - loop.time())))
        if frame.get("type") == kind:
            return frame
        if frame.get("type") == "error":
            raise RuntimeError(f"error frame: {frame}")


async def open_visitor(ws_base: str, origin: str, token: str):
    ws = await _connect(f"{ws_base}/ws/visitor/", origin)
    await ws.send(json.dumps({"type": "hello", "v": 1, "token": token}))
    await _first(ws, "welcome")
    return ws


async def open_agent(ws_base: str, session_key: str):
    http = ws_base.replace("ws://", "http://")
    ws = await _connect(f"{ws_base}/ws/agent/", http, {"Cookie": f"sessionid={session_key}"})
    await _first(ws, "welcome")
    return ws


@dataclass
class Tally:
    pending: dict[str, float] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    ack_pending: dict[str, float] = field(default_factory=dict)
    ack_latencies: list[float] = field(default_factory=list)
    deliveries: int = 0
    errors: list[str] = field(default_factory=list)
    sent: int = 0
    lag: list[float] = field(default_factory=list)

    def error(self, text: str) -> None:
        if len(self.errors) < 50:
            self.errors.append(text[:200])
        else:
            self.errors.append("…")
            del self.errors[50:-1]


async def _reader(ws, role: str, tally: Tally, closed_ok: asyncio.Event) -> None:
    try:
        async for raw in ws:
            now = time.perf_counter()
            frame = json.loads(raw)
            kind = frame.get("type")
            if kind == "message":
                tally.deliveries += 1
                message = frame["message"]
                if message.get("sender_type") == role:
                    continue
                sent_at = tally.pending.pop(message.get("client_msg_id") or "", None)
                if sent_at is not None:
                    tally.latencies.append(now - sent_at)
            elif kind == "ack":
                sent_at = tally.ack_pending.pop(frame.get("client_msg_id") or "", None)
                if sent_at is not None:
                    tally.ack_latencies.append(now - sent_at)
            elif kind == "error":
                tally.error(f"{role}: {frame.get('code')} {frame.get('ref')}")
    except websockets.ConnectionClosed as exc:
        if not closed_ok.is_set():
            tally.error(f"{role} socket closed: {exc.rcvd.code if exc.rcvd else None}")


async def poisson(rate: float, duration: float, fire) -> None:
    """Open loop: send times are drawn in advance and never wait for replies."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    next_at = start
    while True:
        next_at += random.expovariate(rate)
        if next_at - start > duration:
            return
        delay = next_at - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        await fire(max(0.0, -delay))


async def chat_load(
    *,
    servers: list[str],
    origin: str,
    visitors: list[tuple[int, int, str]],
    agents: list[tuple[int, str, list[int]]],
    rate: float,
    duration: float,
    connect_concurrency: int,
    server_cpu_s: Callable[[], float] | None = None,
    cpu_meters: dict[str, Callable[[], float]] | None = None,
) -> dict[str, Any]:
    """`server_cpu_s` (the servers' CPU seconds so far) lets the result split off the
    CPU of the send window from that of connecting the sockets; `cpu_meters` do the same
    for the other CPU consumers (database, Redis, the whole machine)."""
    tally = Tally()
    closing = asyncio.Event()
    sem = asyncio.Semaphore(connect_concurrency)
    rr = itertools.count()

    async def one_visitor(v):
        async with sem:
            return v, await open_visitor(servers[next(rr) % len(servers)], origin, v[2])

    async def one_agent(a):
        async with sem:
            return a, await open_agent(servers[next(rr) % len(servers)], a[1])

    t0 = time.perf_counter()
    agent_socks = await asyncio.gather(*(one_agent(a) for a in agents))
    t_agents = time.perf_counter() - t0
    t0 = time.perf_counter()
    visitor_socks = await asyncio.gather(*(one_visitor(v) for v in visitors), return_exceptions=True)
    t_visitors = time.perf_counter() - t0
    connect_errors = [repr(x)[:200] for x in visitor_socks if isinstance(x, BaseException)]
    visitor_socks = [x for x in visitor_socks if not isinstance(x, BaseException)]
    readers = [asyncio.create_task(_reader(ws, "visitor", tally, closing)) for _, ws in visitor_socks]
    readers += [asyncio.create_task(_reader(ws, "agent", tally, closing)) for _, ws in agent_socks]
    conv_agent_ws = {}
    for (_agent_id, _session, conv_ids), ws in agent_socks:
        for conv_id in conv_ids:
            conv_agent_ws[conv_id] = ws
    counter = itertools.count()
    connected_visitors = [(v, ws) for v, ws in visitor_socks]

    async def fire(lag: float) -> None:
        tally.lag.append(lag)
        (visitor_id, conv_id, _token), vws = random.choice(connected_visitors)
        msg_id = f"b{next(counter)}"
        if random.random() < 0.5:
            frame = {"type": "send", "client_msg_id": msg_id, "kind": "text", "body": f"visitor says {msg_id}"}
            ws = vws
        else:
            ws = conv_agent_ws.get(conv_id)
            if ws is None:
                return
            frame = {
                "type": "send",
                "conversation_id": conv_id,
                "client_msg_id": msg_id,
                "kind": "text",
                "body": f"agent says {msg_id}",
            }
        tally.pending[msg_id] = tally.ack_pending[msg_id] = time.perf_counter()
        tally.sent += 1
        try:
            await ws.send(json.dumps(frame))
        except websockets.ConnectionClosed:
            tally.error("send on closed socket")

    cpu_before = server_cpu_s() if server_cpu_s else 0.0
    meters_before = {name: meter() for name, meter in (cpu_meters or {}).items()}
    t0 = time.perf_counter()
    await poisson(rate, duration, fire)
    send_window = time.perf_counter() - t0
    drain_deadline = time.perf_counter() + 15
    while tally.pending and time.perf_counter() < drain_deadline:
        await asyncio.sleep(0.1)
    elapsed = time.perf_counter() - t0
    window_cpu = server_cpu_s() - cpu_before if server_cpu_s else None
    meters = {name: meter() - meters_before[name] for name, meter in (cpu_meters or {}).items()}
    closing.set()
    for _, ws in [*visitor_socks, *agent_socks]:
        await ws.close()
    for task in readers:
        task.cancel()
    return {
        "visitor_sockets": len(visitor_socks),
        "agent_sockets": len(agent_socks),
        "connect_seconds_visitors": round(t_visitors, 3),
        "connect_rate_per_s": round(len(visitor_socks) / t_visitors, 1) if t_visitors else None,
        "connect_seconds_agents": round(t_agents, 3),
        "connect_errors": connect_errors[:20],
        "connect_error_count": len(connect_errors),
        "target_rate_per_s": rate,
        "duration_s": duration,
        "sent": tally.sent,
        "achieved_send_rate_per_s": round(tally.sent / send_window, 1),
        "received": len(tally.latencies),
        "lost_or_late": len(tally.pending),
        "deliveries": tally.deliveries,
        "deliveries_per_s": round(tally.deliveries / elapsed, 1),
        "latency": summarize_ms(tally.latencies),
        "ack_latency": summarize_ms(tally.ack_latencies),
        "generator_lag_p99_ms": (percentile(tally.lag, 99) or 0) * 1000,
        # Servers' CPU from the first send until every message arrived, per message sent.
        "send_window_server_cpu_s": round(window_cpu, 2) if window_cpu is not None else None,
        "server_cpu_ms_per_message": round(1000 * window_cpu / tally.sent, 3) if window_cpu and tally.sent else None,
        "cpu_ms_per_message": {name: round(1000 * used / tally.sent, 3) for name, used in meters.items()}
        if tally.sent
        else {},
        "machine_busy_percent": round(100 * meters["machine"] / elapsed / (os.cpu_count() or 1), 1)
        if "machine" in meters
        else None,
        "errors": tally.errors[:20],
        "error_count": len(tally.errors),
    }


async def echo_load(*, servers: list[str], pairs: int, rate: float, duration: float) -> dict[str, Any]:
    tally = Tally()
    closing = asyncio.Event()
    socks = []
    for i in range(pairs):
        a = await _connect(f"{servers[0]}/echo/p{i}/", "http://bench.test")
        b = await _connect(f"{servers[-1]}/echo/p{i}/", "http://bench.test")
        socks.append((a, b))
    readers = []
    for a, b in socks:
        readers.append(asyncio.create_task(_echo_reader(a, tally, closing)))
        readers.append(asyncio.create_task(_echo_reader(b, tally, closing)))
    await asyncio.sleep(0.5)
    counter = itertools.count()

    async def fire(lag: float) -> None:
        tally.lag.append(lag)
        a, b = random.choice(socks)
        ws = a if random.random() < 0.5 else b
        msg_id = f"e{next(counter)}"
        tally.pending[msg_id] = time.perf_counter()
        tally.sent += 1
        await ws.send(json.dumps({"type": "send", "client_msg_id": msg_id, "body": f"echo {msg_id}"}))

    t0 = time.perf_counter()
    await poisson(rate, duration, fire)
    send_window = time.perf_counter() - t0
    deadline = time.perf_counter() + 10
    while tally.pending and time.perf_counter() < deadline:
        await asyncio.sleep(0.1)
    elapsed = time.perf_counter() - t0
    closing.set()
    for a, b in socks:
        await a.close()
        await b.close()
    for task in readers:
        task.cancel()
    return {
        "pairs": pairs,
        "target_rate_per_s": rate,
        "sent": tally.sent,
        "achieved_send_rate_per_s": round(tally.sent / send_window, 1),
        "received": len(tally.latencies),
        "lost_or_late": len(tally.pending),
        "deliveries_per_s": round(tally.deliveries / elapsed, 1),
        "latency": summarize_ms(tally.latencies),
        "error_count": len(tally.errors),
    }


async def _echo_reader(ws, tally: Tally, closing: asyncio.Event) -> None:
    try:
        async for raw in ws:
            now = time.perf_counter()
            frame = json.loads(raw)
            tally.deliveries += 1
            sent_at = tally.pending.pop(frame.get("client_msg_id", ""), None)
            if sent_at is not None:
                tally.latencies.append(now - sent_at)
    except websockets.ConnectionClosed:
        if not closing.is_set():
            tally.error("echo socket closed")


async def reconnect_storm(
    *, servers: list[str], origin: str, tokens: list[str], total: int, concurrency: int, time_limit: float
) -> dict[str, Any]:
    errors: list[str] = []
    done = 0
    counter = itertools.count()
    loop = asyncio.get_running_loop()
    stop_at = loop.time() + time_limit

    async def worker() -> None:
        nonlocal done
        while loop.time() < stop_at:
            i = next(counter)
            if i >= total:
                return
            try:
                ws = await open_visitor(servers[i % len(servers)], origin, tokens[i % len(tokens)])
                await ws.close()
                done += 1
            except Exception as exc:
                errors.append(repr(exc)[:200])

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - t0
    return {
        "target": total,
        "completed": done,
        "seconds": round(elapsed, 2),
        "rate_per_s": round(done / elapsed, 1) if elapsed else None,
        "error_count": len(errors),
        "errors": errors[:10],
        "time_limit_s": time_limit,
    }


# --- idle sockets, spread over child processes (one process cannot hold 20k fds here) ----


def _idle_child(servers: list[str], origin: str, tokens: list[str], concurrency: int, conn) -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    async def run() -> None:
        sem = asyncio.Semaphore(concurrency)
        errors: list[str] = []
        socks = []

        async def one(i: int, token: str) -> None:
            async with sem:
                try:
                    socks.append(await open_visitor(servers[i % len(servers)], origin, token))
                except Exception as exc:
                    errors.append(repr(exc)[:200])

        t0 = time.perf_counter()
        await asyncio.gather(*(one(i, t) for i, t in enumerate(tokens)))
        conn.send(
            {
                "connected": len(socks),
                "errors": len(errors),
                "error_samples": errors[:5],
                "seconds": time.perf_counter() - t0,
            }
        )
        await loop.run_in_executor(None, conn.recv)  # hold until the parent has measured
        for ws in socks:
            await ws.close()
        conn.send("closed")

    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.run_until_complete(run())


def idle_hold(*, servers: list[str], origin: str, tokens: list[str], children: int, concurrency: int, measure):
    """Connect all tokens as idle visitor sockets, call measure() while they are held, then close."""
    ctx = mp.get_context("spawn")
    shares = [tokens[i::children] for i in range(children)]
    pipes, procs = [], []
    for share in shares:
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_idle_child, args=(servers, origin, share, concurrency, child), daemon=True)
        proc.start()
        pipes.append(parent)
        procs.append(proc)
    t0 = time.perf_counter()
    reports = [p.recv() for p in pipes]
    connect_seconds = time.perf_counter() - t0
    measured = measure()
    for p in pipes:
        p.send("close")
    for p in pipes:
        if p.poll(60):
            p.recv()
    for proc in procs:
        proc.join(timeout=30)
        if proc.is_alive():
            proc.terminate()
    connected = sum(r["connected"] for r in reports)
    return {
        "target": len(tokens),
        "connected": connected,
        "errors": sum(r["errors"] for r in reports),
        "error_samples": [e for r in reports for e in r["error_samples"]][:10],
        "connect_seconds": round(connect_seconds, 2),
        "connect_rate_per_s": round(connected / connect_seconds, 1) if connect_seconds else None,
        **measured,
    }
