"""Measure retrieval quality: load a FAQ set into a scratch tenant, rank paraphrases, print hit@k and MRR.

The scratch data lives in a transaction that is rolled back, so nothing is left behind.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from bots.knowledge import services
from bots.knowledge.answer import ANSWER_CANDIDATES, choose_answer
from bots.knowledge.index import clear_local_indexes, get_indexes
from bots.knowledge.search import search_indexes
from kefu.models import Tenant

_CJK = re.compile(r"[\u3400-\u9fff]")


class _Rollback(Exception):
    pass


def language_of(text: str) -> str:
    return "zh" if _CJK.search(text) else "en"


def metrics(ranks: list[int | None]) -> dict[str, float]:
    n = len(ranks) or 1
    return {
        "n": len(ranks),
        "hit@1": sum(1 for r in ranks if r == 1) / n,
        "hit@3": sum(1 for r in ranks if r is not None and r <= 3) / n,
        "mrr": sum(1.0 / r for r in ranks if r) / n,
    }


class Command(BaseCommand):
    help = "Evaluate knowledge-base retrieval on a JSON file of FAQ entries and paraphrased queries."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument("--json", action="store_true", help="Print the figures as JSON.")
        parser.add_argument("--verbose-misses", action="store_true", help="List queries not ranked first.")
        parser.add_argument(
            "--details", action="store_true", help="With --json: each query's rank, chosen answer and confidence."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            data = json.loads(options["path"].read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot read {options['path']}: {exc}") from exc
        try:
            with transaction.atomic():
                result = self._evaluate(data, options["verbose_misses"], options["details"])
                raise _Rollback
        except _Rollback:
            pass
        finally:
            clear_local_indexes()
        if options["json"]:
            self.stdout.write(json.dumps(result, ensure_ascii=False, indent=2))
            return
        for name in ["overall", *sorted(k for k in result if k != "overall")]:
            m = result[name]
            self.stdout.write(
                f"{name:8s} n={m['n']:3d}  hit@1={m['hit@1']:.3f}  hit@3={m['hit@3']:.3f}  MRR={m['mrr']:.3f}"
            )

    def _evaluate(self, data: dict, verbose: bool, details: bool = False) -> dict[str, Any]:
        tenant = Tenant.objects.create(name="kb-eval scratch", slug="kb-eval-scratch-tenant")
        kb = services.knowledge_base_create(tenant=tenant, name="eval")
        ids: dict[int, str] = {}
        for item in data["faq"]:
            entry = services.faq_create(
                knowledge_base=kb,
                question=item["q"],
                answer=item["a"],
                alternates=item.get("alternates") or [],
            )
            ids[entry.pk] = str(item["id"])
        clear_local_indexes()
        indexes = get_indexes([kb])
        ranks_by_lang: dict[str, list[int | None]] = defaultdict(list)
        rows: list[dict[str, Any]] = []
        for query in data["queries"]:
            hits = search_indexes(indexes, query["q"], k=len(ids))
            ranking = [ids[h.id] for h in hits if h.type == "faq"]
            rank = ranking.index(query["expect"]) + 1 if query["expect"] in ranking else None
            if query["expect"] is not None:  # None: nothing answers it (only --details reports it)
                ranks_by_lang[language_of(query["q"])].append(rank)
            # What the bot would answer (kb_answer looks at the top 8), before the threshold.
            chosen = choose_answer(hits[:ANSWER_CANDIDATES], threshold=0.0)
            best = chosen.sources[0]["id"] if chosen.sources else None
            rows.append(
                {
                    "q": query["q"],
                    "expect": query["expect"],
                    "lang": language_of(query["q"]),
                    "rank": rank,
                    "answer": ids.get(best) if best is not None else None,
                    "confidence": chosen.confidence,
                }
            )
            if verbose and rank != 1 and query["expect"] is not None:
                self.stdout.write(f"  miss (rank {rank}): {query['q']} -> {ranking[:3]} expected {query['expect']}")
        all_ranks = [r for ranks in ranks_by_lang.values() for r in ranks]
        result: dict[str, Any] = {"overall": metrics(all_ranks)}
        result.update({lang: metrics(ranks) for lang, ranks in ranks_by_lang.items()})
        if details:
            result["details"] = rows
        return result
