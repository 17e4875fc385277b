"""The answer-check model (judge.py) against the fake OpenAI-compatible server: it reranks,
decides "don't know", translates, and a failing model only costs the check."""

from __future__ import annotations

import json

import pytest

from bots.knowledge import judge, services
from bots.knowledge.answer import kb_answer
from bots.knowledge.search import search_knowledge_bases
from tests.fakes.http import Behaviour
from tests.fakes.openai_server import FakeOpenAI

ENTRIES = {
    "ship-time": ("下单后多久发货?", "现货商品付款后48小时内发货。"),
    "delivery-time": ("快递一般几天能到?", "江浙沪1-2天,其他地区3-5天。"),
    "change-phone": ("怎么更换绑定的手机号?", "在账号设置中验证原手机号后更换。"),
}


@pytest.fixture
def shop(kb, run_on_commit, settings):  # type: ignore[no-untyped-def]
    settings.KEFU_OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    judge.cache.items.clear()
    ids = {
        key: run_on_commit(services.faq_create, knowledge_base=kb, question=q, answer=a).pk
        for key, (q, a) in ENTRIES.items()
    }
    return ids


def _configure(kb, fake) -> None:  # type: ignore[no-untyped-def]
    kb.llm_base_url, kb.llm_model, kb.llm_api_key = f"{fake.url}/v1", "judge-mini", "sk-judge"
    kb.save()


def _ask(kb, question: str):  # type: ignore[no-untyped-def]
    return kb_answer(tenant=kb.tenant, knowledge_base_ids=[kb.pk], question=question)


def test_the_model_picks_the_candidate_that_answers(kb, shop) -> None:  # type: ignore[no-untyped-def]
    question = "快递路上大概走多久"
    plain = _ask(kb, question)
    with FakeOpenAI(Behaviour(api_key="sk-judge")) as fake:
        _configure(kb, fake)
        candidates = search_knowledge_bases([kb], question, k=8)
        position = next(i for i, h in enumerate(candidates) if h.id == shop["delivery-time"]) + 1
        fake.behaviour.chunks = [json.dumps({"answer": position, "translation": None})]
        answer = _ask(kb, question)
        body = fake.requests[-1].json()
    assert answer.matched and answer.sources[0]["id"] == shop["delivery-time"]
    assert answer.text == "江浙沪1-2天,其他地区3-5天。"
    assert answer.why["decision"] == "checked" and answer.why["checked_rank"] == position
    assert body["model"] == "judge-mini" and body["temperature"] == 0 and not body.get("stream")
    prompt = body["messages"][-1]["content"]
    assert prompt.startswith("Question: 快递路上大概走多久") and "[1] Q: " in prompt
    assert "快递一般几天能到?" in prompt and "A: 江浙沪1-2天" in prompt
    assert fake.requests[-1].headers["authorization"] == "Bearer sk-judge"
    # Without the model the keyword decision was not sure enough to answer this one.
    assert not plain.matched


def test_the_model_says_none_answers(kb, shop) -> None:  # type: ignore[no-untyped-def]
    with FakeOpenAI(Behaviour(chunks=['{"answer": null, "translation": null}'])) as fake:
        _configure(kb, fake)
        answer = _ask(kb, "手机壳是什么材质的")
    assert not answer.matched and answer.sources == []
    assert answer.why["decision"] == "checked_none" and "人工" in answer.text


def test_the_model_translates_an_answer_into_the_questions_language(kb, shop) -> None:  # type: ignore[no-untyped-def]
    reply = {"answer": 1, "translation": "In-stock items ship within 48 hours of payment."}
    with FakeOpenAI(Behaviour(chunks=["```json\n" + json.dumps(reply) + "\n```"])) as fake:
        _configure(kb, fake)
        answer = _ask(kb, "how soon do you ship my order")
    assert answer.matched and answer.text == "In-stock items ship within 48 hours of payment."
    assert answer.why["translated"] == {"question": "en", "answer": "zh"}


@pytest.mark.parametrize(
    "behaviour",
    [Behaviour(fail_status=500), Behaviour(chunks=["I think the second one."]), Behaviour(chunks=['{"answer": 9}'])],
)
def test_a_failing_model_leaves_the_keyword_decision(kb, shop, behaviour) -> None:  # type: ignore[no-untyped-def]
    question = "手机号换了,账号绑的还是旧号"
    expected = _ask(kb, question)
    with FakeOpenAI(behaviour) as fake:
        _configure(kb, fake)
        answer = _ask(kb, question)
        assert fake.requests  # it was asked
    assert answer.matched == expected.matched and answer.text == expected.text
    assert answer.why["decision"] == expected.why["decision"] != "checked"


def test_a_private_address_is_refused_unless_allowed(kb, shop, settings) -> None:  # type: ignore[no-untyped-def]
    settings.KEFU_OUTBOUND_ALLOWLIST = []
    judge._clients.clear()
    with FakeOpenAI(Behaviour(chunks=['{"answer": 1}'])) as fake:
        _configure(kb, fake)
        answer = _ask(kb, "下单后多久发货")
        assert not fake.requests
    assert answer.why["decision"] != "checked"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"answer": 2, "translation": "x"}', judge.Verdict(1, "x")),
        ('sure: {"answer": "1"}', judge.Verdict(0, None)),
        ('{"answer": null}', judge.Verdict(None)),
    ],
)
def test_parse_reads_the_verdict(content: str, expected: judge.Verdict) -> None:
    assert judge.parse(content, 3) == expected


@pytest.mark.parametrize("content", ["", "no", '{"answer": 4}', '{"answer": true}', '{"answer": 0}', "[1]"])
def test_parse_rejects_what_it_cannot_trust(content: str) -> None:
    with pytest.raises(judge.JudgeError):
        judge.parse(content, 3)
