"""The read path's pure parts: what is cached, codings, the bounded store."""

from __future__ import annotations

import gzip

import brotli
import zstandard

from broadcaster.reads.cache import Representation, Representations
from broadcaster.reads.encoding import compress, negotiate
from broadcaster.reads.targets import Scope, classify


def test_classify_hot_paths_and_their_versions() -> None:
    page = classify("/incidents/abc123", "lang=en&before=u7")
    assert page is not None and page.scope is Scope.INCIDENT and page.incident == "abc123" and page.html
    assert page.key == ("/incidents/abc123", "before=u7", "lang=en")
    # the same link with its parameters in another order is the same representation
    assert classify("/incidents/abc123", "before=u7&lang=en") == page
    for path in ("/feed.atom", "/feed.json", "/cap.xml", "/cap.atom", "/cap/12.xml"):
        found = classify(f"/incidents/abc123{path}", "")
        assert found is not None and found.incident == "abc123" and not found.html, path
    snapshot = classify("/api/incidents/abc123", "")
    assert snapshot is not None and snapshot.incident == "abc123" and not snapshot.html
    index = classify("/", "lang=zh-CN")
    assert index is not None and index.scope is Scope.ALL and index.html
    oembed = classify("/oembed", "url=https%3A%2F%2Fx%2Fincidents%2Fa&format=json")
    assert oembed is not None and oembed.scope is Scope.ALL


def test_classify_leaves_everything_else_to_fastapi() -> None:
    assert classify("/incidents/abc123", "x=1") is None  # a parameter no page reads: not cached
    assert classify("/incidents/abc123", "lang=en&lang=zh-CN") is None
    assert classify("/incidents/abc123/embed", "before=u1") is None
    assert classify("/api/incidents/abc123", "lang=en") is None
    assert classify("/api/incidents/abc123/events", "since=0") is None
    assert classify("/api/incidents", "") is None
    assert classify("/incidents/abc123/questions", "") is None
    assert classify("/incidents/a b", "") is None
    assert classify("/console", "") is None
    assert classify("/incidents/abc123", "before=" + "x" * 700) is None


def test_negotiate_codings() -> None:
    assert negotiate("") == "identity"
    assert negotiate("gzip") == "gzip"
    assert negotiate("gzip, deflate, br, zstd") == "br"
    assert negotiate("gzip, deflate, br;q=0") == "gzip"
    assert negotiate("zstd;q=1, br;q=0.5, gzip;q=0.8") == "zstd"
    assert negotiate("*") == "br"
    assert negotiate("identity, deflate") == "identity"
    assert negotiate("gzip;q=bogus, br") == "br"


def test_compress_round_trips() -> None:
    body = ("文化路自来水爆管，抢修中。" * 200).encode()
    assert gzip.decompress(compress(body, "gzip")) == body
    assert brotli.decompress(compress(body, "br")) == body
    assert zstandard.ZstdDecompressor().decompress(compress(body, "zstd")) == body
    assert len(compress(body, "br")) < len(body) // 10


def rep(size: int, content_type: str = "text/html; charset=utf-8") -> Representation:
    return Representation(1, [], b"x" * size, content_type, b"Accept-Encoding")


def test_representations_are_bounded_by_bytes_least_recent_first() -> None:
    store = Representations(10_000)
    for name in "abcd":
        store.put(name, rep(1_800))
    assert store.bytes <= 10_000 and len(store) == 4
    store.get("a")  # read: now the most recent
    store.put("e", rep(1_800))
    assert store.get("b") is None and store.get("a") is not None
    store.put("giant", rep(5_000))  # over a quarter of the bound: served, never kept
    assert store.get("giant") is None
    assert store.bytes == sum(item.size for item in (store.get(k) for k in "acde") if item is not None)


def test_codings_made_once_and_counted() -> None:
    store = Representations(1_000_000)
    page = rep(20_000)
    store.put("p", page)
    before = store.bytes
    body, grew = page.body_in("br")
    assert grew and page.body_in("br") == (body, False)
    store.grew(len(body))
    assert store.bytes == before + len(body)
    assert page.etag("br") != page.etag("gzip") != page.etag("identity")
    assert rep(100).coding_for("br") == "identity"  # too small to gain
    assert rep(20_000, "image/png").coding_for("gzip, br") == "identity"  # already packed
