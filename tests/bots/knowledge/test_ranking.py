"""FAQ ranking on small knowledge bases: a word's forms count once, both fields share one IDF.

A tenant's FAQ is usually a few dozen entries. There, plain BM25 over word + synonym
group + dictionary pivots counted an exact word three to five times, and the question
field's IDF came from a handful of short questions; a word the tenant uses everywhere
(客服 in a customer-service product) then outweighed the words that mattered. Each
ranking test below also shows that the former scoring gets it wrong.
"""

from __future__ import annotations

import numpy as np
import pytest

from bots.knowledge import index as index_module
from bots.knowledge import search
from bots.knowledge.bm25 import Bm25Index, as_units, document_frequencies
from bots.knowledge.index import build_faq_index
from bots.knowledge.text import query_terms, query_units, tokenize


def _faqs(entries: dict[str, tuple[str, str]]):  # type: ignore[no-untyped-def]
    keys = list(entries)
    faqs = build_faq_index(
        [entries[k][0] for k in keys],
        [[] for _ in keys],
        [entries[k][1] for k in keys],
        list(range(len(keys))),
        [None] * len(keys),
    )
    return keys, faqs


def _ranking(keys: list[str], faqs, query: str) -> list[str]:  # type: ignore[no-untyped-def]
    scores = search.faq_scores(faqs, query_units(query))
    return [keys[i] for i in np.argsort(-scores, kind="stable") if scores[i] > 0]


def test_a_words_forms_are_one_unit_and_its_surface_is_not() -> None:
    units = query_units("客服")
    word = next(u for u in units if "客服" in u)
    assert "~1" in word and "@custom" in word  # synonym group and pivots: alternatives of the word
    assert {"!客"} in [set(u) for u in units] and {"#客服"} in [set(u) for u in units]
    english = next(u for u in query_units("Can I export conversation history?") if "conversation" in u)
    assert set(english) == {"conversation", "~5", "@convers"}
    # The units hold exactly the terms (and weights) of the flat query.
    flat: dict[str, float] = {}
    for unit in query_units("客服账号不够用了,想再加几个"):
        for term, weight in unit.items():
            flat[term] = flat.get(term, 0.0) + weight
    assert flat == pytest.approx(query_terms("客服账号不够用了,想再加几个"))


SUPPORT = {
    "csat": ("Can customers rate the conversation?", "Enable the satisfaction survey under Settings > Inbox."),
    "export": ("可以导出聊天记录吗?", "在会话列表选择时间范围后点击导出,生成CSV文件。"),
    "invite": ("How do I invite a teammate?", "Go to Settings > Members and click Invite."),
    "offline": ("客服不在线时访客怎么留言?", "所有客服离线时插件切换为留言模式,消息进入待处理。"),
    "seats": ("如何增加坐席数量?", "管理员进入设置-订阅-调整坐席,新增坐席按剩余天数折算费用。"),
    "handoff": ("机器人回答不了怎么转人工?", "访客输入转人工时会话转入人工队列并分配给在线客服。"),
    "hours": ("Can I set business hours?", "Settings > Business hours sets opening times per weekday."),
}


def test_an_exact_english_word_does_not_outweigh_a_translated_pair(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    keys, faqs = _faqs(SUPPORT)
    query = "Can I export conversation history?"
    assert _ranking(keys, faqs, query)[0] == "export"  # export + conversation, both through the bridge
    monkeypatch.setattr(search, "FORMS_COUNT_ONCE", False)
    assert _ranking(keys, faqs, query)[0] == "csat"  # "conversation" counted three times


def test_a_frequent_domain_word_does_not_outweigh_the_topic(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    keys, faqs = _faqs(SUPPORT)
    query = "我们的客服席位不够,想多买几个"
    assert _ranking(keys, faqs, query)[0] == "seats"  # 席位 meets 坐席 through the dictionary (@seat)
    monkeypatch.setattr(search, "FORMS_COUNT_ONCE", False)
    assert _ranking(keys, faqs, query)[0] == "offline"  # 客服 as word + synonym group + two pivots


def test_faq_fields_share_document_frequencies(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _, faqs = _faqs(SUPPORT)
    questions, answers = faqs.question_index, faqs.answer_index
    assert np.array_equal(questions.idf[questions.vocab["客服"]], answers.idf[answers.vocab["客服"]])
    # 客服 is in one question but also in three answers: no longer the rarest kind of word.
    top = float(questions.idf.max())
    assert questions.idf[questions.vocab["客服"]] < top
    assert questions.idf[questions.vocab["坐席"]] < top  # 坐席 is in one question and one answer (twice)
    monkeypatch.setattr(index_module, "FAQ_SHARED_IDF", False)
    _, own = _faqs(SUPPORT)
    questions = own.question_index
    assert questions.idf[questions.vocab["客服"]] == pytest.approx(float(questions.idf.max()))


def test_document_frequencies_count_each_text_once() -> None:
    df, size = document_frequencies([["a", "a", "b"], ["b"]], [["a"]])
    assert size == 3 and df == {"a": 2, "b": 2}
    index = Bm25Index([["a", "c"]], statistics=(df, size))
    assert index.idf[index.vocab["a"]] == pytest.approx(np.log1p((3 - 2 + 0.5) / (2 + 0.5)))
    assert index.idf[index.vocab["c"]] == pytest.approx(np.log1p((3 + 0.5) / 0.5))  # unseen: as rare as can be


def test_term_scores_match_the_bincount_path() -> None:
    docs = [tokenize(t) for t in ("怎么申请退款", "发票在订单页申请", "退款七天内到账 refund")]
    index = Bm25Index(docs)
    terms = ["退款", "申请", "refund", "nothing-like-it"]
    dense = index.term_scores(terms)
    assert dense.shape == (4, 3) and not dense[3].any()
    for row, term in enumerate(terms):
        assert dense[row] == pytest.approx(index.scores([term]))


def test_coverage_counts_a_unit_by_its_best_form() -> None:
    index = Bm25Index([tokenize("坐席"), tokenize("客服"), tokenize("发票")])
    units = query_units("客服")
    rows = np.asarray([0, 1, 2])
    by_unit = index.coverage(units, rows)
    by_term = index.coverage(query_terms("客服"), rows)
    # 坐席 shares only the synonym group with 客服: covered as one form of the word, not a third of it.
    assert by_unit[0] > by_term[0] > 0
    assert by_unit[1] == pytest.approx(1.0) and by_term[1] == pytest.approx(1.0)
    assert by_unit[2] == 0
    assert as_units(["a", "a", "#ab"]) == [{"a": 1.0}, {"#ab": 0.5}]  # plain terms: one unit each, distinct


def test_hyphenated_compounds_reach_the_synonym_table() -> None:
    assert set(tokenize("on-premise")) & set(tokenize("私有化"))
    assert set(tokenize("self-host")) & set(tokenize("私有化"))
    assert "premise" in tokenize("on-premise")  # the parts stay terms
    keys, faqs = _faqs({**SUPPORT, "self-host": ("支持私有化部署吗?", "提供Docker Compose一键部署。")})
    assert _ranking(keys, faqs, "Is there an on-premise version?")[0] == "self-host"
