"""Knowledge-base search latency at 1k, 10k and 100k chunks of synthetic Chinese + English text.

Run: python -m bench.kb_search [--sizes 1000,10000,100000] [--queries 1000]
Prints p50/p90/p99 per size and writes bench/results/kb_search.json. The index is
built in memory the way the per-process cache builds it (no database rows), then
queried through the same search path kb_search uses after its tenant check.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import time
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kefu.settings")
os.environ.setdefault("LOG_FORMAT", "console")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402

from bots.knowledge.index import KbIndex, build_chunk_index, build_faq_index  # noqa: E402
from bots.knowledge.search import search_indexes  # noqa: E402

ZH_WORDS = (
    "订单 退款 发票 物流 快递 配送 会员 积分 优惠券 账号 密码 登录 注册 手机 验证码 支付 微信 支付宝 银行卡 余额 "
    "提现 客服 人工 投诉 售后 换货 维修 保修 质量 价格 活动 折扣 库存 发货 签收 地址 修改 取消 订阅 续费 套餐 "
    "坐席 插件 网站 渠道 机器人 知识库 导出 报表 数据 安全 权限 管理员 团队 成员 邀请 设置 通知 邮件 短信 接口 "
    "密钥 部署 服务器 版本 升级 试用 合同 企业 个人 实名 认证 审核 规则 流程 时间 周末 节假日 工作日 营业 门店"
).split()
ZH_GLUE = "的 了 在 可以 需要 如果 请 您 我们 已经 将 会 并 后 时 对 从".split()
EN_WORDS = (
    "order refund invoice shipping delivery member points coupon account password login signup phone code payment "
    "wallet balance withdraw agent human complaint return exchange repair warranty quality price discount stock ship "
    "address change cancel subscription renew plan seat widget website channel bot knowledge export report data "
    "security permission admin team invite settings notification email sms api key deploy server version upgrade "
    "trial contract business verify review rule process weekend holiday store hours"
).split()


def make_text(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(3, 6)):
        if rng.random() < 0.7:
            words = [rng.choice(ZH_WORDS if rng.random() < 0.75 else ZH_GLUE) for _ in range(rng.randint(6, 14))]
            parts.append("".join(words) + rng.choice("。！？；"))
        else:
            words = [rng.choice(EN_WORDS) for _ in range(rng.randint(6, 14))]
            parts.append(" ".join(words).capitalize() + ". ")
    return "".join(parts)


def make_query(rng: random.Random) -> str:
    if rng.random() < 0.7:
        return "".join(rng.choice(ZH_WORDS) for _ in range(rng.randint(2, 4))) + rng.choice(["吗", "怎么办", "?"])
    return "how do I " + " ".join(rng.choice(EN_WORDS) for _ in range(rng.randint(2, 4)))


def percentile(values: list[float], p: float) -> float:
    return float(np.percentile(np.asarray(values), p))


def bench_size(size: int, queries: int, seed: int) -> dict:
    rng = random.Random(seed + size)
    texts = [make_text(rng) for _ in range(size)]
    faq_questions = [make_query(rng) for _ in range(200)]
    started = time.perf_counter()
    chunks = build_chunk_index(
        list(range(size)),
        [i // 20 for i in range(size)],
        [f"doc {i // 20}" for i in range(size)],
        ["" for _ in range(size)],
        texts,
        [None] * size,
    )
    faqs = build_faq_index(
        faq_questions,
        [[] for _ in faq_questions],
        [make_text(rng) for _ in faq_questions],
        list(range(len(faq_questions))),
        [None] * len(faq_questions),
    )
    build_seconds = time.perf_counter() - started
    index = KbIndex(tenant_id=1, kb_id=1, version=0, built_at=time.monotonic(), faqs=faqs, chunks=chunks)
    query_texts = [make_query(rng) for _ in range(queries)]
    for text in query_texts[:50]:  # warm caches (jieba dictionary, numpy paths)
        search_indexes([index], text, k=5)
    latencies = []
    cpu = []  # this thread's CPU time: what the search costs when the machine is shared
    empty = 0
    load_before = os.getloadavg()[0]
    for text in query_texts:
        c0, t0 = time.thread_time_ns(), time.perf_counter_ns()
        hits = search_indexes([index], text, k=5)
        latencies.append((time.perf_counter_ns() - t0) / 1e6)
        cpu.append((time.thread_time_ns() - c0) / 1e6)
        empty += not hits
    return {
        "chunks": size,
        "faq_entries": len(faq_questions),
        "queries": queries,
        "queries_without_hits": empty,
        "build_seconds": round(build_seconds, 2),
        "vocabulary": len(chunks.index.vocab),
        "postings": chunks.index.nnz,
        "p50_ms": round(percentile(latencies, 50), 3),
        "p90_ms": round(percentile(latencies, 90), 3),
        "p99_ms": round(percentile(latencies, 99), 3),
        "max_ms": round(max(latencies), 3),
        "cpu_p50_ms": round(percentile(cpu, 50), 3),
        "cpu_p90_ms": round(percentile(cpu, 90), 3),
        "cpu_p99_ms": round(percentile(cpu, 99), 3),
        "load_average_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "kb_search.json"))
    args = parser.parse_args()
    results = []
    for size in [int(s) for s in args.sizes.split(",")]:
        result = bench_size(size, args.queries, args.seed)
        results.append(result)
        print(
            f"{size:>7} chunks  build {result['build_seconds']:6.1f} s  "
            f"p50 {result['p50_ms']:6.2f} ms  p90 {result['p90_ms']:6.2f} ms  p99 {result['p99_ms']:6.2f} ms  "
            f"max {result['max_ms']:6.2f} ms | CPU p50 {result['cpu_p50_ms']:.2f} p99 {result['cpu_p99_ms']:.2f} ms "
            f"| load {result['load_average_1m']}  (target p99 < 20 ms at 100k)",
            flush=True,
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "benchmark": "kb_search",
                "what": "search_indexes over FAQ (200 entries) + chunk BM25, keyword only, k=5, one thread",
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "platform": platform.platform(),
                },
                "load_average": os.getloadavg(),
                "results": results,
            },
            indent=2,
        )
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
