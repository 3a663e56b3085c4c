"""The read path on a real server: ETags and 304s, codings, freshness after writes (this
process's and another's), nothing personal in a shared representation, health checks."""

from __future__ import annotations

import asyncio
import gzip
import json
import re
import time
from pathlib import Path

import brotli
import httpx
import zstandard

from tests.support.client import Api
from tests.support.server import ServerProcess, add_operator, scaled

HOT = ("", "/embed", "/feed.atom", "/feed.json", "/cap.xml", "/cap.atom")


async def test_page_etag_304_head_and_cache_headers(api: Api) -> None:
    incident = await api.create()
    assert (await api.post(incident, "第一条：文化路停水，抢修中。")).status_code == 201
    plain = {"Accept-Encoding": "identity"}
    page = await api.http.get(f"/incidents/{incident}", headers={"Accept-Encoding": "identity"})
    assert page.status_code == 200 and "第一条" in page.text
    tag = page.headers["etag"]
    assert tag.startswith('"') and not tag.startswith("W/")
    assert page.headers["cache-control"] == "public, max-age=5, stale-while-revalidate=30"
    assert page.headers["vary"] == "Accept-Encoding, Accept-Language"
    assert page.headers["x-frame-options"] == "DENY"  # the security headers come along
    again = await api.http.get(f"/incidents/{incident}", headers={**plain, "If-None-Match": tag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == tag
    listed = await api.http.get(
        f"/incidents/{incident}", headers={**plain, "If-None-Match": f'"nope", W/{tag}'}
    )
    assert listed.status_code == 304
    stale = await api.http.get(f"/incidents/{incident}", headers={**plain, "If-None-Match": '"nope"'})
    assert stale.status_code == 200 and stale.content == page.content
    head = await api.http.head(f"/incidents/{incident}", headers=plain)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(page.content)) and head.headers["etag"] == tag
    english = await api.http.get(f"/incidents/{incident}", headers={"Accept-Language": "en"})
    assert english.headers["etag"] != tag and '<html lang="en">' in english.text


async def test_codings_decode_to_the_same_page(api: Api) -> None:
    incident = await api.create()
    for n in range(5):
        assert (await api.post(incident, f"第{n}条：文化路停水，抢修中。" * 5)).status_code == 201
    plain = await api.http.get(f"/incidents/{incident}", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    decoders = {"gzip": gzip.decompress, "br": brotli.decompress,
                "zstd": zstandard.ZstdDecompressor().decompress}  # fmt: skip
    tags = {plain.headers["etag"]}
    async with httpx.AsyncClient(base_url=api.http.base_url) as raw:
        for coding, decode in decoders.items():
            # stream: httpx must not decode it for us
            async with raw.stream(
                "GET", f"/incidents/{incident}", headers={"Accept-Encoding": coding}
            ) as got:
                body = b"".join([part async for part in got.aiter_raw()])
                assert got.headers["content-encoding"] == coding
                assert int(got.headers["content-length"]) == len(body) < len(plain.content) // 3
                assert decode(body) == plain.content
                tags.add(got.headers["etag"])
                assert got.headers["etag"].endswith(f'-{coding}"')
        refused = await raw.get(f"/incidents/{incident}", headers={"Accept-Encoding": "gzip, br;q=0"})
        assert refused.headers["content-encoding"] == "gzip"
    assert len(tags) == 4  # one strong ETag per coding


async def test_every_hot_read_is_cached_and_revalidates(api: Api) -> None:
    incident = await api.create()
    assert (await api.post(incident, "第一条。")).status_code == 201
    paths = [f"/incidents/{incident}{p}" for p in HOT]
    history = (await api.http.get(f"/incidents/{incident}/cap.atom")).text
    message = re.search(rf"/incidents/{incident}/cap/\d+\.xml", history)
    assert message is not None, history
    paths += [f"/api/incidents/{incident}", "/", "/cap.atom", message[0]]
    paths.append(f"/oembed?url={api.http.base_url}/incidents/{incident}&format=json")
    for path in paths:
        got = await api.http.get(path)
        assert got.status_code == 200, (path, got.text)
        assert "Accept-Encoding" in got.headers["vary"] and got.headers["etag"], path
        assert "public" in got.headers["cache-control"], path
        again = await api.http.get(path, headers={"If-None-Match": got.headers["etag"]})
        assert again.status_code == 304, path
    snapshot = (await api.http.get(f"/api/incidents/{incident}")).json()
    assert snapshot["incident"]["id"] == incident and snapshot["seq"] == 2


async def test_a_post_through_this_process_shows_at_once(api: Api) -> None:
    incident = await api.create()
    first = await api.http.get(f"/incidents/{incident}")
    feed = await api.http.get(f"/incidents/{incident}/feed.json")
    for n in range(3):
        assert (await api.post(incident, f"第{n}条更新。")).status_code == 201
        page = await api.http.get(f"/incidents/{incident}")
        assert f"第{n}条更新" in page.text
        assert (await api.http.get(f"/api/incidents/{incident}")).json()["seq"] == n + 2
    assert page.headers["etag"] != first.headers["etag"]
    newer = await api.http.get(
        f"/incidents/{incident}/feed.json", headers={"If-None-Match": feed.headers["etag"]}
    )
    assert newer.status_code == 200 and "第2条更新" in newer.text


async def test_another_process_write_is_seen_within_the_freshness(tmp_path: Path) -> None:
    backend = f"sqlite:///{tmp_path / 'two.db'}"
    token = add_operator(backend, "ZZIC")
    env = {"INCIDENTS_READ_FRESHNESS": "0.3", "INCIDENTS_NOTIFY_PROCESS": "off"}
    with ServerProcess(backend, env=env) as reader_side, ServerProcess(backend, env=env) as writer_side:
        writer = Api(writer_side.url, token)
        reader = Api(reader_side.url, None)
        try:
            incident = await writer.create()
            assert (await reader.http.get(f"/incidents/{incident}")).status_code == 200  # cached there
            assert (await writer.post(incident, "另一个进程写的更新。")).status_code == 201
            posted = time.monotonic()
            while "另一个进程写的更新" not in (await reader.http.get(f"/incidents/{incident}")).text:
                assert time.monotonic() - posted < scaled(5), "the other process's update never showed"
                await asyncio.sleep(0.05)
            index = await reader.http.get("/")
            assert incident in index.text
        finally:
            await writer.aclose()
            await reader.aclose()


async def test_a_reader_cookie_never_reaches_the_shared_copy(api: Api) -> None:
    incident = await api.create()
    anonymous = await api.http.get(f"/incidents/{incident}", headers={"Authorization": ""})
    with_cookie = await api.http.get(f"/incidents/{incident}", headers={"Cookie": "session=abc; lang=en"})
    assert with_cookie.headers["etag"] == anonymous.headers["etag"]
    assert "set-cookie" not in with_cookie.headers


async def test_other_queries_and_errors_go_to_fastapi_uncached(api: Api) -> None:
    incident = await api.create()
    odd = await api.http.get(f"/incidents/{incident}?utm_source=chat")
    assert odd.status_code == 200 and "etag" not in odd.headers  # served, but never stored
    missing = await api.http.get("/incidents/nosuchincident", headers={"Accept": "application/json"})
    assert missing.status_code == 404 and "etag" not in missing.headers
    assert "detail" in missing.json()
    bad = await api.http.get("/oembed?url=https://elsewhere.example/x&format=json")
    assert 400 <= bad.status_code < 500 and "etag" not in bad.headers


async def test_health_answers_with_security_headers(api: Api) -> None:
    for path, status in (("/healthz", "ok"), ("/readyz", "ready")):
        got = await api.http.get(path)
        assert got.status_code == 200 and got.json() == {"status": status}
        assert (
            got.headers["cache-control"] == "no-store" and got.headers["x-content-type-options"] == "nosniff"
        )
        head = await api.http.head(path)
        assert head.status_code == 200 and head.content == b""
    schema = (await api.http.get("/openapi.json")).json()
    assert {"/healthz", "/readyz"} <= set(schema["paths"])


async def test_concurrent_first_readers_get_one_version(api: Api) -> None:
    incident = await api.create()
    assert (await api.post(incident, "并发读取。")).status_code == 201
    pages = await asyncio.gather(*(api.http.get(f"/incidents/{incident}/feed.atom") for _ in range(40)))
    assert {p.status_code for p in pages} == {200}
    assert len({p.headers["etag"] for p in pages}) == 1 and len({p.content for p in pages}) == 1
    json.loads((await api.http.get(f"/incidents/{incident}/feed.json")).text)
