"""The knowledge-base console in headless Chromium against a real daphne whose ingestion runs
in background threads: create a knowledge base, upload, watch the bar poll up to "ready",
then ask a question and see the answer with its source."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from playwright.sync_api import expect

from bots.knowledge.models import Document, DocumentStatus, KnowledgeBase
from kefu.models import AuditLog, Role
from tests.browser.console_fixtures import login, server_password
from tests.factories import AgentFactory, TenantFactory
from tests.liveserver import Server, free_port_in, server_env, start_server

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]

PORTS = range(8700, 8800)  # this suite's port range
SCREENSHOTS = Path(settings.BASE_DIR) / "docs" / "screenshots"
VIEWPORT = {"width": 1440, "height": 1000}
DIMS = 16
# Each embeddings request waits a little, so ingestion of the document (several batches
# of 64 chunks) takes a few seconds and the page really polls while the bar moves.
BATCH_DELAY = 0.6
TOPICS = 150


def _port(exclude: frozenset[int] = frozenset()) -> int:
    return free_port_in(PORTS, exclude)


def _vector(text: str) -> list[float]:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")
    vector = np.random.default_rng(seed).normal(size=DIMS)
    return (vector / np.linalg.norm(vector)).tolist()


class SlowEmbeddings(BaseHTTPRequestHandler):
    requests = 0

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        type(self).requests += 1
        if len(inputs) > 1:
            time.sleep(BATCH_DELAY)
        data = json.dumps(
            {
                "object": "list",
                "model": body["model"],
                "usage": {"prompt_tokens": 1, "total_tokens": 1},
                "data": [{"object": "embedding", "index": i, "embedding": _vector(t)} for i, t in enumerate(inputs)],
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="module")
def embeddings_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", _port()), SlowEmbeddings)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def ai_server(django_db_setup, django_db_blocker, embeddings_url) -> Iterator[Server]:  # type: ignore[no-untyped-def]
    used = frozenset({int(embeddings_url.rsplit(":", 1)[1].split("/")[0])})
    with django_db_blocker.unblock():
        # Threads, not Celery: ingestion runs beside the server, as in the embedded default.
        env = server_env(KEFU_TASKS_MODE="thread", KEFU_OUTBOUND_ALLOWLIST="127.0.0.1")
    server = start_server(port=_port(used), env=env)
    try:
        yield server
    finally:
        server.stop()


def _handbook() -> bytes:
    lines = ["# Shop handbook", ""]
    lines += [
        "## Refunds",
        "",
        "Refunds are paid back to the original card within 7 working days after the returned parcel "
        "arrives at our warehouse in Hangzhou.",
        "",
    ]
    for n in range(TOPICS):
        lines += [
            f"## Product line {n}",
            "",
            f"Product line {n} ships in box size {n % 7} and comes with a "
            f"{1 + n % 3}-year warranty card numbered W-{n:04d}.",
            "",
        ]
    return "\n".join(lines).encode()


def test_admin_uploads_watches_progress_and_tries_a_question(new_page, ai_server, embeddings_url, tmp_path) -> None:  # type: ignore[no-untyped-def]
    tenant = TenantFactory(name="Demo Shop")
    admin = AgentFactory(tenant=tenant, display_name="Wang", role=Role.ADMIN)
    server_password(admin.user)
    page = new_page(viewport=VIEWPORT)
    progress_calls: list[str] = []
    page.on("request", lambda r: progress_calls.append(r.url) if r.url.split("?")[0].endswith("/progress") else None)
    login(page, ai_server, admin.user.username)

    # From the console to Settings, then to the AI section the bots app registered.
    page.click("#settings-link")
    page.get_by_role("link", name="Knowledge bases").click()
    expect(page.locator("h2")).to_have_text("Knowledge bases")

    page.fill("#id_name", "Help center")
    page.fill("#id_description", "What the bot answers from")
    page.click("#kb-create button")
    expect(page.locator("h2")).to_have_text("Help center")
    kb = KnowledgeBase.objects.get(tenant=tenant, name="Help center")

    # Vector search: the API key field is write-only and never comes back.
    page.fill("#kb_embedding_base_url", embeddings_url)
    page.fill("#kb_embedding_model", "text-embedding-3-small")
    page.fill("#kb_embedding_api_key", "sk-embed-secret")
    page.click("#kb-settings button")
    expect(page.locator(".flash li")).to_have_text("Saved.")
    assert "sk-embed-secret" not in page.content()

    handbook = tmp_path / "handbook.md"
    handbook.write_bytes(_handbook())
    page.set_input_files("#upload_file", str(handbook))
    page.click("#upload-submit")
    row = page.locator("tr[data-document]").first
    expect(row).to_be_visible()
    document = Document.objects.get(knowledge_base=kb)
    # Ingestion runs in a background thread: the page draws it in flight and starts polling.
    assert row.get_attribute("data-status") in ("pending", "processing"), row.get_attribute("data-status")
    expect(page.locator("#documents")).to_have_attribute("data-polling", "on")
    bar = row.locator('[role="progressbar"]')
    seen: set[int] = set()
    deadline = time.monotonic() + 60
    while row.get_attribute("data-status") != "ready":
        seen.add(int(bar.get_attribute("aria-valuenow") or 0))
        assert row.get_attribute("data-status") != "failed", row.inner_text()
        assert time.monotonic() < deadline, f"never ready; progress seen {sorted(seen)}"
        time.sleep(0.1)
    expect(row.locator('[data-role="status"]')).to_have_text("Ready")
    expect(row.locator('[data-role="percent"]')).to_have_text("100%")
    assert len([s for s in seen if 0 < s < 100]) >= 2, f"the bar should move through several steps: {sorted(seen)}"
    assert len(progress_calls) >= 2
    document.refresh_from_db()
    assert document.status == DocumentStatus.READY
    chunks = document.chunks.count()
    expect(row.locator('[data-role="chunks"]')).to_have_text(str(chunks))
    expect(page.locator("#chunk-total")).to_have_text(str(chunks))
    # Polling stops once nothing is in flight.
    expect(page.locator("#documents")).to_have_attribute("data-polling", "off")
    calls = len(progress_calls)
    page.wait_for_timeout(2500)
    assert len(progress_calls) == calls

    # A FAQ entry, then a question answered from the handbook with its source.
    page.fill("#faq_question", "Do you ship abroad?")
    page.fill("#faq_answer", "Yes, to 30 countries.")
    page.click("#faq-form button")
    expect(page.locator("tr[data-faq]")).to_have_count(1)

    page.fill("#ask-q", "How many working days until refunds are paid back to my card?")
    page.click("#ask-submit")
    answer = page.locator("#ask-answer")
    expect(answer).to_be_visible()
    expect(page.locator("#ask-text")).to_contain_text("7 working days")
    expect(page.locator("#ask-sources")).to_contain_text("handbook.md")
    expect(answer.locator(".pill")).to_have_text("Answered")
    # Why: the decision against the threshold and the best match.
    expect(page.locator("#why-decision")).to_contain_text("Answered: confidence")
    expect(page.locator("#why-best")).to_contain_text("handbook.md")
    page.locator("#ask").scroll_into_view_if_needed()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.locator(".settings-main").evaluate("el => el.scrollTo(0, 0)")
    page.screenshot(path=str(SCREENSHOTS / "console-knowledge.png"))

    assert not page.kefu_errors, page.kefu_errors
    actions = set(AuditLog.objects.filter(tenant=tenant).values_list("action", flat=True))
    assert {
        "knowledge_base.create",
        "knowledge_base.update",
        "knowledge.document.create",
        "knowledge.faq.create",
    } <= actions


def test_bot_form_shows_the_one_enabled_bot_rule_inline(new_page, ai_server) -> None:  # type: ignore[no-untyped-def]
    from bots.models import Bot

    tenant = TenantFactory(name="Demo Shop")
    admin = AgentFactory(tenant=tenant, display_name="Wang", role=Role.ADMIN)
    Bot.objects.create(tenant=tenant, name="Xiaozhi", enabled=True, channel="widget")
    server_password(admin.user)
    page = new_page(viewport=VIEWPORT)
    login(page, ai_server, admin.user.username)
    page.goto(f"{ai_server.url}/console/ai/bots/")
    page.click("#bot-new")
    page.fill("#id_name", "Second")
    page.select_option("#id_provider", "openai")
    page.fill("#id_model", "deepseek-chat")
    page.fill("#id_api_key", "sk-browser-secret")
    page.click("#bot-save")
    error = page.locator(".field-row.has-error .errorlist")
    expect(error).to_contain_text("already answers this channel")
    # The key typed is not echoed back into the page after the error.
    assert "sk-browser-secret" not in page.content()
    shots = Path("/tmp/aiconsole-shots")  # noqa: S108 (review aid, not an artefact)
    shots.mkdir(exist_ok=True)
    page.screenshot(path=str(shots / "bot-form.png"), full_page=True)
    page.uncheck("#id_enabled")
    page.fill("#id_api_key", "sk-browser-secret")
    page.click("#bot-save")
    expect(page.locator(".flash li")).to_have_text("Bot saved.")
    expect(page.locator("tr[data-bot]")).to_have_count(2)
    page.screenshot(path=str(shots / "bot-list.png"), full_page=True)
    assert Bot.objects.get(tenant=tenant, name="Second").api_key == "sk-browser-secret"
    assert not page.kefu_errors, page.kefu_errors
