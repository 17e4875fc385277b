"""OpenAI-compatible adapter against the fake server: happy path, every failure mode, embeddings."""

from __future__ import annotations

import pytest

from bots.interface import (
    ChatMessage,
    ProviderAuthError,
    ProviderConfig,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
)
from bots.providers.base import build_provider
from bots.providers.openai_compat import OpenAICompatProvider
from tests.bots.providers.conftest import FAST, collect, make_request
from tests.fakes.http import Behaviour
from tests.fakes.openai_server import FakeOpenAI


def provider(server: FakeOpenAI, **kwargs: object) -> OpenAICompatProvider:
    config = ProviderConfig(
        kind="openai", base_url=server.url + "/v1", api_key="sk-test", model="gpt-4o-mini", timeouts=FAST, **kwargs
    )
    built = build_provider(config)
    assert isinstance(built, OpenAICompatProvider)
    return built


async def test_streams_deltas_and_usage_and_sends_history() -> None:
    with FakeOpenAI(Behaviour(api_key="sk-test")) as server:
        request = make_request(history=[ChatMessage("user", "hi"), ChatMessage("assistant", "hello")])
        out = await collect(provider(server, system_prompt="Be brief.", temperature=0.2, max_tokens=50), request)
    assert out.error is None
    assert out.deltas == ["Your order", " shipped", " yesterday."]
    assert out.done is not None and out.done.text == "Your order shipped yesterday."
    assert out.done.usage.total_tokens == 28
    sent = server.requests[0].json()
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."}
    assert [m["role"] for m in sent["messages"]] == ["system", "user", "assistant", "user"]
    assert sent["temperature"] == 0.2 and sent["max_tokens"] == 50
    assert server.requests[0].headers["authorization"] == "Bearer sk-test"


async def test_keepalive_comments_are_ignored() -> None:
    with FakeOpenAI(Behaviour(keepalive=True)) as server:
        out = await collect(provider(server))
    assert out.done is not None and out.done.text == "Your order shipped yesterday."


async def test_401_is_auth_error_not_transient() -> None:
    with FakeOpenAI(Behaviour(api_key="other")) as server:
        out = await collect(provider(server))
    assert isinstance(out.error, ProviderAuthError) and not out.error.transient
    assert len(server.requests) == 1, "the SDK must not retry"


async def test_429_is_rate_limited_with_retry_after_and_no_sdk_retry() -> None:
    with FakeOpenAI(Behaviour(fail_status=429, retry_after=7)) as server:
        out = await collect(provider(server))
    assert isinstance(out.error, ProviderRateLimited)
    assert out.error.transient and out.error.retry_after == 7.0
    assert len(server.requests) == 1


async def test_500_is_transient() -> None:
    with FakeOpenAI(Behaviour(fail_status=500)) as server:
        out = await collect(provider(server))
    assert isinstance(out.error, ProviderError) and out.error.transient and out.error.status == 500


async def test_error_event_mid_stream_reports_partial() -> None:
    with FakeOpenAI(Behaviour(error_mid_stream=True)) as server:
        out = await collect(provider(server))
    assert out.done is None
    assert out.error is not None and out.error.partial_text == "Your order"


async def test_truncated_stream_is_partial_never_complete() -> None:
    with FakeOpenAI(Behaviour(truncate=True)) as server:
        out = await collect(provider(server))
    assert out.done is None
    assert out.error is not None and out.error.transient
    assert out.error.partial_text == "Your order shipped yesterday."


async def test_slow_first_token_times_out() -> None:
    with FakeOpenAI(Behaviour(first_token_delay=2.0)) as server:
        out = await collect(provider(server))
    assert isinstance(out.error, ProviderTimeout)
    assert out.error.partial_text == ""


async def test_slow_stream_times_out_between_chunks_with_partial() -> None:
    with FakeOpenAI(Behaviour(chunk_delay=2.0)) as server:
        out = await collect(provider(server))
    assert isinstance(out.error, ProviderTimeout)
    assert out.error.partial_text == "Your order"


async def test_unreachable_server_is_transient() -> None:
    config = ProviderConfig(kind="openai", base_url="http://127.0.0.1:9/v1", api_key="k", model="m", timeouts=FAST)
    out = await collect(build_provider(config))
    assert out.error is not None and out.error.transient


@pytest.mark.parametrize("texts", [["hello"], ["a", "b", "c"]])
async def test_embeddings(texts: list[str]) -> None:
    with FakeOpenAI() as server:
        vectors = await provider(server).embed(texts, model="text-embedding-3-small")
    assert len(vectors) == len(texts) and all(len(v) == 8 for v in vectors)
    assert server.requests[0].json()["encoding_format"] == "float"


async def test_request_is_the_one_the_sdk_create_call_sends() -> None:
    """The stream goes through the SDK's generic `post` (no per-request TypedDict transform);
    the wire request must still be exactly what `chat.completions.create` sends."""
    from openai import AsyncOpenAI

    with FakeOpenAI(Behaviour(api_key="sk-test")) as server:
        ours = provider(server, system_prompt="S", temperature=0.3, max_tokens=20, extra={"extra_body": {"top_k": 5}})
        out = await collect(ours, make_request(history=[ChatMessage("user", "hi")]))
        sdk = AsyncOpenAI(api_key="sk-test", base_url=server.url + "/v1", max_retries=0)
        async with sdk.chat.completions.with_streaming_response.create(
            stream=True,
            stream_options={"include_usage": True},
            model="gpt-4o-mini",
            messages=[
                {"role": "system", "content": "S"},
                {"role": "user", "content": "hi"},
                {"role": "user", "content": "Where is my order?"},
            ],
            temperature=0.3,
            max_tokens=20,
            user="visitor-4821",
            extra_body={"top_k": 5},
        ) as response:
            async for _ in response.iter_bytes():
                pass
        await sdk.close()
    assert out.done is not None and out.error is None
    mine, theirs = server.requests
    assert (mine.method, mine.target) == (theirs.method, theirs.target)
    assert mine.json() == theirs.json()
    # Only the SDK's own raw-response marker and our read timeout differ.
    differ = {"x-stainless-raw-response", "x-stainless-read-timeout", "host"}
    assert {k: v for k, v in mine.headers.items() if k not in differ} == {
        k: v for k, v in theirs.headers.items() if k not in differ
    }


async def test_sdk_clients_are_shared_per_endpoint_and_key() -> None:
    from bots.providers.base import POOL_SHARDS
    from bots.providers.openai_compat import shared_client

    with FakeOpenAI() as server:
        first, again = provider(server), provider(server)
        other_key = build_provider(
            ProviderConfig(
                kind="openai", base_url=server.url + "/v1", api_key="sk-other", model="gpt-4o-mini", timeouts=FAST
            )
        )
        for shard in range(POOL_SHARDS):
            assert shared_client(first.config, shard) is shared_client(again.config, shard)
            assert shared_client(first.config, shard) is not shared_client(other_key.config, shard)
        # Every provider object streams through them, one pool shard after another.
        for _ in range(3):
            assert (await collect(again)).done is not None
            assert (await collect(other_key)).done is not None
