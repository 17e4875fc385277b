"""Tokenization and chunking, Chinese first."""

from __future__ import annotations

from bots.knowledge import chunking
from bots.knowledge.chunking import chunk_sections, split_sentences
from bots.knowledge.parsers import Section
from bots.knowledge.text import tokenize


def test_tokenize_chinese_words_bigrams_and_stop_words() -> None:
    terms = tokenize("怎么取消订阅？")
    assert "取消" in terms and "订阅" in terms
    assert "#取消" in terms
    assert "怎么" not in terms


def test_tokenize_latin_lowercases_and_drops_stop_words() -> None:
    terms = tokenize("How do I Export the Chat history? ＡＰＩ")
    assert "export" in terms and "chat" in terms and "history" in terms and "api" in terms
    assert "how" not in terms and "the" not in terms


def test_synonyms_share_a_term() -> None:
    assert set(tokenize("账号")) & set(tokenize("帐户"))
    assert set(tokenize("下载")) & set(tokenize("export"))


def test_split_sentences_on_chinese_punctuation() -> None:
    text = "第一句。第二句！第三句？第四句；第五句 without end"
    assert split_sentences(text) == ["第一句。", "第二句！", "第三句？", "第四句；", "第五句 without end"]


def test_split_english_sentences() -> None:
    assert split_sentences("One. Two! Three? v1.2 stays") == ["One.", "Two!", "Three?", "v1.2 stays"]


def test_chunks_respect_headings_and_size(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(chunking, "TARGET_TOKENS", 20)
    monkeypatch.setattr(chunking, "MAX_TOKENS", 30)
    sentences = "".join(f"这是第{i}个关于退款流程的句子。" for i in range(10))
    chunks = chunk_sections([Section(("退款",), sentences), Section(("发票",), "发票可以在订单页申请。")])
    refund = [c for c in chunks if c.heading_path == "退款"]
    assert len(refund) > 1
    assert all(c.token_count <= 30 for c in refund)
    assert all(c.text.endswith("。") for c in refund)  # never cut mid-sentence
    assert chunks[-1].heading_path == "发票" and chunks[-1].text == "发票可以在订单页申请。"
    # consecutive chunks overlap by one sentence
    assert refund[0].text.split("。")[-2] + "。" in refund[1].text


def test_run_on_sentence_is_still_bounded(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(chunking, "MAX_TOKENS", 10)
    pieces = split_sentences("字" * 35)
    assert all(len(p) <= 10 for p in pieces) and "".join(pieces) == "字" * 35
