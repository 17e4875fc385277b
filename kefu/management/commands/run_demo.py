"""Serves the product and, on a second port, a demo customer site that embeds the widget.

The demo site is on another origin on purpose: the widget must work cross-origin,
exactly as on a customer's site.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import close_old_connections
from django.template.loader import render_to_string

from kefu.models import Channel, Inbox
from kefu.services.visitors import identity_hash

DEMO_USER = {"id": "demo-user-1", "name": "Li Lei", "email": "li.lei@example.com"}


def demo_page(*, product_url: str, widget_key: str, demo_user: dict[str, str] | None = None) -> bytes:
    context = {"product_url": product_url, "widget_key": widget_key, "demo_user": demo_user}
    return render_to_string("demo/site.html", context).encode()


def _demo_tenant_page(product_url: str) -> bytes:
    # Read per request: re-running seed_demo (or editing the tenant) needs no restart.
    close_old_connections()
    widget = _demo_widget()
    if widget is None:
        return demo_page(product_url=product_url, widget_key="missing: run manage.py seed_demo")
    # What a real host site does on its server: sign the logged-in user's id.
    user = {**DEMO_USER, "hash": identity_hash(tenant=widget.tenant, external_id=DEMO_USER["id"])}
    return demo_page(product_url=product_url, widget_key=widget.key, demo_user=user)


def _demo_widget() -> Inbox | None:
    """The demo tenant's first website widget."""
    return (
        Inbox.objects.filter(tenant__slug="demo", channel=Channel.WIDGET, is_active=True)
        .select_related("tenant")
        .order_by("created_at", "pk")
        .first()
    )


def _allow_demo_origin(host: str, demo_port: int) -> None:
    widget = _demo_widget()
    if widget is None:
        return
    origins = {f"http://{host}:{demo_port}", f"http://localhost:{demo_port}", f"http://127.0.0.1:{demo_port}"}
    if not origins <= set(widget.allowed_origins or []):
        widget.allowed_origins = sorted(set(widget.allowed_origins or []) | origins)
        widget.save(update_fields=["allowed_origins"])


class Command(BaseCommand):
    help = "Run the product (ASGI) and the demo customer site."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--demo-port", type=int, default=8001)

    def handle(self, *args: Any, **options: Any) -> None:
        host, port, demo_port = options["host"], options["port"], options["demo_port"]
        product_url = f"http://{host}:{port}"
        _allow_demo_origin(host, demo_port)

        class DemoSite(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                path = urlsplit(self.path).path
                if path not in ("/", "/index.html"):
                    self.send_response(404 if path != "/favicon.ico" else 204)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                page = _demo_tenant_page(product_url)
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(page)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer((host, demo_port), DemoSite)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.stdout.write(self.style.SUCCESS("Kefu is starting:"))
        self.stdout.write(f"  Product / agent console : {product_url}/console/")
        self.stdout.write(f"  Django admin            : {product_url}/admin/")
        self.stdout.write(f"  API docs                : {product_url}/api/docs/")
        self.stdout.write(f"  Demo customer site      : http://{host}:{demo_port}/   (chat as a visitor here)")
        self.stdout.write(
            f'  Widget embed code       : <script src="{product_url}/static/kefu/widget.js" '
            'data-key="<tenant widget key>" async></script>'
        )
        settings.KEFU_PUBLIC_URL = product_url
        call_command("runserver", f"{host}:{port}", use_reloader=False)
