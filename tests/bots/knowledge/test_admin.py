"""Admin pages: document list with status/progress columns, KB page with its inlines."""

from __future__ import annotations

from django.contrib.auth import get_user_model

from bots.knowledge import services


def test_admin_lists_documents_and_shows_inlines(kb, run_on_commit, client) -> None:  # type: ignore[no-untyped-def]
    run_on_commit(services.document_create, knowledge_base=kb, title="好文档", text="内容。")
    run_on_commit(services.document_create, knowledge_base=kb, data=b"\x89PNG....", filename="pic.png")
    run_on_commit(services.faq_create, knowledge_base=kb, question="营业时间?", answer="早九晚六。")
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw-123456")
    client.force_login(admin)
    page = client.get("/admin/knowledge/document/", HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 200
    body = page.content.decode()
    assert "好文档" in body and "pic.png" in body
    assert "column-progress" in body and "column-status" in body
    assert "This file type is not supported" in body
    page = client.get(f"/admin/knowledge/knowledgebase/{kb.pk}/change/", HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 200
    assert "营业时间?" in page.content.decode() and "好文档" in page.content.decode()


def test_admin_never_shows_the_embeddings_key(tenant, client) -> None:  # type: ignore[no-untyped-def]
    kb = services.knowledge_base_create(
        tenant=tenant,
        name="k",
        embedding_base_url="https://api.example.com/v1",
        embedding_model="m",
        embedding_api_key="sk-very-secret",
    )
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw-123456")
    client.force_login(admin)
    page = client.get(f"/admin/knowledge/knowledgebase/{kb.pk}/change/")
    assert page.status_code == 200 and "sk-very-secret" not in page.content.decode()
