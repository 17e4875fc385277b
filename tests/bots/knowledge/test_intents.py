"""The local intent classifier, trained from built-in examples plus the tenant's FAQ."""

from __future__ import annotations

import pytest

from bots.knowledge import intents, services
from bots.knowledge.intents import classify_intent


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("转人工", "human_request"),
        ("帮我转人工客服", "human_request"),
        ("I want to talk to a human", "human_request"),
        ("你好", "greeting"),
        ("hello there", "greeting"),
        ("谢谢你", "thanks"),
        ("thank you so much", "thanks"),
        ("我要投诉你们", "complaint"),
        ("this service is terrible", "complaint"),
    ],
)
def test_builtin_intents(tenant, text, label) -> None:  # type: ignore[no-untyped-def]
    predicted, confidence = classify_intent(tenant, text)
    assert predicted == label
    assert 0 < confidence <= 1


def test_tenant_faq_questions_become_faq_intent_and_cache_refreshes(kb, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    tenant = kb.tenant
    before = intents.classifier_for(tenant)
    assert intents.classifier_for(tenant) is before  # cached
    run_on_commit(services.faq_create, knowledge_base=kb, question="会员积分怎么兑换礼品?", answer="在会员中心兑换。")
    after = intents.classifier_for(tenant)
    assert after is not before
    assert classify_intent(tenant, "会员积分怎么兑换礼品")[0] == "faq"
