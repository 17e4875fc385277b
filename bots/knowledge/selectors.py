"""Reads for knowledge bases, always scoped to one tenant."""

from __future__ import annotations

from django.db.models import QuerySet

from bots.knowledge.models import Document, FaqEntry, KnowledgeBase
from kefu.models import Tenant


def knowledge_base_list(*, tenant: Tenant) -> QuerySet[KnowledgeBase]:
    return KnowledgeBase.objects.filter(tenant=tenant).order_by("name")


def document_list(*, knowledge_base: KnowledgeBase) -> QuerySet[Document]:
    return Document.objects.filter(tenant_id=knowledge_base.tenant_id, knowledge_base=knowledge_base).defer("text")


def faq_list(*, knowledge_base: KnowledgeBase, enabled_only: bool = False) -> QuerySet[FaqEntry]:
    qs = FaqEntry.objects.filter(tenant_id=knowledge_base.tenant_id, knowledge_base=knowledge_base).defer("embedding")
    return qs.filter(enabled=True) if enabled_only else qs
