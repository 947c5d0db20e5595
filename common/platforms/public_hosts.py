"""Addresses the server may call on a person's word: a media URL, a Mastodon instance, a Bluesky
PDS. Each must be an http(s) URL whose host resolves to public addresses only (no loopback,
private, link-local or reserved one, such as the metadata server), so that nobody can make the
server reach its own network. PRIVATE_ADDRESSES_ALLOWED=on allows them for the local stack, whose
sandboxes listen on loopback. (A name that resolves again between the check and the connection
is not pinned: the check refuses plain mistakes and the metadata address.)"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

Resolver = Callable[[str], list[str]]
ALLOWED_BY = "PRIVATE_ADDRESSES_ALLOWED=on allows it, for the local stack"


def resolve_host(host: str) -> list[str]:
    """Every address `host` resolves to."""
    return sorted({str(info[4][0]) for info in socket.getaddrinfo(host, None)})


def refusal(url: str, *, allow_private: bool, resolve: Resolver = resolve_host) -> str | None:
    """Why the server will not call `url`, or None when it may."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "the URL is not an http(s) URL"
    if allow_private:
        return None
    if parts.scheme != "https":
        return "the URL must be https (http only for the local stack's sandboxes)"
    try:
        addresses = resolve(parts.hostname)
    except OSError:
        return f"the host {parts.hostname} does not resolve"
    if not addresses or not all(_public(address) for address in addresses):
        return f"the host {parts.hostname} is not on the public internet ({ALLOWED_BY})"
    return None


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", maxsplit=1)[0])
    return ip.is_global and not ip.is_multicast
