"""The access lint rule (.ci/lint_access.py) flags by-id fetches of tenant-owned rows."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[2] / ".ci" / "lint_access.py"
_spec = importlib.util.spec_from_file_location("lint_access", _PATH)
assert _spec is not None and _spec.loader is not None
lint_access = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lint_access)


def _hits(source: str) -> list[tuple[int, str, str]]:
    finder = lint_access._Finder({"Conversation", "Visitor"})
    finder.visit(ast.parse(source))
    return finder.hits


@pytest.mark.parametrize(
    "source",
    [
        "def f(i):\n    return Conversation.objects.get(pk=i)",
        "def f(i):\n    return Conversation.objects.select_related('visitor').filter(id=i).first()",
        "def f(ids):\n    return Visitor.objects.filter(tenant=t).filter(pk__in=ids)",
        "def f(ids):\n    return Visitor.objects.in_bulk(ids)",
        "def f(i):\n    return get_object_or_404(Conversation, pk=i)",
    ],
)
def test_by_id_fetches_of_tenant_owned_models_are_flagged(source: str) -> None:
    assert [(line, function) for line, function, _model in _hits(source)] == [(2, "f")]


@pytest.mark.parametrize(
    "source",
    [
        "def f(i):\n    return Tenant.objects.get(pk=i)",  # not tenant-owned
        "def f(v):\n    return Conversation.objects.filter(visitor=v).first()",  # not by id
        "def f(c, i):\n    return c.messages.filter(pk=i)",  # through a row already scoped
    ],
)
def test_other_queries_pass(source: str) -> None:
    assert _hits(source) == []


def test_tenant_owned_models_are_found_through_foreign_keys() -> None:
    owned = lint_access.tenant_owned_models()
    assert {"Conversation", "Visitor", "Message", "Attachment", "Agent", "BotTurn"} <= owned
    assert "Tenant" not in owned


def test_the_tree_is_clean() -> None:
    errors, stale = lint_access.check(lint_access.tenant_owned_models())
    assert errors == [] and stale == []
