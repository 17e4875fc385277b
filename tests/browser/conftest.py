"""Shared fixtures for browser tests (headless Chromium through Playwright's sync API).

Fixtures, all generic so that the widget and the agent-console tests share them:

- ``browser``: one Chromium for the session (``/usr/bin/chromium``, headless).
- ``kefu_server``: a real daphne process (``tests.liveserver``) on the test database and
  Redis, on a port in 8400-8499, started once per session. Tests using it must be marked
  ``@pytest.mark.django_db(transaction=True)`` so their rows are committed and visible
  to the server. ``kefu_server.restart()`` stops and starts it on the same port.
- ``demo_site``: a second origin (another port) that plays a customer's website. It
  serves ``templates/demo/site.html`` for ``demo_site.url(widget_key)``, or any HTML
  registered with ``demo_site.add_page(path, html)``. Its ``origin`` goes into
  the widget inbox's ``allowed_origins``.
- ``new_page``: a factory of pages, each in a fresh browser context (own storage), with
  ``page.kefu_dialogs`` and ``page.kefu_errors`` collecting any JavaScript dialog and
  uncaught page error, and ``page.kefu_log`` a transcript of console lines and WebSocket
  frames (printed at teardown with KEFU_BROWSER_LOG=1). Pass ``open_shadow=True`` to make closed shadow roots open so a
  test can look inside the widget (the product itself always uses a closed root).
- ``widget_tenant``: a tenant whose allowed origins contain the demo site.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.liveserver import Server, free_port_in, server_env, start_server

PORTS = range(8400, 8500)  # the range this machine reserves for our test servers
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

# Test-only: turns attachShadow({mode: "closed"}) into an open root so Playwright's
# selectors can pierce it. Installed per page, only when a test asks for it.
OPEN_SHADOW_ROOTS = """
(() => {
  const attach = Element.prototype.attachShadow;
  Element.prototype.attachShadow = function (init) {
    return attach.call(this, Object.assign({}, init, {mode: "open"}));
  };
})();
"""


def port_in_range(exclude: set[int] | None = None) -> int:
    """A free TCP port in 8400-8499 (other engineers' servers may hold some of them)."""
    return free_port_in(PORTS, exclude or ())


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread, which makes
    # Django refuse ORM calls from the test body. The test thread is not really async
    # (Playwright runs in a greenlet), so the documented escape hatch is safe here.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="session")
def kefu_server(django_db_setup: Any, django_db_blocker: Any) -> Iterator[Server]:
    with django_db_blocker.unblock():
        env = server_env()
    server = start_server(port=port_in_range(), env=env)
    try:
        yield server
    finally:
        server.stop()


@dataclass
class DemoSite:
    port: int
    product_url: str
    pages: dict[str, bytes] = field(default_factory=dict)
    server: ThreadingHTTPServer | None = None

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, widget_key: str, path: str = "/") -> str:
        """The demo shop page with the widget of ``widget_key`` (or a page added at ``path``)."""
        return f"{self.origin}{path}?key={widget_key}"

    def add_page(self, path: str, html: str) -> str:
        """Serve ``html`` at ``path``; ``{product_url}`` and ``{widget_key}`` are filled per request."""
        self.pages[path] = html.encode()
        return f"{self.origin}{path}"

    def render(self, path: str, key: str) -> bytes:
        if path in self.pages:
            return (
                self.pages[path]
                .replace(b"{product_url}", self.product_url.encode())
                .replace(b"{widget_key}", key.encode())
            )
        from kefu.management.commands.run_demo import demo_page

        return demo_page(product_url=self.product_url, widget_key=key)


@pytest.fixture(scope="session")
def demo_site(kefu_server: Server) -> Iterator[DemoSite]:
    site = DemoSite(port=port_in_range(exclude={kefu_server.port}), product_url=kefu_server.url)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            parts = urlsplit(self.path)
            if parts.path == "/favicon.ico":
                self.send_response(204)
                self.end_headers()
                return
            key = parse_qs(parts.query).get("key", [""])[0]
            body = site.render(parts.path, key)
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    site.server = ThreadingHTTPServer(("127.0.0.1", site.port), Handler)
    threading.Thread(target=site.server.serve_forever, daemon=True).start()
    try:
        yield site
    finally:
        site.server.shutdown()
        site.server.server_close()


@pytest.fixture
def new_page(browser: Any) -> Iterator[Callable[..., Any]]:
    contexts: list[Any] = []
    pages: list[Any] = []

    def make(*, open_shadow: bool = False, context: Any = None, **context_options: Any) -> Any:
        if context is None:
            context = browser.new_context(locale=context_options.pop("locale", "en-US"), **context_options)
            contexts.append(context)
        if open_shadow:
            context.add_init_script(OPEN_SHADOW_ROOTS)
        page = context.new_page()
        page.kefu_dialogs = []
        page.kefu_errors = []

        def on_dialog(dialog: Any) -> None:
            page.kefu_dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", on_dialog)
        page.on("pageerror", lambda exc: page.kefu_errors.append(str(exc)))
        # A transcript for failure reports: console lines and WebSocket frames.
        page.kefu_log = []
        page.on("console", lambda msg: page.kefu_log.append(f"console {msg.type}: {msg.text}"))

        def on_socket(ws: Any) -> None:
            page.kefu_log.append(f"ws open {ws.url}")
            ws.on("framesent", lambda payload: page.kefu_log.append(f"ws > {str(payload)[:300]}"))
            ws.on("framereceived", lambda payload: page.kefu_log.append(f"ws < {str(payload)[:300]}"))
            ws.on("close", lambda _ws: page.kefu_log.append("ws closed"))

        page.on("websocket", on_socket)
        pages.append(page)
        return page

    yield make
    if os.environ.get("KEFU_BROWSER_LOG"):
        for page in pages:
            print(f"--- {page.url}\n" + "\n".join(page.kefu_log))
    for context in contexts:
        context.close()
    if pages:
        # Let work the pages triggered (routing, receipts) finish on the server before the
        # transactional teardown TRUNCATEs the tables under it (that can deadlock).
        time.sleep(0.5)


@pytest.fixture
def widget_tenant(demo_site: DemoSite, kefu_server: Server) -> Any:
    from django.core.cache import cache

    from tests.factories import TenantFactory

    tenant = TenantFactory(
        name="Demo Shop",
        allowed_origins=[demo_site.origin],
        widget_settings={
            "color": "#1677ff",
            "position": "right",
            "welcome": "",
            "avatar": "",
            "prechat": False,
        },
    )
    # The server caches the union of allowed origins for CORS preflights (shared Redis
    # cache, same prefix). A preflight still in flight when the previous test's rows were
    # flushed can cache an empty set, so start every test from a fresh one.
    # Then wait until the server's preflight really admits the origin.
    deadline = time.monotonic() + 10
    while True:
        cache.delete("kefu:widget:origins")
        request = urllib.request.Request(
            f"{kefu_server.url}/widget/api/bootstrap",
            method="OPTIONS",
            headers={
                "Origin": demo_site.origin,
                "Access-Control-Request-Method": "POST",
            },
        )
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            if response.headers.get("Access-Control-Allow-Origin") == demo_site.origin:
                return tenant
        if time.monotonic() > deadline:
            raise RuntimeError("the server never admitted the demo origin")
        time.sleep(0.1)
