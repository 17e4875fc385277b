"""Fixtures for knowledge-base tests: tenants, KBs, on-commit execution, a fake embeddings server."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from bots.knowledge import services
from bots.knowledge.models import KnowledgeBase
from kefu.models import Tenant
from tests.factories import TenantFactory

DIMS = 32
# The fake model "understands" one concept across languages, so tests can show
# vector search finding what keyword search cannot.
REFUND_WORDS = ("退款", "money back", "refund")


def fake_embedding(text: str) -> list[float]:
    lowered = text.lower()
    if any(word in lowered for word in REFUND_WORDS):
        vector = np.zeros(DIMS, dtype=np.float32)
        vector[0] = 1.0
        return vector.tolist()
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")
    vector = np.random.default_rng(seed).normal(size=DIMS).astype(np.float32)
    vector[0] = 0.0
    return (vector / np.linalg.norm(vector)).tolist()


class FakeEmbeddings:
    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.fail = False
        handler = self._handler()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
                if fake.fail or self.path != "/v1/embeddings":
                    payload = json.dumps({"error": {"message": "bad request", "type": "invalid_request_error"}})
                    self.send_response(400)
                else:
                    inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
                    payload = json.dumps(
                        {
                            "object": "list",
                            "model": body["model"],
                            "data": [
                                {"object": "embedding", "index": i, "embedding": fake_embedding(t)}
                                for i, t in enumerate(inputs)
                            ],
                            "usage": {"prompt_tokens": 1, "total_tokens": 1},
                        }
                    )
                    self.send_response(200)
                data = payload.encode()
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler


@pytest.fixture
def embeddings_server(settings) -> Iterator[FakeEmbeddings]:  # type: ignore[no-untyped-def]
    settings.KEFU_OUTBOUND_ALLOWLIST = ["127.0.0.1"]  # the SSRF guard refuses loopback otherwise
    fake = FakeEmbeddings()
    fake.thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


@pytest.fixture
def tenant(db: None) -> Tenant:
    return TenantFactory()


@pytest.fixture
def kb(tenant: Tenant) -> KnowledgeBase:
    return services.knowledge_base_create(tenant=tenant, name="Help center")


@pytest.fixture
def run_on_commit(django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    """Run a block and then its on-commit callbacks (tasks, version bumps), as a commit would."""

    class Runner:
        def __call__(self, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
            with django_capture_on_commit_callbacks(execute=True):
                return fn(*args, **kwargs)

    return Runner()
