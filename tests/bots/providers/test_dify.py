"""Dify adapter against the fake Dify Service API."""

from __future__ import annotations

from bots.interface import ProviderAuthError, ProviderConfig, ProviderRateLimited
from bots.providers.base import build_provider
from bots.providers.dify import STATE_KEY, DifyProvider
from tests.bots.providers.conftest import FAST, collect, make_request
from tests.fakes.dify_server import FakeDify
from tests.fakes.http import Behaviour


def provider(server: FakeDify, **extra: object) -> DifyProvider:
    config = ProviderConfig(kind="dify", base_url=server.url + "/v1", api_key="app-test", timeouts=FAST, extra=extra)
    return build_provider(config)  # type: ignore[return-value]


async def test_chat_streams_and_keeps_conversation_id_across_turns() -> None:
    with FakeDify(Behaviour(keepalive=True)) as server:
        first = await collect(provider(server))
        assert first.error is None and first.done is not None
        assert first.deltas == ["Your order", " shipped", " yesterday."]
        assert first.done.text == "Your order shipped yesterday."
        assert first.done.usage.total_tokens == 1037
        assert first.done.sources[0].title == "Shipping" and first.done.sources[0].score == 0.98
        conversation_id = first.done.provider_state[STATE_KEY]
        second = await collect(provider(server), make_request(provider_state=first.done.provider_state))
    assert second.done is not None and second.done.provider_state[STATE_KEY] == conversation_id
    body1, body2 = server.requests[0].json(), server.requests[1].json()
    assert body1["conversation_id"] == "" and body2["conversation_id"] == conversation_id
    assert body2 == {
        "inputs": {},
        "query": "Where is my order?",
        "response_mode": "streaming",
        "conversation_id": conversation_id,
        "user": "visitor-4821",
    }
    assert server.requests[0].path == "/v1/chat-messages"


async def test_chatflow_ends_at_message_end_and_ignores_workflow_events() -> None:
    server = FakeDify()
    server.chatflow = True
    with server:
        out = await collect(provider(server))
    assert out.done is not None and out.done.text == "Your order shipped yesterday."


async def test_message_replace_wins() -> None:
    server = FakeDify()
    server.message_replace = "Sorry, I can't answer that."
    with server:
        out = await collect(provider(server))
    assert out.done is not None and out.done.text == "Sorry, I can't answer that."


async def test_workflow_app_uses_workflows_run() -> None:
    with FakeDify() as server:
        out = await collect(provider(server, app_type="workflow"))
    assert out.done is not None and out.done.text == "Your order shipped yesterday."
    assert out.done.usage.total_tokens == 150
    assert server.requests[0].path == "/v1/workflows/run"
    assert server.requests[0].json()["inputs"] == {"query": "Where is my order?"}


async def test_error_event_mid_stream_keeps_partial() -> None:
    with FakeDify(Behaviour(error_mid_stream=True)) as server:
        out = await collect(provider(server))
    assert out.done is None and out.error is not None
    assert "completion_request_error" in str(out.error) and out.error.partial_text == "Your order"


async def test_chatflow_failure_without_message_end_is_error() -> None:
    server = FakeDify(Behaviour(error_mid_stream=True))
    server.chatflow = True
    with server:
        out = await collect(provider(server))
    assert out.done is None and out.error is not None


async def test_401_and_429_and_500() -> None:
    with FakeDify(Behaviour(api_key="app-other")) as server:
        assert isinstance((await collect(provider(server))).error, ProviderAuthError)
    with FakeDify(Behaviour(fail_status=429, retry_after=3)) as server:
        error = (await collect(provider(server))).error
        assert isinstance(error, ProviderRateLimited) and error.transient and error.retry_after == 3.0
    with FakeDify(Behaviour(fail_status=500)) as server:
        error = (await collect(provider(server))).error
        assert error is not None and error.transient and error.status == 500


async def test_truncated_stream_is_not_complete() -> None:
    with FakeDify(Behaviour(truncate=True)) as server:
        out = await collect(provider(server))
    assert out.done is None and out.error is not None and out.error.partial_text == "Your order shipped yesterday."


async def test_unknown_conversation_is_a_non_transient_error() -> None:
    with FakeDify() as server:
        out = await collect(provider(server), make_request(provider_state={STATE_KEY: "5ad4cb98-0000"}))
    assert out.error is not None and out.error.status == 404 and not out.error.transient
