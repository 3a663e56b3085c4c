"""Citizens' pages over HTTP: languages, budgets, paging, metadata, headers, escaping.

What a browser does with them (live updates, accessibility) is in tests/browser/.
"""

from __future__ import annotations

import asyncio
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from babel.messages.extract import extract_from_dir

from broadcaster import i18n
from tests.support.client import Api
from tests.support.server import CHECKOUT, ServerProcess

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>"\'</title></script>'


class Tags(HTMLParser):
    """Collects the tags, attributes and script bodies of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._script: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._script = dict(attrs)
            self.scripts.append((self._script, ""))

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script = None


def parse(html: str) -> Tags:
    tags = Tags()
    tags.feed(html)
    return tags


async def page(api: Api, path: str, **headers: str) -> httpx.Response:
    answer = await api.http.get(path, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer


async def test_language_from_accept_language_and_lang_parameter(api: Api) -> None:
    incident = await api.create()
    english = await page(api, f"/incidents/{incident}", **{"Accept-Language": "en-GB,en;q=0.9"})
    assert '<html lang="en">' in english.text
    assert "Updates, newest first" in english.text
    assert english.headers["vary"] == "Accept-Encoding, Accept-Language"
    chinese = await page(api, f"/incidents/{incident}", **{"Accept-Language": "zh-Hans-CN,zh;q=0.8,en;q=0.5"})
    assert '<html lang="zh-CN">' in chinese.text
    assert "最新消息" in chinese.text
    forced = await page(api, f"/incidents/{incident}?lang=en", **{"Accept-Language": "zh-CN"})
    assert '<html lang="en">' in forced.text
    default = await page(api, f"/incidents/{incident}", **{"Accept-Language": "fr"})
    assert '<html lang="zh-CN">' in default.text


def test_negotiation_rules() -> None:
    assert i18n.negotiate(None, "en;q=0.3, zh;q=0.9") == "zh-CN"
    assert i18n.negotiate(None, "de, en;q=0.1") == "en"
    assert i18n.negotiate("EN", "zh") == "en"
    assert i18n.negotiate("xx", None) == "zh-CN"
    assert i18n.negotiate(None, "zh;q=0, en;q=bad") == "zh-CN"


def test_every_interface_string_is_translated() -> None:
    method_map = [("templates/**.html", "jinja2"), ("broadcaster/**.py", "python")]
    keywords = {"_": None, "gettext": None, "pgettext": ((1, "c"), 2)}
    found = {
        (context, message if isinstance(message, str) else message[0])
        for _, _, message, _, context in extract_from_dir(CHECKOUT, method_map, keywords=keywords)
    }
    assert len(found) > 30
    assert ("report status", "Resolved") in found  # messages with a context are checked too
    catalog = i18n.translations("zh-CN")
    untranslated = sorted(
        (c or "", m) for c, m in found if (catalog.pgettext(c, m) if c else catalog.gettext(m)) == m
    )
    assert untranslated == []


async def test_page_of_5000_updates_is_light_and_pages_backwards(tmp_path: Path) -> None:
    from tests.support.server import add_operator

    url = f"sqlite:///{tmp_path / 'long.db'}"
    token = add_operator(url, "ZZIC")
    with ServerProcess(url) as server:
        api = Api(server.url, token)
        try:
            await check_long_incident(api)
        finally:
            await api.aclose()


async def check_long_incident(api: Api) -> None:
    incident = await api.create("长时间事件", summary="5000 条更新")
    limit = asyncio.Semaphore(16)

    async def post(n: int) -> None:
        async with limit:
            body = f"第{n}条：文化路（花园路—东风路段）抢修进展，停水区域与恢复时间请见关键信息。"
            assert (await api.post(incident, body)).status_code == 201

    await asyncio.gather(*(post(n) for n in range(5000)))
    newest_first = [u["id"] for u in (await api.http.get(f"/api/incidents/{incident}")).json()["updates"]]
    assert len(newest_first) == 5000
    first = await page(api, f"/incidents/{incident}")
    assert len(first.content) < 100 * 1024, len(first.content)
    articles = re.findall(r'<article class="update[^"]*" id="u-([0-9a-f]+)"', first.text)
    assert articles == newest_first[:50]
    older = re.search(r'href="\?before=([0-9a-f]+)&amp;lang=zh-CN"', first.text)
    assert older is not None
    assert older.group(1) == articles[-1]
    second = await page(api, f"/incidents/{incident}?before={older.group(1)}")
    more = re.findall(r'<article class="update[^"]*" id="u-([0-9a-f]+)"', second.text)
    assert more == newest_first[50:100]


async def test_script_and_style_budget(api: Api) -> None:
    """What a citizen's phone downloads besides the HTML: every script and stylesheet the
    timeline (with its map), the embed and the list load, under 40 KB a page (uncompressed)."""
    circle = {"type": "circle", "center": [34.7905, 113.6653], "radius_km": 1.2}
    incident = await api.create("文化路自来水爆管", area_shape=circle, instruction="请绕行")
    counted: dict[str, set[str]] = {}
    for path in (f"/incidents/{incident}", f"/incidents/{incident}/embed", "/"):
        html = (await page(api, path)).text
        linked = re.findall(r'(?:src|href)="/static/([\w./-]+\.(?:js|css))"', html)
        fingerprinted = [re.fullmatch(r"(.+)\.[0-9a-f]{10}(\.(?:js|css))", name) for name in linked]
        loaded = {m[1] + m[2] for m in fingerprinted if m is not None}
        assert len(loaded) == len(set(linked)), linked  # every one by its fingerprinted URL
        assert "site.css" in loaded, (path, loaded)
        total = sum((CHECKOUT / "static" / name).stat().st_size for name in loaded)
        assert total < 40 * 1024, (path, total, sorted(loaded))
        counted[path] = loaded
    assert {"area.js", "live.js"} <= counted[f"/incidents/{incident}"]  # the budget counted what matters


async def test_shares_well(api: Api, sqlite_server: ServerProcess) -> None:
    incident = await api.create("文化路自来水爆管", summary="文化路与花园路中东风路段发生自来水爆管")
    await api.post(incident, "自来水公司工作人员已前往现场")
    answer = await page(api, f"/incidents/{incident}")
    tags = parse(answer.text)
    meta = {a.get("property") or a.get("name"): a.get("content") for t, a in tags.tags if t == "meta"}
    assert meta["og:title"] == "文化路自来水爆管"
    assert meta["og:type"] == "article"
    assert meta["og:url"] == f"{sqlite_server.url}/incidents/{incident}"
    assert "<title>文化路自来水爆管 · " in answer.text
    ld = [json.loads(text) for attrs, text in tags.scripts if attrs.get("type") == "application/ld+json"]
    assert ld[0]["@type"] == "LiveBlogPosting"
    assert ld[0]["liveBlogUpdate"][0]["articleBody"] == "自来水公司工作人员已前往现场"
    links = {
        a.get("type"): a.get("href") for t, a in tags.tags if t == "link" and a.get("rel") == "alternate"
    }
    assert links["application/json+oembed"].startswith(f"{sqlite_server.url}/oembed?url=")
    assert links["application/atom+xml"].endswith(f"/incidents/{incident}/feed.atom")


async def test_only_the_embed_may_be_framed(api: Api, sqlite_server: ServerProcess) -> None:
    incident = await api.create()
    timeline = await page(api, f"/incidents/{incident}")
    assert "frame-ancestors 'none'" in timeline.headers["content-security-policy"]
    assert timeline.headers["x-frame-options"] == "DENY"
    home = await page(api, "/")
    assert "frame-ancestors 'none'" in home.headers["content-security-policy"]
    embed = await page(api, f"/incidents/{incident}/embed")
    assert "frame-ancestors *" in embed.headers["content-security-policy"]
    assert "x-frame-options" not in embed.headers
    assert "script-src 'self'" in embed.headers["content-security-policy"]
    assert "<header" not in embed.text  # no site chrome
    assert f'href="{sqlite_server.url}/incidents/{incident}"' in embed.text  # the full timeline


async def test_exercise_is_marked_everywhere_on_the_page(api: Api) -> None:
    incident = await api.create("消防演练", exercise=True)
    for path in (f"/incidents/{incident}", f"/incidents/{incident}/embed"):
        text = (await page(api, path, **{"Accept-Language": "zh-CN"})).text
        assert 'class="exercise"' in text
        assert "这是演练" in text
    listed = (await page(api, "/", **{"Accept-Language": "en"})).text
    assert re.search(
        rf'href="/incidents/{incident}[^"]*"[^<]*</a>\s*<strong class="tag exercise-tag">EXERCISE', listed
    )


async def test_operator_fields_are_inert_in_the_page(api: Api) -> None:
    incident = await api.create(XSS, summary=XSS, area=XSS)
    await api.http.put(f"/api/incidents/{incident}/facts", json={"facts": [{"label": XSS, "value": XSS}]})
    update = (await api.post(incident, XSS)).json()["update"]["id"]
    await api.http.patch(f"/api/incidents/{incident}/updates/{update}", json={"body": "ok", "reason": XSS})
    for path in (f"/incidents/{incident}", f"/incidents/{incident}/embed", "/"):
        text = (await page(api, path)).text
        tags = parse(text)
        assert not [a for t, a in tags.tags if t == "img"], path
        executable = [
            s for a, s in tags.scripts if a.get("type") not in {"application/json", "application/ld+json"}
        ]
        assert all(a.get("src") for a, _ in tags.scripts if a.get("type") is None), path
        assert "alert" not in "".join(executable), path
        for attrs, body in tags.scripts:
            if attrs.get("type") in {"application/json", "application/ld+json"}:
                json.loads(body)  # data blocks stay valid JSON, nothing broke out of them


async def test_pages_without_javascript_hold_the_whole_story(api: Api) -> None:
    incident = await api.create()
    first = (await api.post(incident, "第一条")).json()["update"]["id"]
    await api.post(incident, "第二条", next_update_at="2031-01-01T00:00:00+08:00")
    await api.http.patch(
        f"/api/incidents/{incident}/updates/{first}", json={"body": "第一条（更正）", "reason": "笔误"}
    )
    await api.http.put(
        f"/api/incidents/{incident}/facts", json={"facts": [{"label": "停水区域", "value": "文化路"}]}
    )
    await api.http.post(f"/api/incidents/{incident}/updates/{first}/pin")
    text = (await page(api, f"/incidents/{incident}", **{"Accept-Language": "zh-CN"})).text
    assert text.index("第二条") < text.index("第一条（更正）")  # newest first
    assert "<del" in text
    assert "笔误" in text
    assert "<dt>停水区域</dt><dd>文化路</dd>" in text
    assert "下次更新预计不晚于" in text
    assert re.search(r'<section id="pinned"[^>]*>\s*<h2', text)  # shown, not hidden
    missing = await api.http.get("/incidents/nope0000")
    assert missing.status_code == 404


async def test_cached_page_changes_with_the_timeline(api: Api) -> None:
    incident = await api.create()
    await api.post(incident, "第一条")
    first = (await page(api, f"/incidents/{incident}")).text
    assert (await page(api, f"/incidents/{incident}")).text == first  # served again, unchanged
    await api.post(incident, "第二条")
    second = (await page(api, f"/incidents/{incident}")).text
    assert "第二条" in second  # a new seq is a new page, never a stale one
    english = (await page(api, f"/incidents/{incident}", **{"Accept-Language": "en"})).text
    assert '<html lang="en">' in english


async def test_public_reads_are_readable_anywhere_and_writes_are_not(
    api: Api, sqlite_server: ServerProcess
) -> None:
    incident = await api.create()
    for path in (
        f"/api/incidents/{incident}",
        f"/api/incidents/{incident}/events",
        f"/incidents/{incident}/feed.json",
    ):
        answer = await api.http.get(path, headers={"Origin": "https://news.example"})
        assert answer.headers.get_list("access-control-allow-origin") == ["*"], path
    private = await api.http.get("/api/audit", headers={"Origin": "https://news.example"})
    assert "access-control-allow-origin" not in private.headers
    preflight = await api.http.request(
        "OPTIONS", f"/api/incidents/{incident}/updates",
        headers={"Origin": "https://news.example", "Access-Control-Request-Method": "POST"},
    )  # fmt: skip
    assert "access-control-allow-origin" not in preflight.headers  # the browser refuses the write
    page = await api.http.get(f"/incidents/{incident}")
    assert "access-control-allow-origin" not in page.headers


async def raw_get(server: ServerProcess, target: str) -> tuple[int, bytes]:
    """GET a request target exactly as written (HTTP clients normalise `..` away)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    answer = await reader.read()
    writer.close()
    status = int(answer.split(b" ", 2)[1])
    return status, answer


@pytest.mark.parametrize(
    "target",
    [
        "/static/../pyproject.toml",
        "/static/../../../../etc/passwd",
        "/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/static/..%2f..%2f..%2fetc%2fpasswd",
        "/static/%2e%2e%5c%2e%2e%5cetc%5cpasswd",
        "/media/../../etc/passwd",
        "/media/%2e%2e/%2e%2e/etc/passwd",
        "/media/..%2f..%2fetc%2fpasswd",
        "/static/site.css%00.png",
    ],
)
async def test_no_path_escapes_static_or_media(sqlite_server: ServerProcess, target: str) -> None:
    status, answer = await raw_get(sqlite_server, target)
    assert 400 <= status < 500, (status, answer[:200])
    assert b"root:" not in answer and b"[project]" not in answer
