"""FastGPT adapter against the fake server: chatId, plain and detail streams, error envelopes."""

from __future__ import annotations

import pytest

from bots.interface import ProviderAuthError, ProviderConfig, ProviderError
from bots.providers.base import Provider, build_provider
from bots.providers.fastgpt import PROMPT_VARIABLE, STATE_KEY, FastGPTProvider, api_root
from tests.bots.providers.conftest import FAST, collect, make_request
from tests.fakes.fastgpt_server import DATASET_ID, FakeFastGPT
from tests.fakes.http import Behaviour


def provider(server: FakeFastGPT, detail: bool = False) -> Provider:
    return build_provider(
        ProviderConfig(
            kind="fastgpt",
            base_url=server.url + "/api/v1",
            api_key="fastgpt-test",
            timeouts=FAST,
            extra={"detail": detail},
        )
    )


async def test_plain_stream_and_chat_id_per_conversation() -> None:
    with FakeFastGPT(Behaviour(keepalive=True)) as server:
        out = await collect(provider(server), make_request(conversation_key="conv-9"))
    assert out.done is not None and out.done.text == "Your order shipped yesterday."
    assert out.done.provider_state[STATE_KEY] == "kefu-conv-9"
    body = server.requests[0].json()
    assert server.requests[0].path == "/api/v1/chat/completions"
    assert body["chatId"] == "kefu-conv-9" and body["stream"] is True and body["detail"] is False
    assert body["messages"] == [{"role": "user", "content": "Where is my order?"}]
    assert body["variables"] == {"uid": "visitor-4821"}


async def test_system_prompt_and_reference_material_travel_as_a_variable() -> None:
    with FakeFastGPT() as server:
        await collect(provider(server), make_request(system_prompt="Be brief.\n\n[1] Refunds: 5 days"))
    variables = server.requests[0].json()["variables"]
    assert variables[PROMPT_VARIABLE] == "Be brief.\n\n[1] Refunds: 5 days" and variables["uid"] == "visitor-4821"


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


# --- knowledge-base (dataset) search ----------------------------------------------------------


def searcher(server: FakeFastGPT, base: str = "/api/v1", **extra: object) -> FastGPTProvider:
    config = ProviderConfig(
        kind="fastgpt",
        base_url=server.url + base,
        api_key="fastgpt-test",
        timeouts=FAST,
        extra={"dataset_id": DATASET_ID, **extra},
    )
    return build_provider(config)  # type: ignore[return-value]


@pytest.mark.parametrize("shape", ["list", "array"])
async def test_dataset_search_reads_both_response_shapes(shape: str) -> None:
    server = FakeFastGPT(Behaviour(api_key="fastgpt-test"))
    server.search_shape = shape
    with server:
        passages = await searcher(server).search_dataset("退货和退款")
    request = server.requests[0]
    assert request.path == "/api/core/dataset/searchTest" and request.headers["authorization"] == "Bearer fastgpt-test"
    assert request.json() == {
        "datasetId": DATASET_ID,
        "text": "退货和退款",
        "limit": 1500,
        "similarity": 0.4,
        "searchMode": "embedding",
        "usingReRank": False,
    }
    # Best first; the 0.35 passage is under the similarity floor.
    assert [(p.title, p.score) for p in passages] == [("refunds-faq.csv", 0.91), ("售后手册.pdf", 0.82)]
    assert passages[0].content == "How long do refunds take?\nRefunds reach the card in 5 working days."
    assert passages[1].content == "退货政策: 签收后 7 天内可无理由退货。" and passages[0].url == "6a54aa02"


async def test_dataset_search_options_and_host_root() -> None:
    with FakeFastGPT() as server:
        passages = await searcher(
            server,
            base="/api",
            dataset_limit=500,
            dataset_similarity=0,
            dataset_search_mode="mixedRecall",
            dataset_rerank=True,
        ).search_dataset("shipping")
    assert server.requests[0].path == "/api/core/dataset/searchTest"
    body = server.requests[0].json()
    assert (body["limit"], body["similarity"], body["searchMode"], body["usingReRank"]) == (
        500,
        0.0,
        "mixedRecall",
        True,
    )
    assert len(passages) == 3
    assert api_root("https://api.fastgpt.in/api/v1/") == "https://api.fastgpt.in/api"
    assert api_root("http://10.0.0.5:3000") == "http://10.0.0.5:3000/api"


async def test_dataset_search_error_envelopes() -> None:
    with FakeFastGPT(Behaviour(api_key="fastgpt-other")) as server:
        with pytest.raises(ProviderAuthError):
            await searcher(server).search_dataset("q")
    with FakeFastGPT() as server:
        with pytest.raises(ProviderError, match="unExistDataset"):
            await searcher(server, dataset_id="nope").search_dataset("q")
    server = FakeFastGPT()
    server.error_status = 200  # older servers: the error envelope with HTTP 200
    server.search_failure = {"code": 500, "message": "vector store unavailable"}
    with server:
        with pytest.raises(ProviderError, match="vector store unavailable"):
            await searcher(server).search_dataset("q")
    with FakeFastGPT() as server:
        assert await build_provider(ProviderConfig(kind="fastgpt", base_url=server.url)).search_dataset("q") == []
    assert server.requests == []
