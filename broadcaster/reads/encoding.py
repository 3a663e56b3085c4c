"""Content codings: which one a reader accepts, and compressing a body once for it.

Pure functions; the callers keep the compressed bytes (a representation is compressed once
per version, never per request). Brotli and zstd are offered to browsers that name them
(``Accept-Encoding: gzip, deflate, br, zstd``), gzip to everyone else who asks.
"""

from __future__ import annotations

import functools
import gzip

import brotli
import zstandard

__all__ = ["CODINGS", "COMPRESSIBLE", "compress", "compressible", "matches", "negotiate"]

CODINGS = ("br", "zstd", "gzip")
"""The codings this server makes, best first (when the reader gives them equal weight)."""
COMPRESSIBLE = ("text/", "application/json", "application/javascript", "application/xml",
                "application/atom+xml", "application/feed+json", "application/cap+xml",
                "image/svg+xml", "application/manifest+json", "application/rss+xml")  # fmt: skip
MIN_BYTES = 256
"""Bodies smaller than this are sent as they are: the coding's framing would outweigh it."""
GZIP_LEVEL = 6
BROTLI_QUALITY = 6
"""Brotli's 11 takes ~50x longer for ~5 % less: a timeline page changes with every update."""
ZSTD_LEVEL = 6


def compressible(content_type: str, size: int) -> bool:
    """Text-like bodies of some size; photos and other binary formats are already packed."""
    return size >= MIN_BYTES and content_type.startswith(COMPRESSIBLE)


@functools.lru_cache(maxsize=512)
def negotiate(accept_encoding: str, offered: tuple[str, ...] = CODINGS) -> str:
    """The coding to send (``identity`` when none fits) for an ``Accept-Encoding`` value.

    q-values are honoured (``br;q=0`` refuses brotli); ``*`` stands for any coding not
    named; among equal weights the order of ``offered`` decides. Remembered: browsers send
    a handful of distinct values, and every cached read asks."""
    if not accept_encoding:
        return "identity"
    weights: dict[str, float] = {}
    for part in accept_encoding.lower().split(","):
        name, _, params = part.strip().partition(";")
        weight = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                weight = float(params[2:])
            except ValueError:
                weight = 0.0
        if name:
            weights[name.strip()] = weight
    best, best_weight = "identity", 0.0
    for coding in offered:
        weight = weights.get(coding, weights.get("*", 0.0))
        if weight > best_weight:
            best, best_weight = coding, weight
    return best


def compress(body: bytes, coding: str) -> bytes:
    """``body`` in ``coding`` (one of :data:`CODINGS`)."""
    if coding == "gzip":
        return gzip.compress(body, GZIP_LEVEL, mtime=0)
    if coding == "br":
        return bytes(brotli.compress(body, quality=BROTLI_QUALITY))
    if coding == "zstd":
        return zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(body)
    raise ValueError(f"unknown coding: {coding}")


def matches(if_none_match: str, etag: bytes) -> bool:
    """Whether an ``If-None-Match`` value names ``etag`` (weak comparison, ``*``)."""
    wanted = etag.decode()
    for tag in if_none_match.split(","):
        tag = tag.strip()
        if tag == "*" or tag.removeprefix("W/") == wanted:
            return True
    return False
