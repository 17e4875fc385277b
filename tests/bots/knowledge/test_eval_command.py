"""The kb_eval command on the shared sample: it runs, prints the metrics, leaves nothing behind."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from bots.knowledge.models import FaqEntry, KnowledgeBase
from kefu.models import Tenant

SAMPLE = Path("/work/shared/data/faq_saas_sample.json")


@pytest.mark.skipif(not SAMPLE.is_file(), reason="NOT RUN: shared sample file is missing")
@pytest.mark.django_db
def test_eval_on_the_sample_meets_the_targets() -> None:
    out = StringIO()
    call_command("kb_eval", str(SAMPLE), stdout=out)
    text = out.getvalue()
    assert "hit@1=" in text and "hit@3=" in text and "MRR=" in text and "zh" in text
    out = StringIO()
    call_command("kb_eval", str(SAMPLE), "--json", stdout=out)
    result = json.loads(out.getvalue())
    assert result["zh"]["hit@1"] >= 0.85
    assert result["zh"]["hit@3"] >= 0.95
    assert result["overall"]["n"] == 22
    assert not Tenant.objects.filter(slug="kb-eval-scratch-tenant").exists()
    assert not KnowledgeBase.objects.exists() and not FaqEntry.objects.exists()


@pytest.mark.django_db
def test_eval_rejects_a_missing_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("kb_eval", str(tmp_path / "nope.json"))
