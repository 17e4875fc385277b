"""Size budget of the embeddable widget: the loader < 3 KB and the whole widget < 30 KB (gzip -9).

The loader is on the critical path of every customer page, so it is kept tiny; the app
is fetched lazily. Figures are printed (run with -s) so they can be reported.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "static" / "kefu"
LOADER = ROOT / "widget.js"


def gz(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=9))


def app_files() -> list[Path]:
    """The files the loader fetches, read from the loader itself so the budget cannot drift."""
    match = re.search(r"var files = \[([^\]]*)\]", LOADER.read_text())
    assert match, "loader no longer declares its file list"
    names = re.findall(r'"([^"]+)"', match.group(1))
    assert names, "loader loads no app files"
    return [ROOT / name for name in names]


def test_loader_is_under_3_kb_gzipped() -> None:
    size = gz(LOADER.read_bytes())
    print(f"widget loader: {LOADER.stat().st_size} B raw, {size} B gzip -9")
    assert size < 3 * 1024


def test_whole_widget_is_under_30_kb_gzipped() -> None:
    files = [LOADER, *app_files()]
    for path in files:
        assert path.is_file(), f"{path} is loaded by widget.js but missing"
    # Each file travels as its own response, so each is compressed on its own.
    per_file = {str(path.relative_to(ROOT)): gz(path.read_bytes()) for path in files}
    total = sum(per_file.values())
    print(f"widget total: {total} B gzip -9 {per_file}")
    assert total < 30 * 1024


def test_every_built_file_is_counted() -> None:
    # A built file the loader does not fetch would escape the budget (the sources under
    # static/kefu/widget/src are bundled into static/kefu/build/widget.js).
    shipped = {p for p in (ROOT / "build").iterdir() if p.suffix in {".js", ".css"}}
    assert shipped == set(app_files())
