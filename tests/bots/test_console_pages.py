"""AI console pages: knowledge bases (documents, progress, FAQ, try a question) and bots, for admins only."""

from __future__ import annotations

import io
import re
import socket
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client

from bots.knowledge import services as kb_services
from bots.knowledge.models import Document, DocumentStatus, FaqEntry, KnowledgeBase
from bots.models import AlertChannel, Bot, BusinessHook
from kefu.models import AuditLog, Role
from tests.factories import AgentFactory, TenantFactory
from tests.fakes.fastgpt_server import DATASET_ID as FASTGPT_DATASET
from tests.fakes.fastgpt_server import FakeFastGPT
from tests.fakes.http import Behaviour
from tests.fakes.openai_server import FakeOpenAI

pytestmark = pytest.mark.django_db

REFUND_DOC = (
    "# Refunds\n\nRefunds are paid back to the original card within 7 working days after the "
    "returned parcel arrives at our warehouse.\n\n# Shipping\n\nOrders ship from Hangzhou every weekday."
)


@pytest.fixture
def admin(client):  # type: ignore[no-untyped-def]
    agent = AgentFactory(tenant=TenantFactory(), role=Role.ADMIN)
    client.force_login(agent.user)
    return agent


@pytest.fixture
def kb(admin) -> KnowledgeBase:  # type: ignore[no-untyped-def]
    return kb_services.knowledge_base_create(tenant=admin.tenant, name="Help center")


@pytest.fixture
def committing(django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    """Requests whose on-commit work (eager ingestion, index bumps) runs as a real commit would."""

    def run(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        with django_capture_on_commit_callbacks(execute=True):
            return fn(*args, **kwargs)

    return run


def _url(kb: KnowledgeBase, suffix: str = "") -> str:
    return f"/console/ai/knowledge/{kb.pk}/{suffix}"


def _raw_column(table: str, column: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])  # noqa: S608 (test constants)
        return cursor.fetchone()[0]


def test_settings_nav_lists_the_ai_pages(client, admin):  # type: ignore[no-untyped-def]
    html = client.get("/console/settings/widget/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'href="/console/ai/bots/"' in html and 'href="/console/ai/knowledge/"' in html


def test_create_knowledge_base_and_list_counts(client, admin, committing):  # type: ignore[no-untyped-def]
    res = client.post("/console/ai/knowledge/", {"name": "售后", "description": "after sales"})
    kb = KnowledgeBase.objects.get(tenant=admin.tenant, name="售后")
    assert res.status_code == 302 and res["Location"] == _url(kb)
    dup = client.post("/console/ai/knowledge/", {"name": "售后"})
    assert dup.status_code == 200 and "errorlist" in dup.content.decode()
    committing(client.post, _url(kb), {"action": "paste", "title": "Refunds", "text": REFUND_DOC})
    kb_services.faq_create(knowledge_base=kb, question="Do you ship abroad?", answer="Yes, to 30 countries.")
    page = client.get("/console/ai/knowledge/").content.decode()
    row = page.split(f'data-kb="{kb.pk}"')[1].split("</tr>")[0]
    chunks = str(kb.chunks.count())
    assert chunks != "0"
    assert [c.split("<")[0] for c in row.split('class="num">')[1:]] == ["1", "1", chunks]  # documents, FAQ, chunks
    assert AuditLog.objects.filter(tenant=admin.tenant, action="knowledge_base.create", actor=admin.user).exists()


def test_rename_and_delete_knowledge_base(client, admin, kb):  # type: ignore[no-untyped-def]
    client.post(
        _url(kb),
        {
            "action": "settings",
            "name": "FAQ center",
            "description": "",
            "embedding_base_url": "",
            "embedding_model": "",
        },
    )
    kb.refresh_from_db()
    assert kb.name == "FAQ center"
    res = client.post(_url(kb), {"action": "delete_kb"})
    assert res.status_code == 302 and not KnowledgeBase.objects.filter(pk=kb.pk).exists()
    assert set(AuditLog.objects.filter(tenant=admin.tenant).values_list("action", flat=True)) >= {
        "knowledge_base.update",
        "knowledge_base.delete",
    }


def test_upload_runs_ingestion_and_progress_reports_it(client, admin, kb, committing):  # type: ignore[no-untyped-def]
    upload = SimpleUploadedFile("refunds.md", REFUND_DOC.encode(), content_type="text/markdown")
    res = committing(client.post, _url(kb), {"action": "upload", "file": upload, "title": ""})
    assert res.status_code == 302
    document = Document.objects.get(knowledge_base=kb)
    chunks = document.chunks.count()
    assert document.status == DocumentStatus.READY and chunks >= 1
    page = client.get(_url(kb), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert f'data-document="{document.pk}" data-status="ready"' in page and "refunds.md" in page
    progress = client.get(_url(kb, "progress"), {"ids": str(document.pk)}, HTTP_ACCEPT_LANGUAGE="en").json()
    assert progress["active"] == 0 and progress["chunks"] == chunks
    assert progress["documents"] == [
        {"id": document.pk, "status": "ready", "status_label": "Ready", "progress": 100, "chunks": chunks, "error": ""}
    ]
    # A document still waiting is reported without being asked for (uploaded from another tab).
    waiting = Document.objects.create(
        tenant=admin.tenant,
        knowledge_base=kb,
        title="queued",
        source_type="text",
        text="x",
        status=DocumentStatus.PROCESSING,
        progress=30,
    )
    progress = client.get(_url(kb, "progress")).json()
    assert progress["active"] == 1 and progress["documents"][0]["id"] == waiting.pk
    assert progress["documents"][0]["progress"] == 30
    assert AuditLog.objects.filter(action="knowledge.document.create", target_id=str(document.pk)).exists()


def test_failed_upload_shows_the_reason(client, admin, kb, committing):  # type: ignore[no-untyped-def]
    upload = SimpleUploadedFile("photo.exe", b"MZ\x00\x01binary", content_type="application/octet-stream")
    committing(client.post, _url(kb), {"action": "upload", "file": upload})
    document = Document.objects.get(knowledge_base=kb)
    assert document.status == DocumentStatus.FAILED
    page = client.get(_url(kb), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "This file type is not supported" in page
    progress = client.get(_url(kb, "progress"), {"ids": str(document.pk)}, HTTP_ACCEPT_LANGUAGE="en").json()
    assert progress["documents"][0]["error"].startswith("This file type is not supported")
    zh = client.get(_url(kb), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "失败" in zh  # status label in Chinese


def test_reingest_and_delete_document(client, admin, kb, committing):  # type: ignore[no-untyped-def]
    committing(client.post, _url(kb), {"action": "paste", "title": "Refunds", "text": REFUND_DOC})
    document = Document.objects.get(knowledge_base=kb)
    committing(client.post, _url(kb), {"action": "reingest", "document_id": document.pk})
    document.refresh_from_db()
    assert document.status == DocumentStatus.READY
    client.post(_url(kb), {"action": "delete_document", "document_id": document.pk})
    assert not Document.objects.filter(pk=document.pk).exists()
    actions = set(AuditLog.objects.filter(target_id=str(document.pk)).values_list("action", flat=True))
    assert actions == {"knowledge.document.create", "knowledge.document.reingest", "knowledge.document.delete"}


def test_faq_add_edit_toggle_delete(client, admin, kb):  # type: ignore[no-untyped-def]
    client.post(
        _url(kb),
        {
            "action": "faq_add",
            "question": "How long do refunds take?",
            "alternates": "退款多久到账\nrefund time",
            "answer": "Seven working days.",
            "enabled": "on",
        },
    )
    entry = FaqEntry.objects.get(knowledge_base=kb)
    assert entry.alternates == ["退款多久到账", "refund time"] and entry.enabled
    client.post(
        _url(kb),
        {
            "action": "faq_edit",
            "faq_id": entry.pk,
            "question": "Refund time?",
            "alternates": "",
            "answer": "Five days.",
            "enabled": "on",
        },
    )
    client.post(_url(kb), {"action": "faq_toggle", "faq_id": entry.pk})
    entry.refresh_from_db()
    assert (entry.question, entry.answer, entry.alternates, entry.enabled) == ("Refund time?", "Five days.", [], False)
    client.post(_url(kb), {"action": "faq_delete", "faq_id": entry.pk})
    assert not FaqEntry.objects.filter(pk=entry.pk).exists()
    assert AuditLog.objects.filter(target_id=str(entry.pk)).count() == 4


def test_faq_import_csv_and_xlsx_shows_the_result(client, admin, kb):  # type: ignore[no-untyped-def]
    csv = "question,answer,alternates\nDo you ship abroad?,Yes.,international|overseas\nOpening hours?,9-18,\n"
    res = client.post(
        _url(kb),
        {"action": "faq_import", "file": SimpleUploadedFile("faq.csv", csv.encode())},
        follow=True,
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert "Import done: 2 added, 0 updated, 0 unchanged." in res.content.decode()
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    book.active.append(["问题", "答案"])
    book.active.append(["Opening hours?", "9-21"])
    data = io.BytesIO()
    book.save(data)
    res = client.post(
        _url(kb),
        {"action": "faq_import", "file": SimpleUploadedFile("faq.xlsx", data.getvalue())},
        follow=True,
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert "1 updated" in res.content.decode()
    assert FaqEntry.objects.get(knowledge_base=kb, question="Opening hours?").answer == "9-21"
    bad = client.post(
        _url(kb), {"action": "faq_import", "file": SimpleUploadedFile("faq.txt", b"x")}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert bad.status_code == 200 and "Import failed" in bad.content.decode()
    assert AuditLog.objects.filter(action="knowledge.faq.import").count() == 2


def test_try_a_question_shows_answer_confidence_and_sources(client, admin, kb, committing):  # type: ignore[no-untyped-def]
    committing(client.post, _url(kb), {"action": "paste", "title": "Refund policy", "text": REFUND_DOC})
    page = client.get(
        _url(kb), {"q": "How many days until refunds are paid back to my card?"}, HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()
    assert 'id="ask-answer"' in page and "7 working days" in page.split('id="ask-text"')[1]
    assert "Refund policy" in page.split('id="ask-sources"')[1].split("</div>")[0]
    assert 'id="ask-confidence"' in page
    why = page.split('id="ask-why"')[1].split("</details>")[0]
    assert "Answered: confidence" in why and "Refund policy" in why.split('id="why-best"')[1]
    unknown = client.get(_url(kb), {"q": "quantum chromodynamics lattice"}, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "No confident answer" in unknown and 'id="ask-sources"' not in unknown
    assert "Not answered" in unknown.split('id="why-decision"')[1].split("</dd>")[0]


def _bot_data(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "name": "Xiaozhi",
        "enabled": "on",
        "channel": "widget",
        "provider": "openai",
        "base_url": "https://api.deepseek.example/v1",
        "model": "deepseek-chat",
        "api_key": "sk-secret-123",
        "temperature": "0.3",
        "max_tokens": "512",
        "system_prompt": "Be brief.",
        "extra": '{"top_p": 0.9}',
        "history_messages": "20",
        "faq_direct_threshold": "0.8",
        "unsure_handoff_after": "2",
        "middlewares": "language, intent, sensitive_words, pii_mask",
        "welcome_message": "Hi!",
    }
    data.update(overrides)
    return data


def test_bot_create_and_edit_keeps_the_encrypted_key(client, admin, kb):  # type: ignore[no-untyped-def]
    res = client.post("/console/ai/bots/new/", _bot_data(knowledge_bases=[kb.pk]))
    assert res.status_code == 302, res.content.decode()[:2000]
    bot = Bot.objects.get(tenant=admin.tenant)
    assert bot.api_key == "sk-secret-123" and list(bot.knowledge_bases.all()) == [kb]
    assert bot.extra == {"top_p": 0.9} and bot.middlewares == ["language", "intent", "sensitive_words", "pii_mask"]
    assert _raw_column("bots_bot", "api_key", bot.pk).startswith("enc1:")
    page = client.get(f"/console/ai/bots/{bot.pk}/").content.decode()
    assert "sk-secret-123" not in page and _raw_column("bots_bot", "api_key", bot.pk) not in page
    client.post(f"/console/ai/bots/{bot.pk}/", _bot_data(api_key="", model="deepseek-reasoner"))
    bot.refresh_from_db()
    assert bot.model == "deepseek-reasoner" and bot.api_key == "sk-secret-123"
    client.post(f"/console/ai/bots/{bot.pk}/", _bot_data(api_key="", clear_api_key="on"))
    bot.refresh_from_db()
    assert bot.api_key == ""
    log = AuditLog.objects.filter(action__in=["bot.create", "bot.update"], target_id=str(bot.pk))
    assert log.count() == 3 and all("sk-secret" not in str(entry.data) for entry in log)


def test_bot_form_errors_are_inline(client, admin):  # type: ignore[no-untyped-def]
    client.post("/console/ai/bots/new/", _bot_data())
    dup = client.post("/console/ai/bots/new/", _bot_data(name="Second"), HTTP_ACCEPT_LANGUAGE="en")
    html = dup.content.decode()
    assert dup.status_code == 200 and "already answers this channel" in html and "Xiaozhi" in html
    assert Bot.objects.filter(tenant=admin.tenant).count() == 1
    # Off, the second bot is a backup: allowed.
    assert client.post("/console/ai/bots/new/", _bot_data(name="Second", enabled="")).status_code == 302
    bad = client.post(
        "/console/ai/bots/new/",
        _bot_data(name="Third", enabled="", extra="[1, 2]", middlewares="language, nope", temperature="5"),
    )
    html = bad.content.decode()
    assert bad.status_code == 200 and html.count('class="errorlist') >= 3


def test_bot_choices_and_ids_are_tenant_scoped(client, admin, kb):  # type: ignore[no-untyped-def]
    other_tenant = TenantFactory()
    foreign_kb = kb_services.knowledge_base_create(tenant=other_tenant, name="Theirs")
    foreign_bot = Bot.objects.create(tenant=other_tenant, name="Theirs")
    res = client.post("/console/ai/bots/new/", _bot_data(knowledge_bases=[foreign_kb.pk], backup=foreign_bot.pk))
    assert res.status_code == 200 and not Bot.objects.filter(tenant=admin.tenant).exists()
    foreign_hook = BusinessHook.objects.create(tenant=other_tenant, name="h", url="https://crm.example/hook")
    foreign_alert = AlertChannel.objects.create(
        tenant=other_tenant, name="a", kind="slack", url="https://hooks.example/x"
    )
    foreign_doc = Document.objects.create(tenant=other_tenant, knowledge_base=foreign_kb, title="d", source_type="text")
    foreign_faq = FaqEntry.objects.create(tenant=other_tenant, knowledge_base=foreign_kb, question="q", answer="a")
    for url in (
        f"/console/ai/knowledge/{foreign_kb.pk}/",
        f"/console/ai/knowledge/{foreign_kb.pk}/progress",
        f"/console/ai/bots/{foreign_bot.pk}/",
        f"/console/ai/hooks/{foreign_hook.pk}/",
        f"/console/ai/alerts/{foreign_alert.pk}/",
    ):
        assert client.get(url).status_code == 404, url
    assert client.post(f"/console/ai/bots/{foreign_bot.pk}/", {"action": "delete"}).status_code == 404
    for data in (
        {"action": "delete_document", "document_id": foreign_doc.pk},
        {"action": "reingest", "document_id": foreign_doc.pk},
        {"action": "faq_delete", "faq_id": foreign_faq.pk},
        {"action": "faq_toggle", "faq_id": foreign_faq.pk},
    ):
        assert client.post(_url(kb), data).status_code == 404, data
    assert Bot.objects.filter(pk=foreign_bot.pk).exists() and FaqEntry.objects.filter(pk=foreign_faq.pk).exists()
    assert Document.objects.filter(pk=foreign_doc.pk).exists()


def test_hooks_and_alert_channels_keep_secrets_write_only(client, admin):  # type: ignore[no-untyped-def]
    res = client.post(
        "/console/ai/hooks/new/",
        {
            "name": "Orders",
            "url": "https://erp.example/kefu",
            "secret": "hk-s3cret",
            "keywords": "订单, order，物流",
            "timeout_ms": "1500",
            "enabled": "on",
        },
    )
    assert res.status_code == 302
    hook = BusinessHook.objects.get(tenant=admin.tenant)
    assert hook.keywords == ["订单", "order", "物流"] and hook.secret == "hk-s3cret"
    assert _raw_column("bots_businesshook", "secret", hook.pk).startswith("enc1:")
    client.post(
        f"/console/ai/hooks/{hook.pk}/",
        {
            "name": "Orders 2",
            "url": "https://erp.example/kefu",
            "secret": "",
            "keywords": "",
            "timeout_ms": "900",
            "enabled": "on",
        },
    )
    hook.refresh_from_db()
    assert (hook.name, hook.secret, hook.timeout_ms, hook.keywords) == ("Orders 2", "hk-s3cret", 900, [])
    client.post(
        "/console/ai/alerts/new/",
        {
            "name": "Ops",
            "kind": "dingtalk",
            "url": "https://oapi.dingtalk.example/x",
            "secret": "SECabc",
            "enabled": "on",
        },
    )
    alert = AlertChannel.objects.get(tenant=admin.tenant)
    assert alert.secret == "SECabc"
    pages = [
        client.get(u).content.decode()
        for u in ("/console/ai/bots/", f"/console/ai/hooks/{hook.pk}/", f"/console/ai/alerts/{alert.pk}/")
    ]
    assert all("hk-s3cret" not in p and "SECabc" not in p for p in pages)
    client.post(f"/console/ai/alerts/{alert.pk}/", {"action": "delete"})
    client.post(f"/console/ai/hooks/{hook.pk}/", {"action": "delete"})
    assert not AlertChannel.objects.exists() and not BusinessHook.objects.exists()
    actions = list(AuditLog.objects.filter(tenant=admin.tenant).values_list("action", flat=True))
    assert sorted(actions) == sorted(
        [
            "bot.hook.create",
            "bot.hook.update",
            "bot.alert_channel.create",
            "bot.alert_channel.delete",
            "bot.hook.delete",
        ]
    )
    audit_data = [str(d) for d in AuditLog.objects.values_list("data", flat=True)]
    assert all("s3cret" not in d and "SECabc" not in d for d in audit_data)


PAGES = [
    "/console/ai/bots/",
    "/console/ai/bots/new/",
    "/console/ai/knowledge/",
    "/console/ai/hooks/new/",
    "/console/ai/alerts/new/",
]


def test_plain_agents_get_403_everywhere(client, kb):  # type: ignore[no-untyped-def]
    agent = AgentFactory(tenant=kb.tenant, role=Role.AGENT)
    bot = Bot.objects.create(tenant=kb.tenant, name="b")
    client.force_login(agent.user)
    urls = [*PAGES, _url(kb), _url(kb, "progress"), f"/console/ai/bots/{bot.pk}/"]
    for url in urls:
        assert client.get(url).status_code == 403, url
        assert client.post(url, {"action": "delete_kb", "name": "x"}).status_code in (403, 405), url
    assert KnowledgeBase.objects.filter(pk=kb.pk).exists() and Bot.objects.filter(pk=bot.pk).exists()
    client.logout()
    assert client.get("/console/ai/knowledge/").status_code == 302  # to the login page


@pytest.mark.parametrize("url", PAGES)
def test_admin_pages_render_in_both_languages(client, admin, url):  # type: ignore[no-untyped-def]
    assert client.get(url, HTTP_ACCEPT_LANGUAGE="en").status_code == 200
    assert client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans").status_code == 200


def test_pages_speak_chinese_from_the_bots_catalog(client, admin, kb):  # type: ignore[no-untyped-def]
    page = client.get(_url(kb), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "试问一个问题" in page and "重新导入" not in page  # no documents yet, so no re-ingest button
    client.post("/console/ai/bots/new/", _bot_data())
    dup = client.post("/console/ai/bots/new/", _bot_data(name="备用"), HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert "“Xiaozhi”已在接待这个渠道" in dup.content.decode()


# --- provider options with fields of their own ----------------------------------------------


def test_coze_response_mode_and_fastgpt_dataset_are_fields_stored_in_the_options(client, admin):  # type: ignore[no-untyped-def]
    res = client.post(
        "/console/ai/bots/new/",
        _bot_data(provider="coze", base_url="https://api.coze.cn", extra='{"bot_id": "7379"}', response_mode="polling"),
    )
    assert res.status_code == 302, res.content.decode()[:3000]
    bot = Bot.objects.get(tenant=admin.tenant)
    assert bot.extra == {"bot_id": "7379", "response_mode": "polling"}
    page = client.get(f"/console/ai/bots/{bot.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<option value="polling" selected>' in page and "response_mode" not in page.split('name="extra"')[1][:200]
    client.post(
        f"/console/ai/bots/{bot.pk}/",
        _bot_data(provider="coze", extra='{"bot_id": "7379"}', response_mode="streaming", api_key=""),
    )
    bot.refresh_from_db()
    assert bot.extra == {"bot_id": "7379"}  # streaming is the default and is not stored
    bad = client.post(
        f"/console/ai/bots/{bot.pk}/",
        _bot_data(provider="openai", response_mode="polling", dataset_id="6593e137"),
        HTTP_ACCEPT_LANGUAGE="en",
    )
    html = bad.content.decode()
    assert bad.status_code == 200 and "only available for Coze" in html and "only used with FastGPT" in html
    client.post(
        f"/console/ai/bots/{bot.pk}/",
        _bot_data(
            provider="fastgpt",
            base_url="https://fastgpt.example/api/v1",
            extra="{}",
            dataset_id=" 6593e137 ",
            api_key="",
        ),
    )
    bot.refresh_from_db()
    assert bot.provider == "fastgpt" and bot.extra == {"dataset_id": "6593e137"}


# --- "Test this provider" --------------------------------------------------------------------


@pytest.fixture
def loopback(settings):  # type: ignore[no-untyped-def]
    settings.KEFU_OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    settings.KEFU_BOT_TIMEOUTS = {"connect": 1.0, "first_token": 1.0, "idle": 1.0, "total": 4.0}
    return settings


def _openai_bot(tenant, url: str, **fields: object) -> Bot:  # type: ignore[no-untyped-def]
    values: dict[str, object] = {
        "tenant": tenant,
        "name": "Xiaozhi",
        "provider": "openai",
        "base_url": url,
        "model": "gpt-4o-mini",
        "api_key": "sk-secret-123",
    }
    values.update(fields)
    return Bot.objects.create(**values)


def _test_provider(client, bot: Bot, lang: str = "en") -> str:  # type: ignore[no-untyped-def]
    res = client.post(f"/console/ai/bots/{bot.pk}/test/", HTTP_ACCEPT_LANGUAGE=lang)
    assert res.status_code == 302 and res["Location"] == f"/console/ai/bots/{bot.pk}/#provider-test"
    return client.get(f"/console/ai/bots/{bot.pk}/", HTTP_ACCEPT_LANGUAGE=lang).content.decode()


def _result(page: str) -> str:
    return page.split('id="provider-test-result"')[1].split("</form>")[0]


def test_provider_test_success_shows_latency_model_and_the_first_words(client, admin, loopback):  # type: ignore[no-untyped-def]
    with FakeOpenAI(Behaviour(api_key="sk-secret-123")) as server:
        bot = _openai_bot(admin.tenant, f"{server.url}/v1")
        page = _test_provider(client, bot)
    result = _result(page)
    assert 'data-ok="true"' in result and "It works." in result
    assert "“Your order shipped yesterday.”" in result.split('id="provider-test-reply"')[1]
    assert "<code>gpt-4o-mini</code>" in result and re.search(r"\d+ ms", result)
    assert len(server.requests) == 1
    sent = server.requests[0].json()
    assert sent["model"] == "gpt-4o-mini" and "connection test" in sent["messages"][-1]["content"]
    assert "sk-secret-123" not in page
    entry = AuditLog.objects.get(tenant=admin.tenant, action="bot.provider_test", target_id=str(bot.pk))
    assert entry.data["ok"] is True and entry.actor == admin.user and "sk-secret" not in str(entry.data)
    # Shown once: reloading the page does not show a stale result.
    assert 'id="provider-test-result"' not in client.get(f"/console/ai/bots/{bot.pk}/").content.decode()


def test_provider_test_401_asks_to_check_the_key_and_never_shows_it(client, admin, loopback):  # type: ignore[no-untyped-def]
    with FakeOpenAI(Behaviour(api_key="sk-the-right-one")) as server:
        bot = _openai_bot(admin.tenant, f"{server.url}/v1")
        page = _test_provider(client, bot)
        zh = _test_provider(client, bot, lang="zh-hans")
    result = _result(page)
    assert 'data-ok="false"' in result and "check the API key" in result.split('id="provider-test-error"')[1]
    detail = result.split('id="provider-test-detail"')[1].split("</code>")[0]
    assert "Incorrect API key provided" in detail and "sk-" not in detail
    assert "sk-secret-123" not in page and "sk-secret-123" not in zh
    assert "请检查 API 密钥" in _result(zh)
    assert AuditLog.objects.filter(action="bot.provider_test", data__ok=False, data__status=401).count() == 2


def test_provider_test_calls_only_the_bots_own_provider(client, admin, loopback):  # type: ignore[no-untyped-def]
    with FakeOpenAI(Behaviour(fail_status=500)) as broken, FakeOpenAI() as healthy:
        backup = _openai_bot(admin.tenant, f"{healthy.url}/v1", name="backup", enabled=False)
        bot = _openai_bot(admin.tenant, f"{broken.url}/v1", backup=backup)
        result = _result(_test_provider(client, bot))
    assert 'data-ok="false"' in result and "server error (HTTP 500)" in result
    assert len(broken.requests) == 1 and healthy.requests == []


def test_provider_test_explains_refused_connections_timeouts_and_rate_limits(client, admin, loopback):  # type: ignore[no-untyped-def]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    bot = _openai_bot(admin.tenant, f"http://127.0.0.1:{closed_port}/v1")
    assert "Connection refused by 127.0.0.1:" in _result(_test_provider(client, bot))
    with FakeOpenAI(Behaviour(first_token_delay=3.0)) as slow:
        Bot.objects.filter(pk=bot.pk).update(base_url=f"{slow.url}/v1")
        started = time.monotonic()
        result = _result(_test_provider(client, bot))
        assert time.monotonic() - started < 3.0
    assert "No answer within the time limits (first token 1 s, total 4 s)" in result
    with FakeOpenAI(Behaviour(fail_status=429)) as limited:
        Bot.objects.filter(pk=bot.pk).update(base_url=f"{limited.url}/v1")
        assert "Rate limited (HTTP 429)" in _result(_test_provider(client, bot))


def test_provider_test_refuses_private_addresses_unless_allowed(client, admin, settings):  # type: ignore[no-untyped-def]
    settings.KEFU_OUTBOUND_ALLOWLIST = []
    with FakeOpenAI() as server:
        bot = _openai_bot(admin.tenant, f"{server.url}/v1")
        result = _result(_test_provider(client, bot))
    assert "This address is not allowed" in result and server.requests == []


def test_provider_test_reports_the_fastgpt_dataset_search(client, admin, loopback):  # type: ignore[no-untyped-def]
    with FakeFastGPT() as server:
        bot = Bot.objects.create(
            tenant=admin.tenant,
            name="fg",
            provider="fastgpt",
            base_url=f"{server.url}/api/v1",
            api_key="fastgpt-k",
            extra={"dataset_id": FASTGPT_DATASET},
        )
        ok = _result(_test_provider(client, bot))
        Bot.objects.filter(pk=bot.pk).update(extra={"dataset_id": "missing"})
        missing = _result(_test_provider(client, bot))
    assert 'data-ok="true"' in ok and "Dataset search: 2 passages in" in ok
    assert 'data-ok="true"' in missing and "unExistDataset" in missing.split('id="provider-test-dataset"')[1]


def test_provider_test_is_post_only_admin_only_csrf_protected_and_tenant_scoped(client, admin, loopback):  # type: ignore[no-untyped-def]
    with FakeOpenAI() as server:
        bot = _openai_bot(admin.tenant, f"{server.url}/v1")
        foreign = _openai_bot(TenantFactory(), f"{server.url}/v1")
        assert client.get(f"/console/ai/bots/{bot.pk}/test/").status_code == 405
        assert client.post(f"/console/ai/bots/{foreign.pk}/test/").status_code == 404
        strict = Client(enforce_csrf_checks=True)
        strict.force_login(admin.user)
        assert strict.post(f"/console/ai/bots/{bot.pk}/test/").status_code == 403
        agent = AgentFactory(tenant=admin.tenant, role=Role.AGENT)
        client.force_login(agent.user)
        assert client.post(f"/console/ai/bots/{bot.pk}/test/").status_code == 403
        assert server.requests == []
    assert not AuditLog.objects.filter(action="bot.provider_test").exists()


def test_local_bots_have_nothing_to_test(client, admin):  # type: ignore[no-untyped-def]
    bot = Bot.objects.create(tenant=admin.tenant, name="local")
    assert 'id="provider-test"' not in client.get(f"/console/ai/bots/{bot.pk}/").content.decode()
    res = client.post(f"/console/ai/bots/{bot.pk}/test/", follow=True, HTTP_ACCEPT_LANGUAGE="en")
    assert "no provider to test" in res.content.decode()
