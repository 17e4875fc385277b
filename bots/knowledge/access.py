"""The only fetch path for knowledge rows: a miss and another tenant's row look the same."""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

from bots.knowledge.models import Document, FaqEntry, KnowledgeBase
from kefu.access import _get
from kefu.errors import NotFound
from kefu.models import Tenant


def access_knowledge_base(*, tenant: Tenant, knowledge_base_id: object) -> KnowledgeBase:
    return _get(KnowledgeBase.objects.filter(tenant=tenant), pk=knowledge_base_id)


def access_knowledge_bases(*, tenant: Tenant, knowledge_base_ids: Iterable[object]) -> list[KnowledgeBase]:
    """Every id must belong to the tenant; one foreign id fails the whole request."""
    ids = list(dict.fromkeys(knowledge_base_ids))
    try:
        # Untrusted ids: the ORM converts each and raises ValueError/TypeError for a bad one.
        rows = list(KnowledgeBase.objects.filter(tenant=tenant, pk__in=cast("list[int]", ids)).order_by("pk"))
    except (ValueError, TypeError):
        raise NotFound() from None
    if len(rows) != len(ids):
        raise NotFound()
    return rows


def access_document(*, tenant: Tenant, document_id: object, for_update: bool = False) -> Document:
    qs = Document.objects.filter(tenant=tenant)
    if for_update:
        qs = qs.select_for_update(of=("self",))
    return _get(qs.select_related("knowledge_base"), pk=document_id)


def access_faq_entry(*, tenant: Tenant, faq_id: object) -> FaqEntry:
    return _get(FaqEntry.objects.filter(tenant=tenant), pk=faq_id)
