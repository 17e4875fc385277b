"""Knowledge bases: documents split into chunks, and FAQ entries, all owned by a tenant."""

from __future__ import annotations

import numpy as np
from django.db import models
from django.utils.translation import gettext_lazy as _

from kefu.crypto import EncryptedTextField
from kefu.models import Tenant


class KnowledgeBase(models.Model):
    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, related_name="knowledge_bases", verbose_name=_("tenant")
    )
    name = models.CharField(_("name"), max_length=120)
    description = models.TextField(_("description"), blank=True)
    # Optional OpenAI-compatible embeddings endpoint; without it retrieval is keyword-only.
    embedding_base_url = models.URLField(_("embeddings base URL"), blank=True, max_length=300)
    embedding_model = models.CharField(_("embeddings model"), max_length=120, blank=True)
    # Encrypted at rest like every tenant credential; plain values stored earlier still read.
    embedding_api_key = EncryptedTextField(_("embeddings API key"), blank=True)
    # Optional OpenAI-compatible chat model that checks which retrieved entry or passage
    # answers a question (and translates it into the question's language), see judge.py.
    llm_base_url = models.URLField(_("answer-check base URL"), blank=True, max_length=300)
    llm_model = models.CharField(_("answer-check model"), max_length=120, blank=True)
    llm_api_key = EncryptedTextField(_("answer-check API key"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("knowledge base")
        verbose_name_plural = _("knowledge bases")
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="kb_unique_name_per_tenant")]

    def __str__(self) -> str:
        return self.name

    @property
    def has_embeddings(self) -> bool:
        return bool(self.embedding_base_url and self.embedding_model)

    @property
    def has_answer_check(self) -> bool:
        return bool(self.llm_base_url and self.llm_model)


class SourceType(models.TextChoices):
    TEXT = "text", _("Plain text")
    MARKDOWN = "markdown", _("Markdown")
    HTML = "html", _("HTML")
    PDF = "pdf", _("PDF")
    DOCX = "docx", _("Word document")
    OTHER = "other", _("Other")


class DocumentStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    PROCESSING = "processing", _("Processing")
    READY = "ready", _("Ready")
    FAILED = "failed", _("Failed")


def document_upload_path(instance: Document, filename: str) -> str:
    return f"kb/{instance.tenant_id}/{instance.knowledge_base_id}/{filename}"


class Document(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", verbose_name=_("tenant"))
    knowledge_base = models.ForeignKey(
        KnowledgeBase, on_delete=models.CASCADE, related_name="documents", verbose_name=_("knowledge base")
    )
    title = models.CharField(_("title"), max_length=255)
    source_type = models.CharField(_("source type"), max_length=16, choices=SourceType.choices)
    file = models.FileField(_("file"), upload_to=document_upload_path, blank=True, max_length=400)
    text = models.TextField(_("pasted text"), blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=DocumentStatus.choices, default=DocumentStatus.PENDING, db_index=True
    )
    progress = models.PositiveSmallIntegerField(_("progress (%)"), default=0)
    error_code = models.CharField(_("error code"), max_length=32, blank=True)
    error = models.TextField(_("error detail"), blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    # Hash of the raw content; the chunks belong to ingested_hash, so a differing
    # content_hash means the document changed and must be ingested again.
    content_hash = models.CharField(_("content hash"), max_length=64, blank=True)
    ingested_hash = models.CharField(_("ingested hash"), max_length=64, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("document")
        verbose_name_plural = _("documents")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["tenant", "knowledge_base", "status"], name="kb_doc_status_idx")]

    def __str__(self) -> str:
        return self.title

    @property
    def error_reason(self) -> str:
        """The failure in the reader's language; the code is stored, not the sentence."""
        from bots.knowledge.errors import failure_message

        return failure_message(self.error_code, self.error) if self.error_code else ""


class Chunk(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", verbose_name=_("tenant"))
    knowledge_base = models.ForeignKey(
        KnowledgeBase, on_delete=models.CASCADE, related_name="chunks", verbose_name=_("knowledge base")
    )
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunks", verbose_name=_("document"))
    position = models.PositiveIntegerField(_("position"))
    heading_path = models.CharField(_("heading path"), max_length=500, blank=True)
    text = models.TextField(_("text"))
    token_count = models.PositiveIntegerField(_("token count"), default=0)
    # float32 little-endian bytes: portable across SQLite and PostgreSQL with or without pgvector.
    embedding = models.BinaryField(_("embedding"), null=True, blank=True)

    class Meta:
        verbose_name = _("chunk")
        verbose_name_plural = _("chunks")
        ordering = ["document_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["document", "position"], name="kb_chunk_unique_position"),
        ]
        indexes = [models.Index(fields=["tenant", "knowledge_base"], name="kb_chunk_kb_idx")]

    def __str__(self) -> str:
        return f"{self.document_id}#{self.position}"

    def embedding_vector(self) -> np.ndarray | None:
        if not self.embedding:
            return None
        return np.frombuffer(bytes(self.embedding), dtype="<f4")


class FaqEntry(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", verbose_name=_("tenant"))
    knowledge_base = models.ForeignKey(
        KnowledgeBase, on_delete=models.CASCADE, related_name="faqs", verbose_name=_("knowledge base")
    )
    question = models.CharField(_("question"), max_length=500)
    alternates = models.JSONField(_("alternate questions"), default=list, blank=True)
    answer = models.TextField(_("answer"))
    enabled = models.BooleanField(_("enabled"), default=True)
    external_id = models.CharField(_("external id"), max_length=120, blank=True)
    embedding = models.BinaryField(_("embedding"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("FAQ entry")
        verbose_name_plural = _("FAQ entries")
        ordering = ["id"]
        indexes = [models.Index(fields=["tenant", "knowledge_base", "enabled"], name="kb_faq_enabled_idx")]

    def __str__(self) -> str:
        return self.question
