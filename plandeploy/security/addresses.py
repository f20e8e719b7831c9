"""The client's address: REMOTE_ADDR, or X-Forwarded-For only when a trusted proxy sent it.

Any client can write an X-Forwarded-For header. Believing it from everyone would let a
client pick a fresh address per request (escaping every per-address limit) or claim an
allowed one (opening the admin API). So the header is read only when the connection
comes from TRUSTED_PROXIES, and then from the right: the first address that is not a
trusted proxy is the client (the left part may be the client's own invention).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from django.conf import settings
from django.http import HttpRequest

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def in_networks(address: str, networks: Iterable[Network]) -> bool:
    parsed = parse_ip(address)
    return parsed is not None and any(parsed in network for network in networks)


def client_address(request: HttpRequest) -> str:
    remote = request.META.get("REMOTE_ADDR", "") or ""
    proxies = settings.TRUSTED_PROXY_NETWORKS
    if not proxies or not in_networks(remote, proxies):
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
                 if part.strip()]
    for address in reversed(forwarded):
        if not in_networks(address, proxies):
            return address
    return forwarded[0] if forwarded else remote
