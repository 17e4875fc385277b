"""LocalProvider: wraps an injected knowledge-base answer function."""

from __future__ import annotations

import pytest

from bots.interface import ProviderConfig
from bots.providers.base import available_kinds, build_provider, register_provider
from bots.providers.local import LocalProvider
from tests.bots.providers.conftest import collect


async def test_sync_answer_fn_streams_in_chunks() -> None:
    calls: list[str] = []

    def answer(question: str) -> tuple[str, list, float, bool]:
        calls.append(question)
        return "订单一般在 24 小时内发货，发货后会短信通知您。", [{"title": "Shipping", "score": 0.9}], 0.9, True

    out = await collect(LocalProvider(ProviderConfig(kind="local"), answer, chunk_chars=5))
    assert calls == ["Where is my order?"]
    assert len(out.deltas) > 2 and all(len(d) <= 5 for d in out.deltas)
    assert out.done is not None and out.done.text == out.text == "订单一般在 24 小时内发货，发货后会短信通知您。"
    assert out.done.sources[0].title == "Shipping" and out.done.confidence == 0.9 and out.done.matched


async def test_async_answer_fn_and_no_match() -> None:
    async def answer(question: str) -> tuple[str, list, float, bool]:
        return "", [], 0.1, False

    out = await collect(build_provider(ProviderConfig(kind="local"), answer_fn=answer))
    assert out.deltas == [] and out.done is not None and not out.done.matched


async def test_min_confidence_turns_a_weak_match_into_no_match() -> None:
    provider = LocalProvider(ProviderConfig(kind="local"), lambda q: ("maybe", [], 0.3, True), min_confidence=0.5)
    out = await collect(provider)
    assert out.done is not None and not out.done.matched and out.deltas == []


def test_registry_lists_builtins_and_accepts_registrations() -> None:
    assert {"openai", "dify", "coze", "fastgpt", "local"} <= set(available_kinds())
    register_provider("echo-test", lambda config: LocalProvider(config, lambda q: (q, [], 1.0, True)))
    assert "echo-test" in available_kinds()
    assert isinstance(build_provider(ProviderConfig(kind="echo-test")), LocalProvider)
    with pytest.raises(KeyError):
        build_provider(ProviderConfig(kind="no-such-provider"))
