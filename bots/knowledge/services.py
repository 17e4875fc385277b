"""Writes for knowledge bases: documents, ingestion, FAQ entries and imports."""

from __future__ import annotations

import functools
import hashlib
import logging
from dataclasses import dataclass
from pathlib import PurePath

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils.text import get_valid_filename

from bots.knowledge import faq_import as faq_files
from bots.knowledge.chunking import chunk_sections
from bots.knowledge.embeddings import EmbeddingConfig, EmbeddingError, embed_texts, to_bytes
from bots.knowledge.errors import IngestError
from bots.knowledge.index import bump_version_on_commit
from bots.knowledge.models import Chunk, Document, DocumentStatus, FaqEntry, KnowledgeBase, SourceType
from bots.knowledge.parsers import detect_source_type, parse_document
from kefu.errors import InvalidInput
from kefu.models import Tenant

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
DEFAULT_MAX_DOCUMENT_BYTES = 20 * 1024 * 1024


def max_document_bytes() -> int:
    return int(getattr(settings, "KEFU_KB_MAX_DOCUMENT_BYTES", DEFAULT_MAX_DOCUMENT_BYTES))


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _changed(kb: KnowledgeBase) -> None:
    bump_version_on_commit(tenant_id=kb.tenant_id, kb_id=kb.pk)


def _enqueue_ingest(document: Document) -> None:
    from bots.knowledge.tasks import document_ingest

    document_ingest.delay_on_commit(document.pk)


# --- Knowledge bases -------------------------------------------------------------------


@transaction.atomic
def knowledge_base_create(
    *,
    tenant: Tenant,
    name: str,
    description: str = "",
    embedding_base_url: str = "",
    embedding_model: str = "",
    embedding_api_key: str = "",
) -> KnowledgeBase:
    kb = KnowledgeBase(
        tenant=tenant,
        name=name.strip(),
        description=description,
        embedding_base_url=embedding_base_url,
        embedding_model=embedding_model,
        embedding_api_key=embedding_api_key,
    )
    kb.full_clean()
    kb.save()
    return kb


@transaction.atomic
def knowledge_base_delete(*, knowledge_base: KnowledgeBase) -> None:
    for document in knowledge_base.documents.exclude(file=""):
        transaction.on_commit(functools.partial(document.file.delete, save=False))
    _changed(knowledge_base)
    knowledge_base.delete()


# --- Documents --------------------------------------------------------------------------


def _failed_document(*, kb: KnowledgeBase, title: str, source_type: str, error: IngestError, digest: str) -> Document:
    document = Document.objects.create(
        tenant_id=kb.tenant_id,
        knowledge_base=kb,
        title=title,
        source_type=source_type,
        status=DocumentStatus.FAILED,
        error_code=error.failure,
        error=error.detail,
        content_hash=digest,
    )
    return document


@transaction.atomic
def document_create(
    *,
    knowledge_base: KnowledgeBase,
    title: str = "",
    text: str | None = None,
    data: bytes | None = None,
    filename: str = "",
    source_type: str | None = None,
) -> Document:
    """A document from pasted text or file bytes; ingestion runs as a task after commit.

    Unusable input still creates the document, marked failed with its reason, so the
    uploader sees what went wrong in the list.
    """
    kb = knowledge_base
    if (text is None) == (data is None):
        raise InvalidInput("Give either text or file data.")
    if text is not None:
        raw = text.encode("utf-8")
        kind = source_type or SourceType.TEXT
        title = title.strip() or text.strip().split("\n", 1)[0][:80] or "Untitled"
    else:
        assert data is not None
        raw = data
        kind = source_type or detect_source_type(filename, data[:8192])
        title = title.strip() or PurePath(filename).name[:255] or "Untitled"
    digest = content_hash(raw)
    if len(raw) > max_document_bytes():
        limit = f"{max_document_bytes() // (1024 * 1024)} MB"
        return _failed_document(
            kb=kb, title=title, source_type=kind, error=IngestError("too_large", limit), digest=digest
        )
    if kind == SourceType.OTHER:
        return _failed_document(kb=kb, title=title, source_type=kind, error=IngestError("unsupported"), digest=digest)
    if not raw.strip():
        return _failed_document(kb=kb, title=title, source_type=kind, error=IngestError("empty"), digest=digest)
    document = Document(tenant_id=kb.tenant_id, knowledge_base=kb, title=title, source_type=kind, content_hash=digest)
    if text is not None:
        document.text = text
    else:
        name = get_valid_filename(PurePath(filename).name) or f"document.{kind}"
        document.file.save(name, ContentFile(raw), save=False)
    document.full_clean()
    document.save()
    _enqueue_ingest(document)
    return document


@transaction.atomic
def document_update_text(*, document: Document, text: str) -> Document:
    """New pasted text; re-ingested only when the content really changed."""
    digest = content_hash(text.encode("utf-8"))
    if digest == document.content_hash and document.status != DocumentStatus.FAILED:
        return document
    document.text = text
    document.content_hash = digest
    document.status = DocumentStatus.PENDING
    document.progress = 0
    document.attempts = 0
    document.error_code = document.error = ""
    document.save(
        update_fields=["text", "content_hash", "status", "progress", "attempts", "error_code", "error", "updated_at"]
    )
    _enqueue_ingest(document)
    return document


@transaction.atomic
def document_reingest(*, document: Document) -> Document:
    """Run ingestion again (after a fix to the embeddings provider, say)."""
    document.status = DocumentStatus.PENDING
    document.progress = 0
    document.attempts = 0
    document.ingested_hash = ""
    document.error_code = document.error = ""
    document.save(
        update_fields=["status", "progress", "attempts", "ingested_hash", "error_code", "error", "updated_at"]
    )
    _enqueue_ingest(document)
    return document


@transaction.atomic
def document_delete(*, document: Document) -> None:
    """The document's chunks go with it (cascade), and search forgets them after commit."""
    if document.file:
        transaction.on_commit(functools.partial(document.file.delete, save=False))
    _changed(document.knowledge_base)
    document.delete()


def _set_progress(document_id: int, progress: int) -> None:
    Document.objects.filter(pk=document_id).update(progress=progress)


def _fail(document: Document, error: IngestError) -> None:
    with transaction.atomic():
        Chunk.objects.filter(document_id=document.pk).delete()
        Document.objects.filter(pk=document.pk).update(
            status=DocumentStatus.FAILED, error_code=error.failure, error=error.detail[:2000], ingested_hash=""
        )
        _changed(document.knowledge_base)


def _raw_content(document: Document) -> bytes:
    if document.file:
        with document.file.open("rb") as handle:
            return handle.read()
    return document.text.encode("utf-8")


def document_ingest(*, document_id: int) -> str:
    """Parse, chunk, embed and store one document. Idempotent: returns the final status.

    The claim (status, attempts) is committed before the slow work, so a redelivered
    task sees what happened; chunks are swapped in one transaction at the end.
    """
    with transaction.atomic():
        document = (
            Document.objects.select_for_update(of=("self",))
            .select_related("knowledge_base")
            .filter(pk=document_id)
            .first()
        )
        if document is None:
            logger.info("document %s vanished before ingestion", document_id)
            return "missing"
        if document.status == DocumentStatus.READY and document.ingested_hash == document.content_hash:
            return document.status
        if document.status == DocumentStatus.FAILED:
            return document.status
        if document.attempts >= MAX_ATTEMPTS:
            document.status = DocumentStatus.FAILED
            document.error_code, document.error = "attempts", ""
            document.save(update_fields=["status", "error_code", "error", "updated_at"])
            return document.status
        document.attempts += 1
        document.status = DocumentStatus.PROCESSING
        document.progress = 5
        document.save(update_fields=["attempts", "status", "progress", "updated_at"])

    kb = document.knowledge_base
    try:
        raw = _raw_content(document)
        digest = content_hash(raw)
        sections = parse_document(document.source_type, raw)
        _set_progress(document.pk, 30)
        pieces = chunk_sections(sections)
        if not pieces:
            raise IngestError("empty")
        _set_progress(document.pk, 50)
        vectors = None
        config = EmbeddingConfig.for_knowledge_base(kb)
        if config is not None:

            def on_batch(done: int, total: int) -> None:
                _set_progress(document.pk, 50 + int(40 * done / max(total, 1)))

            try:
                vectors = embed_texts(config, [p.text for p in pieces], on_batch=on_batch)
            except EmbeddingError as exc:
                raise IngestError("embedding", str(exc)) from exc
    except IngestError as exc:
        _fail(document, exc)
        return DocumentStatus.FAILED
    except Exception as exc:
        logger.exception("ingestion of document %s failed", document.pk)
        _fail(document, IngestError("internal", type(exc).__name__))
        return DocumentStatus.FAILED

    with transaction.atomic():
        current = Document.objects.select_for_update(of=("self",)).filter(pk=document.pk).first()
        if current is None:
            return "missing"
        if current.content_hash != digest:  # edited meanwhile; the newer task stores it
            return current.status
        Chunk.objects.filter(document_id=document.pk).delete()
        Chunk.objects.bulk_create(
            [
                Chunk(
                    tenant_id=document.tenant_id,
                    knowledge_base_id=kb.pk,
                    document_id=document.pk,
                    position=i,
                    heading_path=piece.heading_path[:500],
                    text=piece.text,
                    token_count=piece.token_count,
                    embedding=to_bytes(vectors[i]) if vectors is not None else None,
                )
                for i, piece in enumerate(pieces)
            ],
            batch_size=500,
        )
        current.status = DocumentStatus.READY
        current.progress = 100
        current.content_hash = digest
        current.ingested_hash = digest
        current.error_code = current.error = ""
        current.save(
            update_fields=["status", "progress", "content_hash", "ingested_hash", "error_code", "error", "updated_at"]
        )
        _changed(kb)
    return DocumentStatus.READY


# --- FAQ entries --------------------------------------------------------------------------


def _clean_alternates(alternates: list[str] | None) -> list[str]:
    return [a.strip() for a in (alternates or []) if a and a.strip()]


def _enqueue_faq_embeddings(kb: KnowledgeBase) -> None:
    if kb.has_embeddings:
        from bots.knowledge.tasks import faq_embed

        faq_embed.delay_on_commit(kb.pk)


@transaction.atomic
def faq_create(
    *,
    knowledge_base: KnowledgeBase,
    question: str,
    answer: str,
    alternates: list[str] | None = None,
    enabled: bool = True,
    external_id: str = "",
) -> FaqEntry:
    entry = FaqEntry(
        tenant_id=knowledge_base.tenant_id,
        knowledge_base=knowledge_base,
        question=question.strip(),
        answer=answer.strip(),
        alternates=_clean_alternates(alternates),
        enabled=enabled,
        external_id=external_id,
    )
    entry.full_clean()
    entry.save()
    _changed(knowledge_base)
    _enqueue_faq_embeddings(knowledge_base)
    return entry


@transaction.atomic
def faq_update(
    *,
    entry: FaqEntry,
    question: str | None = None,
    answer: str | None = None,
    alternates: list[str] | None = None,
    enabled: bool | None = None,
) -> FaqEntry:
    fields = ["updated_at"]
    if question is not None and question.strip() != entry.question:
        entry.question = question.strip()
        fields.append("question")
    if alternates is not None and _clean_alternates(alternates) != entry.alternates:
        entry.alternates = _clean_alternates(alternates)
        fields.append("alternates")
    if answer is not None and answer.strip() != entry.answer:
        entry.answer = answer.strip()
        fields.append("answer")
    if enabled is not None and enabled != entry.enabled:
        entry.enabled = enabled
        fields.append("enabled")
    if len(fields) == 1:
        return entry
    if "question" in fields or "alternates" in fields:
        entry.embedding = None
        fields.append("embedding")
    entry.full_clean()
    entry.save(update_fields=fields)
    kb = entry.knowledge_base
    _changed(kb)
    _enqueue_faq_embeddings(kb)
    return entry


@transaction.atomic
def faq_delete(*, entry: FaqEntry) -> None:
    _changed(entry.knowledge_base)
    entry.delete()


@dataclass(frozen=True)
class FaqImportResult:
    created: int
    updated: int
    skipped: int


@transaction.atomic
def faq_import(*, knowledge_base: KnowledgeBase, data: bytes, filename: str) -> FaqImportResult:
    """Upsert FAQ entries from CSV or XLSX (by id column when present, else by question)."""
    rows = faq_files.read_faq_rows(data, filename)
    existing = {
        (e.external_id or f"q:{e.question}"): e
        for e in FaqEntry.objects.filter(tenant_id=knowledge_base.tenant_id, knowledge_base=knowledge_base)
    }
    created = updated = skipped = 0
    new_entries = []
    for row in rows:
        key = row.external_id or f"q:{row.question}"
        entry = existing.get(key)
        if entry is None:
            new_entries.append(
                FaqEntry(
                    tenant_id=knowledge_base.tenant_id,
                    knowledge_base=knowledge_base,
                    question=row.question[:500],
                    answer=row.answer,
                    alternates=row.alternates,
                    external_id=row.external_id[:120],
                )
            )
            existing[key] = new_entries[-1]
            created += 1
        elif (entry.question, entry.answer, entry.alternates) != (row.question, row.answer, row.alternates):
            entry.question, entry.answer, entry.alternates, entry.embedding = (
                row.question[:500],
                row.answer,
                row.alternates,
                None,
            )
            entry.save(update_fields=["question", "answer", "alternates", "embedding", "updated_at"])
            updated += 1
        else:
            skipped += 1
    FaqEntry.objects.bulk_create(new_entries, batch_size=500)
    _changed(knowledge_base)
    _enqueue_faq_embeddings(knowledge_base)
    return FaqImportResult(created, updated, skipped)


def faq_embed_missing(*, knowledge_base_id: int) -> int:
    """Embed the questions (with alternates) of entries that have no embedding yet."""
    kb = KnowledgeBase.objects.filter(pk=knowledge_base_id).first()
    config = EmbeddingConfig.for_knowledge_base(kb) if kb else None
    if kb is None or config is None:
        return 0
    entries = list(FaqEntry.objects.filter(knowledge_base=kb, embedding__isnull=True))
    if not entries:
        return 0
    vectors = embed_texts(config, ["\n".join([e.question, *e.alternates]) for e in entries])
    with transaction.atomic():
        for entry, vector in zip(entries, vectors, strict=True):
            FaqEntry.objects.filter(pk=entry.pk, question=entry.question).update(embedding=to_bytes(vector))
        _changed(kb)
    return len(entries)
