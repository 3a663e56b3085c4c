"""Representations kept in memory, bounded by bytes (least recently used go first).

A representation is one response body as FastAPI rendered it once (status 200), with the
headers to send again, its strong ETag, and its compressed forms, each made once, on the
first request that asks for that coding. Pure data; no I/O.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field

from broadcaster.reads.encoding import compress, compressible, negotiate

__all__ = ["Representation", "Representations"]


@dataclass(slots=True)
class Representation:
    version: Hashable
    headers: list[tuple[bytes, bytes]]
    """Headers to send (content-type, security headers, cache-control, ...), without
    content-length, content-encoding, etag and vary, which depend on the coding."""
    body: bytes
    content_type: str
    vary: bytes
    tag: str = field(init=False)
    coded: dict[str, bytes] = field(default_factory=dict)
    _etags: dict[str, bytes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.tag = hashlib.blake2b(self.body, digest_size=12).hexdigest()

    @property
    def size(self) -> int:
        return len(self.body) + sum(len(b) for b in self.coded.values()) + 512

    def coding_for(self, accept_encoding: str) -> str:
        if not compressible(self.content_type, len(self.body)):
            return "identity"
        return negotiate(accept_encoding)

    def body_in(self, coding: str) -> tuple[bytes, bool]:
        """The body in ``coding``, and whether it was compressed just now (the cache's
        size grew)."""
        if coding == "identity":
            return self.body, False
        found = self.coded.get(coding)
        if found is not None:
            return found, False
        made = compress(self.body, coding)
        self.coded[coding] = made
        return made, True

    def etag(self, coding: str) -> bytes:
        """Strong, one per coding (RFC 9110 8.8.3: a coded body is another representation)."""
        found = self._etags.get(coding)
        if found is None:
            suffix = "" if coding == "identity" else f"-{coding}"
            found = self._etags[coding] = f'"{self.tag}{suffix}"'.encode()
        return found


class Representations:
    """At most ``max_bytes`` of representations, by key."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._items: OrderedDict[Hashable, Representation] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Hashable) -> Representation | None:
        found = self._items.get(key)
        if found is not None:
            self._items.move_to_end(key)
        return found

    def put(self, key: Hashable, rep: Representation) -> None:
        old = self._items.pop(key, None)
        if old is not None:
            self.bytes -= old.size
        if rep.size > self.max_bytes // 4:
            return  # one giant page must not push out every other incident's
        self._items[key] = rep
        self.bytes += rep.size
        self._shrink()

    def grew(self, by: int) -> None:
        """A representation in the cache gained a coding of ``by`` bytes."""
        self.bytes += by
        self._shrink()

    def _shrink(self) -> None:
        while self.bytes > self.max_bytes and self._items:
            _, gone = self._items.popitem(last=False)
            self.bytes -= gone.size
