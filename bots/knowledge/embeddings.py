"""Embeddings from any OpenAI-compatible /v1/embeddings endpoint, stored as float32 bytes."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import openai
from django.conf import settings

from kefu import outbound

if TYPE_CHECKING:
    from bots.knowledge.models import KnowledgeBase

BATCH = 64
TIMEOUT_SECONDS = 20.0


class EmbeddingError(Exception):
    pass


@dataclass(frozen=True)
class EmbeddingConfig:
    base_url: str
    model: str
    api_key: str = ""

    @classmethod
    def for_knowledge_base(cls, kb: KnowledgeBase) -> EmbeddingConfig | None:
        if not kb.has_embeddings:
            return None
        return cls(base_url=kb.embedding_base_url, model=kb.embedding_model, api_key=kb.embedding_api_key)


_clients: dict[EmbeddingConfig, openai.OpenAI] = {}
_clients_lock = threading.Lock()


def _client(config: EmbeddingConfig) -> openai.OpenAI:
    with _clients_lock:
        client = _clients.get(config)
        if client is None:
            # Tenant admins choose the URL: refuse private addresses unless the operator
            # allows them; the guarded client checks every connection and follows no redirect.
            try:
                outbound.check_url(config.base_url, allowlist=settings.KEFU_OUTBOUND_ALLOWLIST, resolve=False)
            except outbound.OutboundURLRefused as exc:
                raise EmbeddingError(str(exc)) from exc
            # The SDK insists on a key; local servers (Ollama, vLLM) ignore it.
            client = openai.OpenAI(
                base_url=config.base_url,
                api_key=config.api_key or "unused",
                timeout=TIMEOUT_SECONDS,
                max_retries=2,
                http_client=outbound.sync_client(allowlist=outbound.settings_allowlist, timeout=TIMEOUT_SECONDS),
            )
            _clients[config] = client
        return client


def normalize_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (matrix / norms).astype(np.float32)


def embed_texts(
    config: EmbeddingConfig, texts: Sequence[str], *, on_batch: Callable[[int, int], None] | None = None
) -> np.ndarray:
    """Unit-length float32 rows, one per text, in order."""
    rows: list[list[float]] = []
    for start in range(0, len(texts), BATCH):
        batch = list(texts[start : start + BATCH])
        try:
            response = _client(config).embeddings.create(model=config.model, input=batch, encoding_format="float")
        except openai.OpenAIError as exc:
            refused = outbound.refusal_in(exc)  # the SDK reports a refusal as "Connection error."
            raise EmbeddingError(str(refused or exc)[:300]) from exc
        data = sorted(response.data, key=lambda item: item.index)
        if len(data) != len(batch):
            raise EmbeddingError(f"expected {len(batch)} embeddings, got {len(data)}")
        rows.extend(list(item.embedding) for item in data)
        if on_batch:
            on_batch(min(start + BATCH, len(texts)), len(texts))
    if not rows:
        return np.zeros((0, 0), dtype=np.float32)
    return normalize_rows(np.asarray(rows, dtype=np.float32))


def to_bytes(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def from_bytes(data: bytes | memoryview | None) -> np.ndarray | None:
    if not data:
        return None
    return np.frombuffer(bytes(data), dtype="<f4")


class _QueryCache:
    """Visitors repeat questions; a query embedding is one network round trip saved."""

    def __init__(self, size: int = 2048) -> None:
        self.size = size
        self.items: OrderedDict[tuple[EmbeddingConfig, str], np.ndarray] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, config: EmbeddingConfig, text: str) -> np.ndarray:
        key = (config, text)
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        vector = embed_texts(config, [text])[0]
        with self.lock:
            self.items[key] = vector
            while len(self.items) > self.size:
                self.items.popitem(last=False)
        return vector


query_cache = _QueryCache()


def embed_query(config: EmbeddingConfig, text: str) -> np.ndarray:
    return query_cache.get(config, text)
