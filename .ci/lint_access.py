"""Lint rule: only the access modules fetch tenant-owned rows by id (Zulip's "use access_*").

A row looked up by its id, when the id came from a request, a socket frame or a token,
is the classic way one tenant reaches another's data. The access modules
(`kefu/access.py`, `bots/knowledge/access.py`, `bots/console/access.py`) scope every such
fetch to a tenant and make a miss and a foreign row look the same; everything else asks
them. This checker finds `Model.objects....get/filter(pk=..., id=..., pk__in=..., id__in=...)`,
`in_bulk(...)` and `get_object_or_404(Model, ...)` on tenant-owned models (those with a
foreign-key path to Tenant, found from the model registry) anywhere else.

The rule covers the entry points, where ids arrive from outside: views, API views,
consumers, forms, middlewares. The layers behind them take ids their callers already
checked (services, selectors, tasks, the bot pipeline), and Django admin is the owner's
cross-tenant back office, so those are not checked.

ALLOWED lists the places not moved yet, as "path::function"; it only shrinks: an entry
that no longer matches anything is an error too, so a fixed place leaves the list.

Run: `.venv/bin/python .ci/lint_access.py` (make lint runs it).
"""

from __future__ import annotations

import ast
import os
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("kefu", "bots", "analytics")
ACCESS_MODULES = {"kefu/access.py", "bots/knowledge/access.py", "bots/console/access.py"}
# Layers that receive ids already checked by an entry point (see the docstring).
TRUSTED_LAYERS = ("/services/", "/services.py", "/selectors.py", "/tasks.py", "/admin.py", "/management/")
TRUSTED_MODULES = {"bots/pipeline.py", "bots/hooks/points.py"}
ID_LOOKUPS = {"pk", "id", "pk__in", "id__in", "pk__exact", "id__exact"}
MANAGERS = {"objects", "_default_manager", "_base_manager"}

# Not moved yet. Each entry: "path::function" -> why it is still here.
ALLOWED: dict[str, str] = {}


def tenant_owned_models() -> set[str]:
    """Names of models with a foreign-key path to Tenant (directly or through other rows)."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kefu.settings")
    import django
    from django.apps import apps

    django.setup()
    from kefu.models import Tenant

    owned: set[type] = set()
    changed = True
    while changed:
        changed = False
        for model in apps.get_models():
            if model in owned or model is Tenant:
                continue
            for field in model._meta.concrete_fields:
                target = field.related_model if field.many_to_one or field.one_to_one else None
                if target is Tenant or target in owned:
                    owned.add(model)
                    changed = True
                    break
    return {model.__name__ for model in owned}


def _chain_root(node: ast.expr) -> tuple[str | None, list[ast.Call]]:
    """For `A.objects.x(...).y(...)`: ("A", [the calls]); else (None, calls)."""
    calls: list[ast.Call] = []
    while True:
        if isinstance(node, ast.Call):
            calls.append(node)
            node = node.func
        elif isinstance(node, ast.Attribute):
            if node.attr in MANAGERS and isinstance(node.value, ast.Name):
                return node.value.id, calls
            node = node.value
        else:
            return None, calls


def _by_id(call: ast.Call) -> bool:
    return any(keyword.arg in ID_LOOKUPS for keyword in call.keywords)


class _Finder(ast.NodeVisitor):
    def __init__(self, models: set[str]) -> None:
        self.models = models
        self.function: list[str] = ["<module>"]
        self.hits: list[tuple[int, str, str]] = []

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.function.append(node.name)
        self.generic_visit(node)
        self.function.pop()

    visit_AsyncFunctionDef = visit_FunctionDef  # noqa: N815

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in {"get", "filter", "in_bulk", "get_or_create"}:
            model, calls = _chain_root(func.value)
            calls.insert(0, node)
            if model in self.models and (func.attr == "in_bulk" or any(_by_id(call) for call in calls)):
                self.hits.append((node.lineno, self.function[-1], model))
        if isinstance(func, ast.Name) and func.id in {"get_object_or_404", "get_list_or_404"} and node.args:
            first = node.args[0]
            if isinstance(first, ast.Name) and first.id in self.models:
                self.hits.append((node.lineno, self.function[-1], first.id))
        self.generic_visit(node)


def sources() -> Iterator[Path]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if "/migrations/" in relative or relative in ACCESS_MODULES or relative in TRUSTED_MODULES:
                continue
            if any(part in f"/{relative}" for part in TRUSTED_LAYERS):
                continue
            yield path


def check(models: set[str]) -> tuple[list[str], list[str]]:
    """(errors, allow-list entries that matched nothing)."""
    errors: list[str] = []
    used: set[str] = set()
    for path in sources():
        relative = path.relative_to(ROOT).as_posix()
        finder = _Finder(models)
        finder.visit(ast.parse(path.read_text(encoding="utf-8"), filename=relative))
        for line, function, model in finder.hits:
            key = f"{relative}::{function}"
            if key in ALLOWED:
                used.add(key)
                continue
            errors.append(
                f"{relative}:{line}: {model} fetched by id in {function}(); use an access_* function "
                "(kefu/access.py) so the row is scoped to the caller's tenant"
            )
    return errors, sorted(set(ALLOWED) - used)


def main() -> int:
    errors, stale = check(tenant_owned_models())
    for error in errors:
        print(error)
    for key in stale:
        print(f".ci/lint_access.py: ALLOWED entry {key!r} matches nothing now; remove it")
    if errors or stale:
        print(f"access rule: {len(errors)} violation(s), {len(stale)} stale allow-list entr(y/ies)")
        return 1
    print(f"access rule: clean ({len(ALLOWED)} allow-listed place(s) left)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
