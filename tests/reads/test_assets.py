"""Static files: fingerprinted URLs cached for a year, compressed once, revalidated by ETag.

Against a real server process (``incidents serve`` from the installed package), except the
last test, which calls the ASGI app as the read path's front door does: with a plain scope.
"""

from __future__ import annotations

import asyncio
import gzip
import re
from typing import Any

import brotli
import httpx
import pytest
import zstandard

from broadcaster.reads.assets import Assets, fingerprint, unfingerprint
from broadcaster.reads.encoding import matches
from broadcaster.web.rendering import resource_dir
from tests.incidents.test_pages import raw_get
from tests.support.client import Api
from tests.support.server import CHECKOUT, ServerProcess

STATIC = CHECKOUT / "static"
IMMUTABLE = "public, max-age=31536000, immutable"
DECODE = {
    "br": brotli.decompress,
    "zstd": lambda data: zstandard.ZstdDecompressor().decompressobj().decompress(data),
    "gzip": gzip.decompress,
    "identity": lambda data: data,
}


async def linked(api: Api, path: str) -> dict[str, str]:
    """The page's stylesheets and scripts: plain name -> the URL it links."""
    html = (await api.http.get(path)).text
    urls = re.findall(r'<(?:link rel="stylesheet" href|script src)="(/static/[^"]+)"', html)
    return {re.sub(r"\.[0-9a-f]{10}(\.\w+)$", r"\1", url.removeprefix("/static/")): url for url in urls}


async def raw(api: Api, url: str, **headers: str) -> tuple[httpx.Response, bytes]:
    """The answer and its body as sent (httpx would otherwise decode it)."""
    async with api.http.stream("GET", url, headers=headers) as answer:
        return answer, b"".join([chunk async for chunk in answer.aiter_raw()])


async def test_the_timeline_links_fingerprinted_urls_cached_for_a_year(api: Api) -> None:
    incident = await api.create()
    urls = await linked(api, f"/incidents/{incident}")
    assert {"site.css", "live.js", "follow.js", "area.js"} <= set(urls), urls
    for name, url in urls.items():
        answer = await api.http.get(url)
        assert answer.status_code == 200, url
        assert answer.headers["cache-control"] == IMMUTABLE
        assert answer.content == (STATIC / name).read_bytes()
        digest = re.search(r"\.([0-9a-f]{10})\.\w+$", url)
        assert digest is not None and answer.headers["etag"].startswith(f'"{digest.group(1)}')
    css = await api.http.get(urls["site.css"])
    assert css.headers["content-type"] == "text/css; charset=utf-8"
    assert css.headers["vary"] == "accept-encoding"
    js = await api.http.get(urls["live.js"])
    assert js.headers["content-type"] == "text/javascript; charset=utf-8"
    # The code other sites paste keeps the plain URL forever.
    assert re.search(r'src="[^"]*/static/embed\.js"', (await api.http.get(f"/incidents/{incident}")).text)


async def test_embed_index_and_console_link_fingerprinted_urls(api: Api) -> None:
    incident = await api.create()
    for path in (f"/incidents/{incident}/embed", "/", "/reports/new", "/console/login"):
        urls = await linked(api, path)
        assert urls, path
        assert all(re.search(r"\.[0-9a-f]{10}\.\w+$", url) for url in urls.values()), (path, urls)


@pytest.mark.parametrize("coding", ["br", "zstd", "gzip", "identity"])
async def test_each_coding_decodes_to_the_file(api: Api, coding: str) -> None:
    original = (STATIC / "vendor/leaflet/leaflet.js").read_bytes()
    answer, body = await raw(api, "/static/vendor/leaflet/leaflet.js", **{"Accept-Encoding": coding})
    assert answer.status_code == 200
    assert answer.headers.get("content-encoding", "identity") == coding
    assert int(answer.headers["content-length"]) == len(body)
    assert DECODE[coding](body) == original
    if coding != "identity":
        assert len(body) < len(original) / 2
        assert answer.headers["etag"].endswith(f'-{coding}"')


async def test_the_browser_preference_and_q_values(api: Api) -> None:
    chrome, _ = await raw(api, "/static/site.css", **{"Accept-Encoding": "gzip, deflate, br, zstd"})
    assert chrome.headers["content-encoding"] == "br"
    refused, _ = await raw(api, "/static/site.css", **{"Accept-Encoding": "br;q=0, zstd;q=0, gzip"})
    assert refused.headers["content-encoding"] == "gzip"


async def test_images_are_sent_as_they_are(api: Api) -> None:
    png = "vendor/leaflet/images/layers.png"
    answer, body = await raw(api, f"/static/{png}", **{"Accept-Encoding": "br, gzip"})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "image/png"
    assert "content-encoding" not in answer.headers and "vary" not in answer.headers
    assert body == (STATIC / png).read_bytes()


async def test_revalidation_answers_304(api: Api) -> None:
    url = (await linked(api, "/"))["site.css"]
    first = await api.http.get(url, headers={"Accept-Encoding": "gzip"})
    etag = first.headers["etag"]
    for value in (etag, f"W/{etag}", f'"nope", {etag}', "*"):
        again = await api.http.get(url, headers={"Accept-Encoding": "gzip", "If-None-Match": value})
        assert again.status_code == 304, value
        assert again.content == b""
        assert again.headers["etag"] == etag and again.headers["cache-control"] == IMMUTABLE
    other = await api.http.get(url, headers={"Accept-Encoding": "br", "If-None-Match": etag})
    assert other.status_code == 200  # another coding is another representation
    changed = await api.http.get(url, headers={"If-None-Match": '"0123456789"'})
    assert changed.status_code == 200


async def test_head_has_the_headers_and_no_body(api: Api) -> None:
    get, body = await raw(api, "/static/site.css", **{"Accept-Encoding": "gzip"})
    head = await api.http.head("/static/site.css", headers={"Accept-Encoding": "gzip"})
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(body))
    assert head.headers["etag"] == get.headers["etag"]


async def test_the_plain_url_and_a_stale_hash_get_a_short_cache(api: Api) -> None:
    plain = await api.http.get("/static/site.css")
    assert plain.status_code == 200
    assert plain.headers["cache-control"] == "public, max-age=300"
    stale = await api.http.get("/static/site.0123456789.css")  # a page of another version
    assert stale.status_code == 200 and stale.content == plain.content
    assert stale.headers["cache-control"] == "public, no-cache"
    embed = await api.http.get("/static/embed.js")
    assert embed.status_code == 200 and embed.headers["access-control-allow-origin"] == "*"


async def test_unknown_and_other_methods(api: Api) -> None:
    for url in ("/static/nope.css", "/static/nope.0123456789.css", "/static/vendor", "/static/"):
        missing = await api.http.get(url)
        assert missing.status_code == 404, url
        assert missing.json() == {"detail": "Not Found"}
    post = await api.http.post("/static/site.css")
    assert post.status_code == 405 and post.headers["allow"] == "GET, HEAD"


@pytest.mark.parametrize(
    "target",
    [
        "/static/vendor/leaflet/../../site.css",
        "/static/vendor%2fleaflet%2fleaflet.js",
        "/static/./site.css",
        "/static//site.css",
        "/static/vendor\\leaflet\\leaflet.js",
    ],
)
async def test_no_traversal_or_encoded_slashes(sqlite_server: ServerProcess, target: str) -> None:
    status, _ = await raw_get(sqlite_server, target)
    assert status == 404, target


async def test_security_headers_once(api: Api) -> None:
    answer = await api.http.get("/static/site.css")
    names = [name.lower() for name, _ in answer.headers.multi_items()]
    for name in ("x-content-type-options", "content-security-policy", "x-frame-options", "referrer-policy"):
        assert names.count(name) == 1, (name, names)
    assert answer.headers["access-control-allow-origin"] == "*"


def test_fingerprints_and_etag_matching() -> None:
    assert fingerprint("site.css", "3f2a1b9c04") == "site.3f2a1b9c04.css"
    assert fingerprint("vendor/leaflet/leaflet.js", "3f2a1b9c04") == "vendor/leaflet/leaflet.3f2a1b9c04.js"
    assert fingerprint("vendor/leaflet/LICENSE", "3f2a1b9c04") == "vendor/leaflet/LICENSE.3f2a1b9c04"
    assert unfingerprint("vendor/leaflet/leaflet.3f2a1b9c04.js") == (
        "vendor/leaflet/leaflet.js",
        "3f2a1b9c04",
    )
    assert unfingerprint("site.css") is None
    assert matches('W/"a", "b-br"', b'"b-br"') and matches("*", b'"x"')
    assert not matches('"b"', b'"b-br"')


async def test_serve_answers_a_plain_scope() -> None:
    """The front door calls ``serve`` directly, before any middleware: a complete answer."""
    assets = Assets(resource_dir("static"))
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(0)
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    url = assets.url("site.css")
    scope = {"type": "http", "method": "GET", "path": url, "raw_path": url.encode(), "query_string": b"",
             "headers": [(b"accept-encoding", b"zstd")]}  # fmt: skip
    await assets.serve(scope, receive, send)
    start, body = sent
    headers = dict(start["headers"])
    assert start["status"] == 200
    assert headers[b"cache-control"] == IMMUTABLE.encode() and headers[b"content-encoding"] == b"zstd"
    assert headers[b"x-content-type-options"] == b"nosniff" and b"content-security-policy" in headers
    assert DECODE["zstd"](body["body"]) == (STATIC / "site.css").read_bytes()
    with pytest.raises(KeyError):
        assets.url("nope.css")
