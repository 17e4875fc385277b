"""FastGPT adapter against the fake server: chatId, plain and detail streams, error envelopes."""

from __future__ import annotations

from bots.interface import ProviderAuthError, ProviderConfig
from bots.providers.base import Provider, build_provider
from bots.providers.fastgpt import STATE_KEY
from tests.bots.providers.conftest import FAST, collect, make_request
from tests.fakes.fastgpt_server import FakeFastGPT
from tests.fakes.http import Behaviour


def provider(server: FakeFastGPT, detail: bool = False) -> Provider:
    return build_provider(ProviderConfig(kind="fastgpt", base_url=server.url + "/api/v1", api_key="fastgpt-test",
                                         timeouts=FAST, extra={"detail": detail}))


async def test_plain_stream_and_chat_id_per_conversation() -> None:
    with FakeFastGPT(Behaviour(keepalive=True)) as server:
        out = await collect(provider(server), make_request(conversation_key="conv-9"))
    assert out.done is not None and out.done.text == "Your order shipped yesterday."
    assert out.done.provider_state[STATE_KEY] == "kefu-conv-9"
    body = server.requests[0].json()
    assert server.requests[0].path == "/api/v1/chat/completions"
    assert body["chatId"] == "kefu-conv-9" and body["stream"] is True and body["detail"] is False
    assert body["messages"] == [{"role": "user", "content": "Where is my order?"}]


async def test_detail_stream_reads_past_done_for_flow_responses() -> None:
    with FakeFastGPT() as server:
        out = await collect(provider(server, detail=True))
    assert out.done is not None and out.done.text == "Your order shipped yesterday."
    assert out.done.usage.total_tokens == 40


async def test_error_envelopes_http_200_and_500() -> None:
    with FakeFastGPT(Behaviour(api_key="fastgpt-other")) as server:
        assert isinstance((await collect(provider(server))).error, ProviderAuthError)
    with FakeFastGPT(Behaviour(error_json_200=True)) as server:
        error = (await collect(provider(server))).error
        assert error is not None and not error.transient and "insufficientQuota" in str(error)
    with FakeFastGPT(Behaviour(fail_status=500)) as server:
        error = (await collect(provider(server))).error
        assert error is not None and error.transient


async def test_detail_error_event_and_truncation() -> None:
    with FakeFastGPT(Behaviour(error_mid_stream=True)) as server:
        out = await collect(provider(server, detail=True))
    assert out.done is None and out.error is not None and out.error.partial_text == "Your order"
    with FakeFastGPT(Behaviour(truncate=True)) as server:
        out = await collect(provider(server))
    assert out.done is None and out.error is not None and out.error.partial_text == "Your order shipped yesterday."
