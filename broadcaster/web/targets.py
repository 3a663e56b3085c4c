"""Whether a URL someone submitted may be contacted: its host must be a public address.

A push endpoint is a URL anyone can send us; unchecked, it would let them make the server
reach its own network (SSRF). :func:`address_problem` judges an address as written,
:func:`target_problem` every address the host name resolves to (check again right before
connecting: a name may resolve elsewhere by then).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit


def address_problem(host: str) -> str | None:
    """Why ``host`` (an IP address, or ``localhost``) is not a public address, or None
    (also for any other host name: those are judged once resolved)."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None if host.lower().rstrip(".") != "localhost" else "localhost is a loopback address"
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if (address.is_private or address.is_loopback or address.is_link_local or address.is_multicast
            or address.is_reserved or address.is_unspecified):  # fmt: skip
        return f"{address} is a private, loopback or reserved address"
    return None


async def target_problem(url: str) -> str | None:
    """Why ``url``'s host must not be contacted: it is, or resolves to, an address that is
    not public (every address is checked), or it does not resolve. None when it is public."""
    host = urlsplit(url).hostname or ""
    if (why := address_problem(host)) is not None:
        return why
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError as exc:
        return f"{host} does not resolve ({exc})"
    for *_, address in found:
        if (why := address_problem(str(address[0]))) is not None:
            return f"{host} resolves to {why}"
    return None
