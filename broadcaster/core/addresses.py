"""Client addresses: lists of addresses and networks (``127.0.0.1, ::1, 10.0.0.0/8``), and
the client a chain of trusted proxies names in ``X-Forwarded-For``.

Which proxies are trusted is ``INCIDENTS_FORWARDED_ALLOW_IPS``; the address is the right-most
entry of ``X-Forwarded-For`` that is not itself a trusted proxy: each proxy appends the
address it was connected from, so entries to the left of the last trusted one are the
client's own claims and are ignored. From any other peer, the header is ignored.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

__all__ = ["AddressList", "TrustedProxies"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _plain(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        found = ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(found, ipaddress.IPv6Address) and found.ipv4_mapped is not None:
        return found.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    return found


class AddressList:
    """Comma-separated addresses and networks (``127.0.0.1, ::1, 10.0.0.0/8``); ``*`` is all."""

    def __init__(self, spec: str) -> None:
        items = [item.strip() for item in spec.split(",") if item.strip()]
        self.everyone = "*" in items
        self.networks: list[Network] = []
        for item in items:
            if item == "*":
                continue
            try:
                self.networks.append(ipaddress.ip_network(item.strip("[]"), strict=False))
            except ValueError:
                raise ValueError(
                    f"{item!r} is not an IP address or network (e.g. 127.0.0.1, ::1, 10.0.0.0/8)"
                ) from None

    def __bool__(self) -> bool:
        return self.everyone or bool(self.networks)

    def __contains__(self, address: object) -> bool:
        if self.everyone:
            return True
        found = _plain(address) if isinstance(address, str) else None
        return found is not None and any(found in network for network in self.networks)


class TrustedProxies(AddressList):
    """The proxies whose ``X-Forwarded-For`` is believed."""

    def client(self, peer: str, forwarded_for: Iterable[str]) -> str:
        """The client's address: ``peer`` unless it is a trusted proxy that forwarded one."""
        if peer not in self:
            return peer
        hops = [hop.strip() for value in forwarded_for for hop in value.split(",") if hop.strip()]
        for hop in reversed(hops):
            found = _plain(hop)
            if found is None:
                return peer  # not an address: no proxy of ours wrote it
            if str(found) not in self:
                return str(found)
        return str(_plain(hops[0])) if hops else peer  # a chain of our own proxies
