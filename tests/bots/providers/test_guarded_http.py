"""Every provider call leaves through the SSRF-guarded client (kefu.outbound): a base URL
whose name resolves to a private address, or a redirect to one, reaches nothing."""

from __future__ import annotations

import pytest

from bots.interface import ProviderBadResponse, ProviderConfig
from bots.providers.base import build_provider
from tests.bots.providers.conftest import FAST, collect
from tests.fakes.dify_server import FakeDify
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.redirect_server import FakeRedirect


def _config(kind: str, base_url: str) -> ProviderConfig:
    return ProviderConfig(kind=kind, base_url=base_url, api_key="sk-test", model="m", timeouts=FAST)


@pytest.mark.parametrize(("kind", "fake", "path"), [("openai", FakeOpenAI, "/v1"), ("dify", FakeDify, "/v1")])
async def test_a_base_url_resolving_to_a_private_address_is_refused(settings, kind, fake, path) -> None:  # noqa: ANN001
    settings.KEFU_OUTBOUND_ALLOWLIST = []
    with fake() as server:
        out = await collect(build_provider(_config(kind, f"http://localhost:{server.port}{path}")))
    assert isinstance(out.error, ProviderBadResponse) and not out.error.transient
    assert "outbound address refused" in str(out.error)
    assert server.requests == []


@pytest.mark.parametrize(("kind", "fake", "path"), [("openai", FakeOpenAI, "/v1"), ("dify", FakeDify, "/v1")])
async def test_a_redirect_to_loopback_is_not_followed(settings, kind, fake, path) -> None:  # noqa: ANN001
    settings.KEFU_OUTBOUND_ALLOWLIST = ["localhost"]  # the redirecting host only, not 127.0.0.1
    with fake() as internal, FakeRedirect(f"{internal.url}{path}/chat-messages") as hop:
        out = await collect(build_provider(_config(kind, f"http://localhost:{hop.port}{path}")))
        assert len(hop.requests) == 1
    assert out.error is not None and out.done is None
    assert internal.requests == []
