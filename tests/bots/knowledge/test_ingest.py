"""Ingestion through the Celery task (eager mode): formats, progress, failures, re-ingest, delete."""

from __future__ import annotations

import pytest
from django.utils import translation

from bots.knowledge import services, tasks
from bots.knowledge.models import Chunk, Document, DocumentStatus, FaqEntry
from bots.knowledge.search import kb_search
from tests.bots.knowledge.files import make_docx, make_pdf, make_xlsx


def _reload(doc: Document) -> Document:
    return Document.objects.get(pk=doc.pk)


def test_pasted_text_is_ingested_by_the_task(kb, run_on_commit, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    calls = []
    real = tasks.document_ingest.run
    monkeypatch.setattr(
        tasks.document_ingest, "run", lambda document_id: calls.append(document_id) or real(document_id)
    )
    doc = run_on_commit(
        services.document_create, knowledge_base=kb, title="退款", text="七天无理由退款。质量问题包运费。"
    )
    doc = _reload(doc)
    assert calls == [doc.pk]
    assert doc.status == DocumentStatus.READY
    assert doc.progress == 100 and doc.attempts == 1
    assert doc.ingested_hash == doc.content_hash != ""
    chunk = doc.chunks.get()
    assert chunk.text == "七天无理由退款。质量问题包运费。"
    assert chunk.token_count == 14 and chunk.tenant_id == kb.tenant_id and chunk.embedding is None


def test_task_is_idempotent(kb, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    doc = run_on_commit(services.document_create, knowledge_base=kb, title="t", text="一句话。")
    chunk_ids = list(Chunk.objects.filter(document=doc).values_list("pk", flat=True))
    assert tasks.document_ingest.apply(args=(doc.pk,)).get() == DocumentStatus.READY
    assert list(Chunk.objects.filter(document=doc).values_list("pk", flat=True)) == chunk_ids
    assert _reload(doc).attempts == 1
    assert tasks.document_ingest.apply(args=(987654321,)).get() == "missing"


@pytest.mark.parametrize(
    ("filename", "data", "expected"),
    [
        ("guide.pdf", make_pdf(["Returns are free within 30 days."]), "Returns are free within 30 days."),
        (
            "guide.docx",
            make_docx([("h1", "Returns"), ("p", "Returns are free within 30 days.")]),
            "Returns are free within 30 days.",
        ),
        ("guide.html", b"<h1>Returns</h1><p>Returns are free within 30 days.</p>", "Returns are free within 30 days."),
        ("guide.md", b"# Returns\nReturns are free within 30 days.", "Returns are free within 30 days."),
    ],
)
def test_file_formats_end_to_end(kb, run_on_commit, filename, data, expected) -> None:  # type: ignore[no-untyped-def]
    doc = _reload(run_on_commit(services.document_create, knowledge_base=kb, data=data, filename=filename))
    assert doc.status == DocumentStatus.READY, doc.error_reason
    assert expected in " ".join(doc.chunks.values_list("text", flat=True))
    hits = kb_search(tenant=kb.tenant, knowledge_base_ids=[kb.pk], query="free returns")
    assert hits and hits[0].type == "chunk"


@pytest.mark.parametrize(
    ("filename", "data", "code"),
    [
        ("broken.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog >> trash", "corrupt"),
        ("empty.txt", b"", "empty"),
        ("image.png", b"\x89PNG\r\n\x1a\nxxxx", "unsupported"),
        ("archive.docx", b"PK\x03\x04garbage", "corrupt"),
    ],
)
def test_bad_input_fails_only_that_document(kb, run_on_commit, filename, data, code) -> None:  # type: ignore[no-untyped-def]
    good = run_on_commit(services.document_create, knowledge_base=kb, title="ok", text="正常文档。")
    bad = _reload(run_on_commit(services.document_create, knowledge_base=kb, data=data, filename=filename))
    assert bad.status == DocumentStatus.FAILED
    assert bad.error_code == code
    assert not bad.chunks.exists()
    assert _reload(good).status == DocumentStatus.READY and good.chunks.count() == 1
    with translation.override("en"):
        english = bad.error_reason
    with translation.override("zh-hans"):
        chinese = bad.error_reason
    assert english and chinese and english != chinese


def test_huge_document_fails_with_the_limit(kb, run_on_commit, settings) -> None:  # type: ignore[no-untyped-def]
    settings.KEFU_KB_MAX_DOCUMENT_BYTES = 1024 * 1024
    doc = run_on_commit(services.document_create, knowledge_base=kb, data=b"a" * (1024 * 1024 + 1), filename="big.txt")
    doc = _reload(doc)
    assert doc.status == DocumentStatus.FAILED and doc.error_code == "too_large"
    with translation.override("en"):
        assert doc.error_reason == "The document is too large (limit 1 MB)."
    with translation.override("zh-hans"):
        assert doc.error_reason == "文档过大(上限 1 MB)。"


def test_reingest_on_change_and_not_otherwise(kb, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    doc = run_on_commit(services.document_create, knowledge_base=kb, title="t", text="旧内容：周一发货。")
    first = list(doc.chunks.values_list("pk", flat=True))
    run_on_commit(services.document_update_text, document=_reload(doc), text="旧内容：周一发货。")
    assert list(doc.chunks.values_list("pk", flat=True)) == first
    run_on_commit(services.document_update_text, document=_reload(doc), text="新内容：当天发货。")
    doc = _reload(doc)
    assert doc.status == DocumentStatus.READY
    assert list(doc.chunks.values_list("text", flat=True)) == ["新内容：当天发货。"]
    hits = kb_search(tenant=kb.tenant, knowledge_base_ids=[kb.pk], query="当天发货")
    assert hits and "当天" in hits[0].text


def test_delete_removes_chunks_and_search_forgets(kb, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    doc = run_on_commit(services.document_create, knowledge_base=kb, title="t", text="保修期一年。")
    assert kb_search(tenant=kb.tenant, knowledge_base_ids=[kb.pk], query="保修期")
    run_on_commit(services.document_delete, document=_reload(doc))
    assert not Chunk.objects.filter(document_id=doc.pk).exists()
    assert kb_search(tenant=kb.tenant, knowledge_base_ids=[kb.pk], query="保修期") == []


def test_attempts_are_bounded(kb, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    doc = run_on_commit(services.document_create, knowledge_base=kb, title="t", text="内容。")
    Document.objects.filter(pk=doc.pk).update(status=DocumentStatus.PROCESSING, attempts=3)
    assert tasks.document_ingest.apply(args=(doc.pk,)).get() == DocumentStatus.FAILED
    assert _reload(doc).error_code == "attempts"


def test_faq_import_csv_then_xlsx_upserts(kb, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    csv_data = "question,answer,alternates\n怎么退款?,七天内可退。,能退钱吗\n营业时间?,早九晚六。,\n".encode()
    result = run_on_commit(services.faq_import, knowledge_base=kb, data=csv_data, filename="faq.csv")
    assert (result.created, result.updated, result.skipped) == (2, 0, 0)
    xlsx = make_xlsx([["question", "answer"], ["营业时间?", "早八晚八。"], ["怎么退款?", "七天内可退。"]])
    result = run_on_commit(services.faq_import, knowledge_base=kb, data=xlsx, filename="faq.xlsx")
    assert (result.created, result.updated, result.skipped) == (0, 2, 0)  # alternates dropped on the refund row
    assert FaqEntry.objects.get(knowledge_base=kb, question="营业时间?").answer == "早八晚八。"
    hits = kb_search(tenant=kb.tenant, knowledge_base_ids=[kb.pk], query="几点营业")
    assert hits[0].text == "早八晚八。"
