"""Who is at the other end of a request: the client's address, and the host it asked for.

All come from headers a client can write, so each is believed only as far as
a setting says: ``X-Forwarded-For`` and ``X-Forwarded-Proto`` only when the immediate peer is one of
``ESTATE_TRUSTED_PROXIES``, and the ``Host`` header only when it is one of
``ESTATE_ALLOWED_HOSTS`` (Django's ALLOWED_HOSTS, Starlette's
TrustedHostMiddleware). The rate limiter, the concurrency limiter and the
sign-in throttle count callers by :func:`client_address`; links are built from
the Host only after :func:`host_allowed` has passed it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from api.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# An IPv6 subscriber is handed a /64 (RFC 6177): counting single addresses would give one a
# fresh allowance per address out of 2^64, so addresses are counted by their /64.
IPV6_CLIENT_PREFIX = 64


@lru_cache(maxsize=16)
def _networks(proxies: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(p, strict=False) for p in proxies)


def _address(text: str) -> IPAddress | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [2001:db8::1]:443
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # 192.0.2.1:443
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: IPAddress | None, networks: tuple[IPNetwork, ...]) -> bool:
    return address is not None and any(address in n for n in networks)


def _forwarded(scope: Mapping[str, Any], header: bytes) -> list[str]:
    """Every value of a forwarding header, in the order the lines came."""
    return [value.decode("latin-1") for name, value in scope.get("headers", ()) if name == header]


def forwarded_client(peer: str, forwarded_for: Iterable[str], trusted: tuple[str, ...]) -> str:
    """The client's address: the peer, or, when the peer is a trusted proxy, the right-most untrusted
    address of X-Forwarded-For.

    Each proxy appends the address it was called from, so reading from the right, every entry up
    to and including the first untrusted one was written by a proxy we trust; anything to its
    left was written by the client and is ignored.
    """
    networks = _networks(trusted)
    peer_address = _address(peer)
    if peer_address is None:
        return peer
    if not _trusted(peer_address, networks):
        return str(peer_address)
    hops = [hop for value in forwarded_for for hop in value.split(",") if hop.strip()]
    client = peer_address
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            # A trusted proxy wrote something that is not an address ("unknown"): the proxy is the
            # nearest client we know.
            break
        client = address
        if not _trusted(address, networks):
            break
    return str(client)


def forwarded_scheme(peer: str, forwarded_proto: Iterable[str], trusted: tuple[str, ...]) -> str | None:
    """The scheme the client used, when the peer is a trusted proxy that says so in X-Forwarded-Proto;
    None keeps the connection's own. The right-most value is the nearest proxy's, the one we trust
    (Werkzeug's ProxyFix reads it the same way)."""
    if not _trusted(_address(peer), _networks(trusted)):
        return None
    values = [v.strip().lower() for value in forwarded_proto for v in value.split(",") if v.strip()]
    return values[-1] if values and values[-1] in ("http", "https") else None


def client_scheme(scope: Mapping[str, Any], settings: Settings) -> str | None:
    """The scheme a request was made with at the edge, believing X-Forwarded-Proto only from
    ESTATE_TRUSTED_PROXIES (None: the connection's own), so links and Secure cookies follow a TLS proxy."""
    peer = scope.get("client")
    if not peer:
        return None
    return forwarded_scheme(
        str(peer[0]), _forwarded(scope, b"x-forwarded-proto"), tuple(settings.trusted_proxies)
    )


def client_address(scope: Mapping[str, Any], settings: Settings) -> str:
    """The address a request came from, believing X-Forwarded-For only from ESTATE_TRUSTED_PROXIES."""
    peer = scope.get("client")
    if not peer:
        return "unknown"
    return forwarded_client(
        str(peer[0]), _forwarded(scope, b"x-forwarded-for"), tuple(settings.trusted_proxies)
    )


def rate_key(address: str) -> str:
    """The limiter's name for a client address: the address, or an IPv6 address's /64."""
    parsed = _address(address)
    if isinstance(parsed, ipaddress.IPv6Address):
        return f"ip:{ipaddress.ip_network(f'{parsed}/{IPV6_CLIENT_PREFIX}', strict=False)}"
    return f"ip:{parsed if parsed is not None else address}"


def request_host(scope: Mapping[str, Any]) -> str | None:
    """The host a request names in its Host header, lower case, without port or brackets; None if absent."""
    for name, value in scope.get("headers", ()):
        if name == b"host":
            host = value.decode("latin-1").strip().lower()
            if host.startswith("["):
                return host[1 : host.index("]")] if "]" in host else host
            return host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return None


def host_allowed(host: str, patterns: Iterable[str]) -> bool:
    """Whether ``host`` matches one of ``patterns`` (``name``, ``*.domain`` or ``*``)."""
    for pattern in patterns:
        if pattern == "*" or host == pattern:
            return True
        if pattern.startswith("*.") and host.endswith(pattern[1:]):
            return True
    return False
