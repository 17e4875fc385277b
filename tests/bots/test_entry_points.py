"""Third-party providers and middlewares are discovered through Python entry points."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bots.interface import ProviderConfig
from bots.middlewares import build_chain
from bots.providers.base import available_kinds, build_provider


@pytest.fixture
def thirdparty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "kefu_thirdparty.py").write_text(
        textwrap.dedent("""
        from bots.middlewares import TurnMiddleware
        from bots.providers.local import LocalProvider

        class EchoProvider(LocalProvider):
            def __init__(self, config):
                super().__init__(config, lambda q: ("echo: " + q, [], 1.0, True))

        class Shout(TurnMiddleware):
            name = "shout"
            def process_input(self, turn):
                turn.text = turn.text.upper()
                return turn
    """)
    )
    dist = tmp_path / "kefu_thirdparty-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: kefu-thirdparty\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[kefu.providers]\necho = kefu_thirdparty:EchoProvider\n\n[kefu.middlewares]\nshout = kefu_thirdparty:Shout\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))


@pytest.mark.usefixtures("thirdparty")
def test_provider_entry_point() -> None:
    assert "echo" in available_kinds()
    provider = build_provider(ProviderConfig(kind="echo"))
    assert type(provider).__name__ == "EchoProvider"


@pytest.mark.usefixtures("thirdparty")
def test_middleware_entry_point() -> None:
    assert build_chain(["shout"]).run_input("hello").text == "HELLO"
