"""Embeddings against a fake OpenAI-compatible server: ingestion, FAQ vectors, vector search, fallback."""

from __future__ import annotations

import numpy as np

from bots.knowledge import services
from bots.knowledge.answer import kb_answer
from bots.knowledge.embeddings import query_cache
from bots.knowledge.models import Document, DocumentStatus, FaqEntry
from bots.knowledge.search import kb_search
from tests.fakes.redirect_server import FakeRedirect


def _vector_kb(tenant, server, run_on_commit):  # type: ignore[no-untyped-def]
    return run_on_commit(
        services.knowledge_base_create,
        tenant=tenant,
        name="Vectors",
        embedding_base_url=server.base_url,
        embedding_model="fake-embed",
        embedding_api_key="sk-test",
    )


def test_ingestion_stores_float32_embeddings(tenant, embeddings_server, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    kb = _vector_kb(tenant, embeddings_server, run_on_commit)
    doc = run_on_commit(services.document_create, knowledge_base=kb, title="政策", text="退款在七天内原路返回。")
    doc = Document.objects.get(pk=doc.pk)
    assert doc.status == DocumentStatus.READY
    vector = doc.chunks.get().embedding_vector()
    assert vector is not None and vector.dtype == np.dtype("<f4") and vector.shape == (32,)
    request = embeddings_server.requests[0]
    assert request["path"] == "/v1/embeddings"
    assert request["body"]["model"] == "fake-embed" and request["body"]["encoding_format"] == "float"
    assert request["auth"] == "Bearer sk-test"


def test_vector_search_finds_what_keywords_miss(tenant, embeddings_server, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    query_cache.items.clear()
    kb = _vector_kb(tenant, embeddings_server, run_on_commit)
    run_on_commit(services.document_create, knowledge_base=kb, title="售后", text="退款将在七天内原路返回。")
    run_on_commit(services.document_create, knowledge_base=kb, title="物流", text="我们使用顺丰快递配送。")
    entry = run_on_commit(services.faq_create, knowledge_base=kb, question="可以退款吗?", answer="可以,七天无理由。")
    assert FaqEntry.objects.get(pk=entry.pk).embedding is not None
    hits = kb_search(tenant=tenant, knowledge_base_ids=[kb.pk], query="I want my money back")
    assert {h.type for h in hits[:2]} == {"faq", "chunk"}
    assert all("退款" in h.title + h.text for h in hits[:2])
    answer = kb_answer(tenant=tenant, knowledge_base_ids=[kb.pk], question="I want my money back")
    # An English question, an answer the KB has only in Chinese: the reply says so first.
    assert answer.matched and answer.text == "This answer is only available in Chinese:\n可以,七天无理由。"


def test_keyword_kb_never_calls_the_provider(kb, embeddings_server, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    run_on_commit(services.faq_create, knowledge_base=kb, question="可以退款吗?", answer="可以。")
    assert kb_search(tenant=kb.tenant, knowledge_base_ids=[kb.pk], query="I want my money back") == []
    assert embeddings_server.requests == []


def test_provider_failure_fails_ingestion_but_search_degrades(tenant, embeddings_server, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    query_cache.items.clear()
    kb = _vector_kb(tenant, embeddings_server, run_on_commit)
    run_on_commit(services.faq_create, knowledge_base=kb, question="营业时间?", answer="早九晚六。")
    embeddings_server.fail = True
    doc = run_on_commit(services.document_create, knowledge_base=kb, title="t", text="内容。")
    doc = Document.objects.get(pk=doc.pk)
    assert doc.status == DocumentStatus.FAILED and doc.error_code == "embedding"
    hits = kb_search(tenant=tenant, knowledge_base_ids=[kb.pk], query="营业时间")
    assert hits and hits[0].title == "营业时间?"


def test_private_embeddings_url_is_refused_without_allowlist(
    tenant, embeddings_server, run_on_commit, settings
) -> None:  # type: ignore[no-untyped-def]
    settings.KEFU_OUTBOUND_ALLOWLIST = []
    kb = run_on_commit(
        services.knowledge_base_create,
        tenant=tenant,
        name="SSRF",
        embedding_base_url=embeddings_server.base_url,
        embedding_model="other-model",
    )
    doc = run_on_commit(services.document_create, knowledge_base=kb, title="t", text="内容。")
    doc = Document.objects.get(pk=doc.pk)
    assert doc.status == DocumentStatus.FAILED and doc.error_code == "embedding"
    assert "non-public" in doc.error
    assert embeddings_server.requests == []


def test_embeddings_name_resolving_to_a_private_address_is_refused(
    tenant, embeddings_server, run_on_commit, settings
) -> None:  # type: ignore[no-untyped-def]
    settings.KEFU_OUTBOUND_ALLOWLIST = []
    port = embeddings_server.server.server_address[1]
    kb = run_on_commit(
        services.knowledge_base_create,
        tenant=tenant,
        name="SSRF by name",
        embedding_base_url=f"http://localhost:{port}/v1",
        embedding_model="by-name",
    )
    doc = run_on_commit(services.document_create, knowledge_base=kb, title="t", text="内容。")
    doc = Document.objects.get(pk=doc.pk)
    assert doc.status == DocumentStatus.FAILED and "non-public" in doc.error
    assert embeddings_server.requests == []


def test_embeddings_do_not_follow_a_redirect_to_loopback(tenant, embeddings_server, run_on_commit, settings) -> None:  # type: ignore[no-untyped-def]
    settings.KEFU_OUTBOUND_ALLOWLIST = ["localhost"]  # the redirecting host is allowed, 127.0.0.1 is not
    with FakeRedirect(f"{embeddings_server.base_url}/embeddings") as hop:
        kb = run_on_commit(
            services.knowledge_base_create,
            tenant=tenant,
            name="SSRF by redirect",
            embedding_base_url=f"http://localhost:{hop.port}/v1",
            embedding_model="redirected",
        )
        doc = run_on_commit(services.document_create, knowledge_base=kb, title="t", text="内容。")
        assert hop.requests, "the configured host was asked"
    doc = Document.objects.get(pk=doc.pk)
    assert doc.status == DocumentStatus.FAILED and doc.error_code == "embedding"
    assert embeddings_server.requests == []
