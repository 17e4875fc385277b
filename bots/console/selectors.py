"""Reads behind the AI console pages, always scoped to one tenant."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from bots.knowledge.models import Chunk, Document, DocumentStatus, FaqEntry, KnowledgeBase
from bots.models import AlertChannel, Bot, BusinessHook
from kefu.models import Tenant

ACTIVE_STATUSES = (DocumentStatus.PENDING, DocumentStatus.PROCESSING)


def _count_per_kb(model: type[Any]) -> Coalesce:
    # A correlated count per row: joining documents, FAQs and chunks at once would
    # multiply the rows (and the cost) for a large knowledge base.
    counts = (
        model.objects.filter(knowledge_base=OuterRef("pk"))
        .order_by()
        .values("knowledge_base")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counts, output_field=IntegerField()), Value(0))


def knowledge_base_overview(*, tenant: Tenant) -> QuerySet[KnowledgeBase]:
    return (
        KnowledgeBase.objects.filter(tenant=tenant)
        .order_by("name")
        .annotate(
            document_count=_count_per_kb(Document),
            faq_count=_count_per_kb(FaqEntry),
            chunk_count=_count_per_kb(Chunk),
        )
    )


def documents_with_chunks(*, knowledge_base: KnowledgeBase) -> QuerySet[Document]:
    chunks = (
        Chunk.objects.filter(document=OuterRef("pk")).order_by().values("document").annotate(n=Count("pk")).values("n")
    )
    return (
        Document.objects.filter(tenant_id=knowledge_base.tenant_id, knowledge_base=knowledge_base)
        .defer("text")
        .annotate(chunk_count=Coalesce(Subquery(chunks, output_field=IntegerField()), Value(0)))
        .order_by("-created_at", "-pk")
    )


def document_progress(*, knowledge_base: KnowledgeBase, ids: list[int]) -> list[Document]:
    """The documents the page is watching, plus any still in flight (uploaded from another tab)."""
    qs = documents_with_chunks(knowledge_base=knowledge_base)
    return list(qs.filter(pk__in=ids) | qs.filter(status__in=ACTIVE_STATUSES))


def chunk_total(*, knowledge_base: KnowledgeBase) -> int:
    return Chunk.objects.filter(tenant_id=knowledge_base.tenant_id, knowledge_base=knowledge_base).count()


def bot_list(*, tenant: Tenant) -> QuerySet[Bot]:
    return Bot.objects.filter(tenant=tenant).select_related("backup").prefetch_related("knowledge_bases")


def business_hook_list(*, tenant: Tenant) -> QuerySet[BusinessHook]:
    return BusinessHook.objects.filter(tenant=tenant)


def alert_channel_list(*, tenant: Tenant) -> QuerySet[AlertChannel]:
    return AlertChannel.objects.filter(tenant=tenant)
