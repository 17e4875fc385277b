"""kb_answer: answers with sources, the low-confidence path, and translation."""

from __future__ import annotations

from django.utils import translation

from bots.knowledge import services
from bots.knowledge.answer import kb_answer


def _seed(kb, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    run_on_commit(
        services.faq_create,
        knowledge_base=kb,
        question="怎么取消订阅?",
        answer="在设置-订阅中点击取消自动续费。",
        alternates=["如何退订"],
    )
    run_on_commit(
        services.faq_create, knowledge_base=kb, question="支持开发票吗?", answer="支持,在订单页申请电子发票。"
    )
    run_on_commit(
        services.document_create,
        knowledge_base=kb,
        title="配送说明",
        text="我们使用顺丰快递配送。偏远地区需要三到五天送达。",
        source_type="text",
    )


def test_answer_from_faq_with_source(kb, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    _seed(kb, run_on_commit)
    answer = kb_answer(tenant=kb.tenant, knowledge_base_ids=[kb.pk], question="我想取消订阅")
    assert answer.matched
    assert answer.text == "在设置-订阅中点击取消自动续费。"
    assert answer.sources[0]["type"] == "faq"
    assert answer.sources[0]["title"] == "怎么取消订阅?"
    assert set(answer.sources[0]) == {"type", "id", "title", "score", "confidence", "snippet"}
    assert 0 < answer.confidence <= 1


def test_answer_from_passage_with_document_source(kb, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    _seed(kb, run_on_commit)
    answer = kb_answer(tenant=kb.tenant, knowledge_base_ids=[kb.pk], question="偏远地区几天送达")
    assert answer.matched
    assert "三到五天" in answer.text
    assert answer.sources[0]["type"] == "chunk" and answer.sources[0]["title"] == "配送说明"


def test_low_confidence_says_it_does_not_know(kb, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    _seed(kb, run_on_commit)
    with translation.override("en"):
        answer = kb_answer(tenant=kb.tenant, knowledge_base_ids=[kb.pk], question="what is the weather in Paris")
    assert not answer.matched
    assert answer.sources == []
    assert "human" in answer.text
    with translation.override("zh-hans"):
        chinese = kb_answer(tenant=kb.tenant, knowledge_base_ids=[kb.pk], question="今天巴黎天气如何")
    assert not chinese.matched and "人工" in chinese.text


def test_empty_kb_and_empty_question(kb) -> None:  # type: ignore[no-untyped-def]
    assert not kb_answer(tenant=kb.tenant, knowledge_base_ids=[kb.pk], question="随便问问").matched
    assert not kb_answer(tenant=kb.tenant, knowledge_base_ids=[kb.pk], question="   ").matched


def test_threshold_setting(kb, run_on_commit, settings) -> None:  # type: ignore[no-untyped-def]
    _seed(kb, run_on_commit)
    settings.KEFU_KB_ANSWER_THRESHOLD = 1.01
    assert not kb_answer(tenant=kb.tenant, knowledge_base_ids=[kb.pk], question="怎么取消订阅?").matched
