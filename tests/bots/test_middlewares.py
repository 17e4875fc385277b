"""Turn middlewares: language, intent, sensitive words (also across streamed deltas), PII masking."""

from __future__ import annotations

import pytest

from bots.middlewares import (
    DEFAULT_CHAIN,
    IntentMiddleware,
    MiddlewareChain,
    SensitiveWordsMiddleware,
    build_chain,
    detect_intent,
    detect_language,
    load_words,
    mask_pii,
)


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("我的订单到哪了？", "zh"),
        ("Where is my order?", "en"),
        ("我的 iPhone 15 Pro Max 订单", "zh"),
        ("order 123 到了吗", "zh"),
        ("Can you help with my VIP 会员 account please", "en"),
        ("123 👍", ""),
    ],
)
def test_language(text: str, lang: str) -> None:
    assert detect_language(text) == lang


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("转人工", "human"),
        ("我要人工客服！", "human"),
        ("Can I talk to a human?", "human"),
        ("agent please", "human"),
        ("我要投诉你们", "complaint"),
        ("This is a scam", "complaint"),
        ("你好", "greeting"),
        ("Hello!", "greeting"),
        ("hi there", "greeting"),
        ("你好，我的订单什么时候发货？", ""),
        ("Where is my order?", ""),
        ("my user-agent string", ""),
        ("shipping to Chicago", ""),
    ],
)
def test_default_intent_rules(text: str, intent: str) -> None:
    assert detect_intent(text) == intent


def test_intent_detector_is_injectable() -> None:
    chain = MiddlewareChain([IntentMiddleware(detector=lambda text: "refund" if "退款" in text else None)])
    assert chain.run_input("我要退款").intent == "refund"
    assert chain.run_input("你好").intent == ""


def test_word_list_file_is_loaded_and_longest_match_wins() -> None:
    words = load_words()
    assert "赌博" in words and "fuck" in words and not any(w.startswith("#") for w in words)
    middleware = SensitiveWordsMiddleware(extra_words=["竞品A"])
    assert middleware.mask("他妈的 网赌 和 竞品A 和 FUCK")[0] == "*** *** 和 *** 和 ***"
    assert middleware.mask("正常的问题")[1] == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我的手机是13812345678", "我的手机是[PHONE]"),
        ("call +86 138 1234 5678 now", "call [PHONE] now"),
        ("电话 010-62345678", "电话 [PHONE]"),
        ("US (415) 555-2671", "US [PHONE]"),
        ("mail me: li.lei+kefu@example.com.cn", "mail me: [EMAIL]"),
        ("身份证 11010519491231002X 谢谢", "身份证 [ID] 谢谢"),
        ("卡号 6222 0212 3456 7890 128", "卡号 [CARD]"),
        ("visa 4111111111111111.", "visa [CARD]."),
        ("订单号 20240101123456789", "订单号 20240101123456789"),
        ("in 2024 we sold 1500 units", "in 2024 we sold 1500 units"),
    ],
)
def test_pii_masking(text: str, expected: str) -> None:
    assert mask_pii(text)[0] == expected


def test_default_chain_rewrites_text_but_detects_on_the_original() -> None:
    chain = build_chain()
    assert [m.name for m in chain.middlewares] == list(DEFAULT_CHAIN)
    turn = chain.run_input("转人工！我的手机 13812345678，别跟我说赌博")
    assert turn.intent == "human" and turn.language == "zh"
    assert turn.text == "转人工！我的手机 [PHONE]，别跟我说***"
    assert turn.flags == {"pii_masked", "sensitive_input"}
    assert "13812345678" in turn.original


def test_tenant_chain_choice_and_options() -> None:
    chain = build_chain(["sensitive_words"], {"sensitive_words": {"extra_words": ["竞品A"], "use_default_list": False}})
    turn = chain.run_input("赌博 竞品A")
    assert turn.text == "赌博 ***" and turn.intent == "" and turn.language == ""
    with pytest.raises(KeyError):
        build_chain(["no_such_middleware"])


def test_output_filter_catches_words_split_across_deltas() -> None:
    chain = build_chain(["sensitive_words"], {"sensitive_words": {"extra_words": ["secretword"]}})
    turn = chain.run_input("q")
    out = chain.output_filter(turn)
    deltas = ["Our ", "sec", "retw", "ord is ", "not for you. 他", "妈", "的", " end"]
    emitted = "".join(out.push(d) for d in deltas) + out.flush()
    assert emitted == "Our *** is not for you. *** end"
    assert chain.run_output("网赌", turn) == "***"
