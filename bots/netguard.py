"""SSRF guard for tenant-chosen outbound URLs (AI provider base URLs, webhooks).

The caller passes the operator's allow-list (settings.KEFU_OUTBOUND_ALLOWLIST); this
module reads no settings. Clients must not follow redirects (ours do not), or a public
URL could bounce to a private one after this check.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class OutboundURLRefused(ValueError):
    code = "outbound_url_refused"


def _allowed(host: str, addresses: list[IPAddress], allowlist: Iterable[str]) -> bool:
    for entry in allowlist:
        entry = entry.strip().lower()
        if not entry:
            continue
        if entry == host or (entry.startswith(".") and host.endswith(entry)):
            return True
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            continue
        if addresses and all(addr in network for addr in addresses):
            return True
    return False


def is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_multicast
        or address.is_unspecified
        or not address.is_global
    )


def resolve(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise OutboundURLRefused(f"cannot resolve {host}: {exc}") from exc
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


def check_url(url: str, *, allowlist: Iterable[str] = ()) -> list[IPAddress]:
    """Raise OutboundURLRefused unless `url` is http(s) and every address it resolves to is public or allowed."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise OutboundURLRefused(f"scheme {parts.scheme!r} is not allowed")
    host = (parts.hostname or "").lower().rstrip(".")
    if not host:
        raise OutboundURLRefused("URL has no host")
    if parts.username or parts.password:
        raise OutboundURLRefused("credentials in URLs are not allowed")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise OutboundURLRefused(str(exc)) from exc
    allowlist = list(allowlist)
    if any(entry.strip().lower() == host for entry in allowlist):
        return []
    addresses = resolve(host, port)
    if _allowed(host, addresses, allowlist):
        return addresses
    # Every address must be public: a name resolving to one public and one private address is refused.
    private = [str(a) for a in addresses if not is_public(a)]
    if private:
        raise OutboundURLRefused(f"{host} resolves to non-public address {', '.join(private)}")
    return addresses
