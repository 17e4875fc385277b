"""Serves the product and, on a second port, a demo customer site that embeds the widget.

The demo site is on another origin on purpose: the widget must work cross-origin,
exactly as on a customer's site.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.template.loader import render_to_string

from kefu.models import Tenant


def demo_page(*, product_url: str, widget_key: str) -> bytes:
    return render_to_string("demo/site.html", {"product_url": product_url, "widget_key": widget_key}).encode()


class Command(BaseCommand):
    help = "Run the product (ASGI) and the demo customer site."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--demo-port", type=int, default=8001)

    def handle(self, *args: Any, **options: Any) -> None:
        host, port, demo_port = options["host"], options["port"], options["demo_port"]
        product_url = f"http://{host}:{port}"
        tenant = Tenant.objects.filter(slug="demo").first()
        key = tenant.widget_key if tenant else "missing: run manage.py seed_demo"
        page = demo_page(product_url=product_url, widget_key=key)

        class DemoSite(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(page)))
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
        settings.KEFU_PUBLIC_URL = product_url
        call_command("runserver", f"{host}:{port}", use_reloader=False)
