"""Coze v3 adapter against the fake Coze server (no-space SSE fields, quoted "[DONE]")."""

from __future__ import annotations

from bots.interface import ProviderAuthError, ProviderBadResponse, ProviderConfig, ProviderRateLimited, ProviderTimeout
from bots.providers.base import Provider, build_provider
from bots.providers.coze import STATE_KEY
from tests.bots.providers.conftest import FAST, collect, make_request
from tests.fakes.coze_server import BOT_ID, NEW_CONVERSATION_ID, FakeCoze
from tests.fakes.http import Behaviour


def provider(server: FakeCoze) -> Provider:
    return build_provider(ProviderConfig(kind="coze", base_url=server.url, api_key="pat_test", timeouts=FAST,
                                         extra={"bot_id": BOT_ID}))


async def test_streams_answer_follow_ups_usage_and_conversation() -> None:
    with FakeCoze(Behaviour(api_key="pat_test")) as server:
        out = await collect(provider(server))
        assert out.error is None and out.done is not None
        assert out.text == "Your order shipped yesterday." == out.done.text
        assert out.done.quick_replies == ("When will it arrive?", "Can I change the address?")
        assert out.done.usage.total_tokens == 633
        assert out.done.provider_state[STATE_KEY] == NEW_CONVERSATION_ID
        again = await collect(provider(server), make_request(provider_state=out.done.provider_state))
    assert again.done is not None
    first, second = server.requests
    assert "conversation_id" not in first.query
    assert second.query["conversation_id"] == NEW_CONVERSATION_ID
    body = second.json()
    assert body["bot_id"] == BOT_ID and body["user_id"] == "visitor-4821" and body["stream"] is True
    assert body["additional_messages"] == [{"role": "user", "type": "question", "content": "Where is my order?",
                                            "content_type": "text"}]


async def test_several_answers_are_joined() -> None:
    server = FakeCoze()
    server.answers = 2
    with server:
        out = await collect(provider(server))
    assert out.done is not None
    assert out.done.text == "Your order shipped yesterday.\n\nYour order shipped yesterday." == out.text


async def test_http_200_error_json_is_detected_before_sse_parsing() -> None:
    with FakeCoze(Behaviour(error_json_200=True)) as server:
        out = await collect(provider(server))
    assert isinstance(out.error, ProviderBadResponse) and "4000" in str(out.error) and not out.error.transient


async def test_auth_and_rate_limit_codes() -> None:
    with FakeCoze(Behaviour(api_key="pat_other")) as server:
        assert isinstance((await collect(provider(server))).error, ProviderAuthError)
    with FakeCoze(Behaviour(fail_status=429)) as server:
        assert isinstance((await collect(provider(server))).error, ProviderRateLimited)


async def test_chat_failed_mid_stream_is_partial() -> None:
    with FakeCoze(Behaviour(error_mid_stream=True)) as server:
        out = await collect(provider(server))
    assert out.done is None and out.error is not None and out.error.partial_text == "Your order"
    assert "event interval error" in str(out.error)


async def test_truncated_and_slow() -> None:
    with FakeCoze(Behaviour(truncate=True)) as server:
        out = await collect(provider(server))
    assert out.done is None and out.error is not None and out.error.partial_text
    with FakeCoze(Behaviour(first_token_delay=2.0)) as server:
        out = await collect(provider(server))
    # chat.created events arrive at once, but they carry no text: only text counts as the first token.
    assert isinstance(out.error, ProviderTimeout)
