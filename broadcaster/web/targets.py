"""Whether a URL someone submitted may be contacted: its host must be a public address.

A push endpoint is a URL anyone can send us; unchecked, it would let them make the server
reach its own network (SSRF). :func:`address_problem` judges an address as written,
:func:`target_problem` every address the host name resolves to (check again right before
connecting: a name may resolve elsewhere by then). :class:`PublicOnly` is that last check,
made where the connection is made: it resolves the name itself, judges every address, and
connects to the address it judged, so a DNS answer that changes between a check and the
connection cannot send the request to the server's own network.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx

__all__ = ["PublicOnly", "Refused", "address_problem", "target_problem"]


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


class Refused(httpx.ConnectError):
    """The target is not on a public address: no connection was made."""


class PublicOnly(httpx.AsyncBaseTransport):
    """An httpx transport that connects only to addresses ``judge`` accepts (by default
    public ones): the host name is resolved here, every address it has is judged, and the
    request goes to the first one, pinned (``Host`` and TLS's server name stay the URL's, so
    the certificate is still checked against the name)."""

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport | None = None,
        judge: Callable[[str], str | None] = address_problem,
    ) -> None:
        self.inner = inner or httpx.AsyncHTTPTransport()
        self.judge = judge

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        if (why := self.judge(host)) is not None:
            raise Refused(f"refused: {why}", request=request)
        try:
            found = await asyncio.get_running_loop().getaddrinfo(
                host, request.url.port, type=socket.SOCK_STREAM
            )
        except OSError as exc:
            raise httpx.ConnectError(f"{host} does not resolve ({exc})", request=request) from exc
        addresses = [str(address[0]) for *_, address in found]
        for address in addresses:
            if (why := self.judge(address)) is not None:
                raise Refused(f"refused: {host} resolves to {why}", request=request)
        if not addresses:
            raise httpx.ConnectError(f"{host} does not resolve", request=request)
        pinned = httpx.Request(
            request.method,
            request.url.copy_with(host=addresses[0]),
            headers=request.headers,  # Host: the name, as written
            stream=request.stream,
            extensions={**request.extensions, "sni_hostname": host},
        )
        return await self.inner.handle_async_request(pinned)

    async def aclose(self) -> None:
        await self.inner.aclose()
