"""The embeddings API key of a knowledge base is encrypted in the database."""

import pytest
from django.db import connection

from bots.knowledge.models import KnowledgeBase
from bots.knowledge.services import knowledge_base_create
from tests.factories import TenantFactory

pytestmark = pytest.mark.django_db


def test_embedding_key_is_stored_encrypted_and_read_back_plain():
    kb = knowledge_base_create(
        tenant=TenantFactory(),
        name="kb",
        embedding_base_url="https://api.example.com/v1",
        embedding_model="m",
        embedding_api_key="sk-secret-123",
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT embedding_api_key FROM knowledge_knowledgebase WHERE id = %s", [kb.pk])
        stored = cursor.fetchone()[0]
    assert stored.startswith("enc1:") and "sk-secret-123" not in stored
    assert KnowledgeBase.objects.get(pk=kb.pk).embedding_api_key == "sk-secret-123"
