"""SSRF guard: private, loopback, link-local and odd schemes are refused unless allow-listed."""

from __future__ import annotations

import pytest

from bots.netguard import OutboundURLRefused, check_url


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/v1",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/v1",
        "http://192.168.0.1/",
        "http://172.16.5.5/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0/",
        "http://localhost:11434/v1",
        "http://100.64.0.1/",
        "http://2130706433/",
    ],
)
def test_private_targets_are_refused(url: str) -> None:
    with pytest.raises(OutboundURLRefused):
        check_url(url)


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "gopher://127.0.0.1/", "ftp://example.com/", "http:///x", "http://user:pw@8.8.8.8/"]
)
def test_bad_schemes_and_shapes_are_refused(url: str) -> None:
    with pytest.raises(OutboundURLRefused):
        check_url(url)


def test_public_ip_passes() -> None:
    assert [str(a) for a in check_url("https://8.8.8.8/v1")] == ["8.8.8.8"]


def test_allowlist_by_host_and_by_network() -> None:
    check_url("http://127.0.0.1:8300/v1", allowlist=["127.0.0.1"])
    check_url("http://localhost:11434/v1", allowlist=["localhost"])
    check_url("http://10.1.2.3/v1", allowlist=["10.0.0.0/8"])
    with pytest.raises(OutboundURLRefused):
        check_url("http://10.1.2.3/v1", allowlist=["192.168.0.0/16"])
    with pytest.raises(OutboundURLRefused):
        check_url("http://169.254.169.254/", allowlist=["127.0.0.1"])
