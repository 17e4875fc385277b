"""Coze v3 adapter against the fake Coze server (no-space SSE fields, quoted "[DONE]")."""

from __future__ import annotations

import asyncio
import time

import pytest

from bots.interface import (
    ProviderAuthError,
    ProviderBadResponse,
    ProviderConfig,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
    Timeouts,
)
from bots.providers.base import Provider, build_provider
from bots.providers.coze import STATE_KEY
from tests.bots.providers.conftest import FAST, collect, make_request
from tests.fakes.coze_server import BOT_ID, NEW_CONVERSATION_ID, FakeCoze
from tests.fakes.http import Behaviour


def provider(server: FakeCoze) -> Provider:
    return build_provider(
        ProviderConfig(kind="coze", base_url=server.url, api_key="pat_test", timeouts=FAST, extra={"bot_id": BOT_ID})
    )


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
    assert body["additional_messages"] == [
        {"role": "user", "type": "question", "content": "Where is my order?", "content_type": "text"}
    ]


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


# --- polling mode (stream: false, then /v3/chat/retrieve) -------------------------------------

POLL_TIMEOUTS = Timeouts(connect=1.0, first_token=2.0, idle=3.0, total=10.0)


def polling(server: FakeCoze, timeouts: Timeouts = POLL_TIMEOUTS) -> Provider:
    return build_provider(
        ProviderConfig(
            kind="coze",
            base_url=server.url,
            api_key="pat_test",
            timeouts=timeouts,
            extra={"bot_id": BOT_ID, "response_mode": "polling"},
        )
    )


async def _cancels(server: FakeCoze, wait: float = 3.0) -> list[dict]:
    # The cancel goes out in the background, after the caller has been given its error.
    deadline = time.monotonic() + wait
    while not server.cancels and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    return server.cancels


async def test_polling_waits_for_completion_then_reads_the_messages() -> None:
    server = FakeCoze(Behaviour(api_key="pat_test"))
    server.polls_needed = 2
    with server:
        out = await collect(polling(server))
        assert out.error is None and out.done is not None
        again = await collect(polling(server), make_request(provider_state=out.done.provider_state))
    assert out.text == "Your order shipped yesterday." == out.done.text
    assert out.done.quick_replies == ("When will it arrive?", "Can I change the address?")
    assert out.done.usage.total_tokens == 633 and out.done.usage.prompt_tokens == 614
    assert out.done.provider_state[STATE_KEY] == NEW_CONVERSATION_ID
    create, *polls, listing = server.requests[:4]
    assert create.method == "POST" and create.path == "/v3/chat" and "conversation_id" not in create.query
    body = create.json()
    assert body["stream"] is False and body["auto_save_history"] is True and body["bot_id"] == BOT_ID
    chat = server.chats[polls[0].query["chat_id"]]
    assert [p.path for p in polls] == ["/v3/chat/retrieve"] * 2 and chat.polls == 2
    assert polls[0].query == {"conversation_id": NEW_CONVERSATION_ID, "chat_id": chat.chat_id}
    assert listing.path == "/v3/chat/message/list" and listing.query == polls[0].query
    # At most one retrieve per second.
    assert chat.retrieved_at[1] - chat.retrieved_at[0] >= 0.95
    assert server.cancels == []
    assert again.done is not None and server.requests[4].query["conversation_id"] == NEW_CONVERSATION_ID


async def test_polling_joins_several_answers() -> None:
    server = FakeCoze()
    server.answers = 2
    with server:
        out = await collect(polling(server))
    assert out.done is not None and out.done.text == "Your order shipped yesterday.\n\nYour order shipped yesterday."


@pytest.mark.parametrize(
    ("status", "error_type", "transient", "cancelled"),
    [
        ("failed", ProviderError, True, False),
        ("requires_action", ProviderBadResponse, False, True),
        ("canceled", ProviderError, False, False),
    ],
)
async def test_polling_end_states_other_than_completed(status, error_type, transient, cancelled) -> None:
    server = FakeCoze()
    server.final_status = status
    with server:
        out = await collect(polling(server))
        cancels = await _cancels(server, wait=1.0 if cancelled else 0.3)
    assert out.done is None and type(out.error) is error_type and out.error.transient is transient
    assert out.error.partial_text == ""
    assert not any(r.path.endswith("/message/list") for r in server.requests)
    assert bool(cancels) is cancelled
    if status == "failed":
        assert "model overloaded" in str(out.error)


async def test_polling_error_envelopes() -> None:
    with FakeCoze(Behaviour(api_key="pat_other")) as server:
        error = (await collect(polling(server))).error
        assert isinstance(error, ProviderAuthError) and "4100" in str(error)
    with FakeCoze(Behaviour(error_json_200=True)) as server:
        error = (await collect(polling(server))).error
        assert isinstance(error, ProviderBadResponse) and "json fail" in str(error) and not error.transient
    with FakeCoze(Behaviour(fail_status=429)) as server:
        assert isinstance((await collect(polling(server))).error, ProviderRateLimited)
    server = FakeCoze()
    server.fail_path = "/v3/chat/retrieve"
    with server:
        error = (await collect(polling(server))).error
        # HTTP 200 with code 5000: a provider fault, and the chat is cancelled rather than left running.
        assert isinstance(error, ProviderError) and error.transient and "5000" in str(error)
        assert len(await _cancels(server)) == 1
    server = FakeCoze()
    server.fail_path = "/v3/chat/message/list"
    with server:
        out = await collect(polling(server))
    assert out.done is None and out.error is not None and "message/list" in str(out.error)


async def test_polling_is_bounded_by_the_total_timeout_and_cancels_the_chat() -> None:
    server = FakeCoze()
    server.polls_needed = 1000
    with server:
        started = time.monotonic()
        out = await collect(polling(server, Timeouts(connect=1.0, first_token=2.0, idle=3.0, total=2.5)))
        elapsed = time.monotonic() - started
        cancels = await _cancels(server)
        chat = next(iter(server.chats.values()))
        assert isinstance(out.error, ProviderTimeout) and 2.3 <= elapsed < 3.5
        assert chat.polls <= 3
        assert cancels == [{"conversation_id": NEW_CONVERSATION_ID, "chat_id": chat.chat_id}] and chat.canceled
        # The conversation is free again: the next turn is not refused with 4016.
        server.polls_needed = 1
        again = await collect(polling(server), make_request(provider_state={STATE_KEY: NEW_CONVERSATION_ID}))
    assert again.error is None and again.done is not None and again.done.text == "Your order shipped yesterday."


async def test_unknown_response_mode_streams() -> None:
    with FakeCoze() as server:
        config = ProviderConfig(
            kind="coze",
            base_url=server.url,
            api_key="pat_test",
            timeouts=FAST,
            extra={"bot_id": BOT_ID, "response_mode": "blocking"},
        )
        out = await collect(build_provider(config))
    assert out.done is not None and server.requests[0].json()["stream"] is True
