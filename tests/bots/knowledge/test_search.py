"""BM25 ranking, fusion, FAQ matching, tenant isolation and index invalidation."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from bots.knowledge import index as index_module
from bots.knowledge import services
from bots.knowledge.bm25 import Bm25Index
from bots.knowledge.search import kb_search, rrf
from bots.knowledge.text import tokenize
from kefu.errors import NotFound
from tests.factories import TenantFactory


def test_bm25_prefers_rare_terms_and_shorter_documents() -> None:
    docs = [
        "退款 需要 在 七天 内 申请",
        "发票 在 订单 页面 申请",
        "退款 说明 以及 很多 其他 无关 内容 比如 物流 仓库 包装 门店 会员 积分",
        "订单 页面 说明",
    ]
    index = Bm25Index([tokenize(d) for d in docs])
    hits = index.search(tokenize("怎么申请发票"), k=4)
    assert hits.indices[0] == 1
    hits = index.search(tokenize("退款"), k=4)
    assert list(hits.indices[:2]) == [0, 2]  # same term, the short document first
    assert 0 < hits.coverage[0] <= 1.0
    assert index.search(tokenize("周末打球"), k=4).indices.size == 0


def test_rrf_rewards_agreement() -> None:
    fused = rrf([[("chunk", 1), ("chunk", 2), ("chunk", 3)], [("chunk", 3), ("chunk", 1)]], k=60)
    ranked = sorted(fused, key=fused.get, reverse=True)
    assert ranked == [("chunk", 1), ("chunk", 3), ("chunk", 2)]
    assert fused[("chunk", 1)] == pytest.approx(1 / 61 + 1 / 62)


def test_faq_match_uses_question_alternates_and_answer(kb, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    refund = run_on_commit(
        services.faq_create,
        knowledge_base=kb,
        question="怎么申请退款?",
        answer="在订单页点击申请退款,七天内原路退回。",
        alternates=["能退钱吗"],
    )
    invoice = run_on_commit(
        services.faq_create, knowledge_base=kb, question="如何开发票?", answer="在订单详情页申请电子发票。"
    )
    hits = kb_search(tenant=kb.tenant, knowledge_base_ids=[kb.pk], query="我想退钱")
    assert hits[0].type == "faq" and hits[0].id == refund.pk
    hits = kb_search(tenant=kb.tenant, knowledge_base_ids=[kb.pk], query="电子发票在哪里申请")
    assert hits[0].id == invoice.pk
    assert hits[0].confidence > 0.5
    assert hits[0].as_source()["title"] == "如何开发票?"


def test_disabled_faq_is_not_found(kb, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    entry = run_on_commit(services.faq_create, knowledge_base=kb, question="营业时间?", answer="早九晚六。")
    assert kb_search(tenant=kb.tenant, knowledge_base_ids=[kb.pk], query="营业时间")
    run_on_commit(services.faq_update, entry=entry, enabled=False)
    assert kb_search(tenant=kb.tenant, knowledge_base_ids=[kb.pk], query="营业时间") == []


def test_tenant_b_cannot_search_tenant_a(kb, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    run_on_commit(services.faq_create, knowledge_base=kb, question="内部折扣码?", answer="SECRET-42")
    other = TenantFactory()
    with pytest.raises(NotFound):
        kb_search(tenant=other, knowledge_base_ids=[kb.pk], query="折扣码")
    own = run_on_commit(services.knowledge_base_create, tenant=other, name="B")
    with pytest.raises(NotFound):  # one foreign id poisons the whole request
        kb_search(tenant=other, knowledge_base_ids=[own.pk, kb.pk], query="折扣码")
    assert kb_search(tenant=other, knowledge_base_ids=[own.pk], query="折扣码") == []


def test_index_is_cached_and_invalidated_on_change(kb, run_on_commit, django_assert_num_queries) -> None:  # type: ignore[no-untyped-def]
    run_on_commit(services.faq_create, knowledge_base=kb, question="营业时间?", answer="早九晚六。")
    kb_search(tenant=kb.tenant, knowledge_base_ids=[kb.pk], query="营业时间")
    with django_assert_num_queries(1):  # only the tenant check; the index comes from memory
        kb_search(tenant=kb.tenant, knowledge_base_ids=[kb.pk], query="营业时间")
    run_on_commit(services.faq_create, knowledge_base=kb, question="支持开发票吗?", answer="支持电子发票。")
    hits = kb_search(tenant=kb.tenant, knowledge_base_ids=[kb.pk], query="开发票")
    assert hits and hits[0].title == "支持开发票吗?"


def test_another_process_bumping_the_version_forces_a_rebuild(kb, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    entry = run_on_commit(services.faq_create, knowledge_base=kb, question="营业时间?", answer="早九晚六。")
    first = index_module.get_indexes([kb])[0]
    assert index_module.get_indexes([kb])[0] is first
    # Another process changed the row and bumped the shared counter; this process
    # still holds its old index object.
    type(entry).objects.filter(pk=entry.pk).update(question="周末营业吗?")
    cache.incr(f"kb:version:{kb.pk}")
    rebuilt = index_module.get_indexes([kb])[0]
    assert rebuilt is not first
    assert rebuilt.faqs.questions == ["周末营业吗?"]


def test_ttl_bounds_staleness(kb, run_on_commit, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    run_on_commit(services.faq_create, knowledge_base=kb, question="营业时间?", answer="早九晚六。")
    first = index_module.get_indexes([kb])[0]
    monkeypatch.setattr(index_module, "INDEX_TTL_SECONDS", 0.0)
    assert index_module.get_indexes([kb])[0] is not first


def test_chunk_search_returns_document_passages(kb, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    doc = run_on_commit(
        services.document_create,
        knowledge_base=kb,
        title="物流说明",
        text="# 配送\n我们使用顺丰配送，一般两天送达。\n# 售后\n质量问题可以免费换货。",
        source_type="markdown",
    )
    hits = kb_search(tenant=kb.tenant, knowledge_base_ids=[kb.pk], query="用什么快递配送")
    assert hits[0].type == "chunk"
    assert hits[0].title == "物流说明 > 配送"
    assert "顺丰" in hits[0].snippet
    assert hits[0].id in set(doc.chunks.values_list("pk", flat=True))


@pytest.mark.django_db(transaction=True)
def test_large_index_is_rebuilt_in_the_background(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import time

    monkeypatch.setattr(index_module, "BACKGROUND_REBUILD_CHUNKS", 1)
    tenant = TenantFactory()
    kb = services.knowledge_base_create(tenant=tenant, name="big")
    doc = services.document_create(knowledge_base=kb, title="t", text="旧政策：周一发货。")
    first = index_module.get_indexes([kb])[0]
    assert first.chunks.texts == ["旧政策：周一发货。"]
    services.document_update_text(document=type(doc).objects.get(pk=doc.pk), text="新政策：当天发货。")
    # The old index keeps answering while the new one is built.
    served = index_module.get_indexes([kb])[0]
    assert served is first or served.chunks.texts == ["新政策：当天发货。"]
    deadline = time.monotonic() + 30
    while index_module.get_indexes([kb])[0].chunks.texts != ["新政策：当天发货。"]:
        assert time.monotonic() < deadline, "background rebuild never landed"
        time.sleep(0.05)


def test_pgvector_detection_never_fails(db) -> None:  # type: ignore[no-untyped-def]
    from django.db import connection

    from bots.knowledge.vectorstore import pgvector_available

    pgvector_available.cache_clear()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'")
            expected = cursor.fetchone() is not None
        else:
            expected = False
    assert pgvector_available() is expected
