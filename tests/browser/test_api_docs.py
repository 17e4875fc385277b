"""Issue 14 item 10: /api/docs/ (Swagger UI) renders with no internet."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_swagger_ui_renders_from_local_files_only(new_page, kefu_server):
    path, ready = "/api/docs/", ".swagger-ui .opblock"
    page = new_page()
    outside: list[str] = []

    def only_local(route):
        host = urlsplit(route.request.url).hostname
        if host in ("127.0.0.1", "localhost"):
            route.continue_()
        else:  # no internet here: any other host is where a CDN would have been
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_local)
    page.goto(kefu_server.url + path)
    page.wait_for_selector(ready, timeout=15_000)
    assert outside == []
    assert page.locator(ready).count() > 5
    assert page.kefu_errors == []
