"""Celery entry points for knowledge bases: they take ids and call one service."""

from __future__ import annotations

import logging

from bots.knowledge import services
from bots.knowledge.embeddings import EmbeddingError
from kefu.celery import app
from kefu.tasking import KefuTask

logger = logging.getLogger(__name__)


@app.task(name="knowledge.document_ingest", acks_late=True)
def document_ingest(document_id: int) -> str:
    return services.document_ingest(document_id=document_id)


@app.task(name="knowledge.faq_embed", bind=True, acks_late=True, max_retries=3)
def faq_embed(self: KefuTask, knowledge_base_id: int) -> int:
    try:
        return services.faq_embed_missing(knowledge_base_id=knowledge_base_id)
    except EmbeddingError as exc:
        # Keyword search keeps working meanwhile; only the provider outage is retried.
        logger.warning("FAQ embeddings for knowledge base %s failed: %s", knowledge_base_id, exc)
        if self.request.is_eager:
            return 0
        raise self.retry(exc=exc, countdown=30 * 2**self.request.retries)
