"""Feeds and embeds: Atom 1.0, JSON Feed 1.1, oEmbed 1.0.

First the pure views (:mod:`broadcaster.syndication.feeds`) over folded hand-made logs, then
the routes through a real server: headers, ETag/304, oEmbed URL checks, hostile input.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest

from broadcaster.core import markdown
from broadcaster.core import timeline as tl
from broadcaster.core.timeline import Incident
from broadcaster.syndication import feeds as syndication
from tests.support.client import Api
from tests.support.server import ServerProcess, scaled

A = "{http://www.w3.org/2005/Atom}"
BASE = "https://news.example"
ORG = "郑州市应急管理局"
TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
XSS = ["<script>alert(1)</script>", "]]>", '"><img src=x onerror=alert(1)>', "&amp; &lt;b&gt;"]
ATOM_TAGS = {
    f"{A}{tag}"
    for tag in (
        "feed", "id", "title", "subtitle", "updated", "link", "author", "name", "rights",
        "generator", "entry", "published", "content",
    )
}  # fmt: skip
OPEN = {
    "title": "文化路自来水爆管",
    "summary": "文化路花园路至东风路段自来水管道爆裂",
    "area": "文化路 花园路-东风路段",
    "severity": "moderate",
    "category": "Infra",
    "lang": "zh-CN",
    "exercise": False,
}


def at(minute: int) -> str:
    return f"2026-11-22T07:{minute:02d}:00.000Z"


class Log:
    """A hand-made incident log; event ``n`` happens at minute ``n``."""

    def __init__(self, **fields: Any) -> None:
        self.events: list[dict[str, Any]] = []
        self.add("incident.opened", {**OPEN, **fields})

    def add(self, type_: str, data: dict[str, Any]) -> Log:
        seq = len(self.events) + 1
        self.events.append({"incident": "inc1", "seq": seq, "type": type_, "at": at(seq), "data": data})
        return self

    def post(self, uid: str, body: str, html: str | None = None, next_update_at: str | None = None) -> Log:
        data = {
            "id": uid,
            "body": body,
            "html": markdown.render(body) if html is None else html,
            "published_at": at(len(self.events) + 1),
            "next_update_at": next_update_at,
        }
        return self.add("update.posted", data)

    def correct(self, uid: str, body: str, reason: str) -> Log:
        return self.add(
            "update.corrected", {"id": uid, "body": body, "html": markdown.render(body), "reason": reason}
        )

    def retract(self, uid: str, reason: str) -> Log:
        return self.add("update.retracted", {"id": uid, "reason": reason})

    def fold(self) -> Incident:
        incident = tl.fold(self.events)
        assert incident is not None
        return incident


def atom(incident: Incident) -> ET.Element:
    document = syndication.atom_feed(incident, BASE, ORG)
    assert document.startswith(b"<?xml version='1.0' encoding='utf-8'?>"), document[:60]
    return ET.fromstring(document)


def one(parent: ET.Element, tag: str) -> ET.Element:
    found = parent.findall(f"{A}{tag}")
    assert len(found) == 1, (tag, found)
    return found[0]


def text(parent: ET.Element, tag: str) -> str:
    return one(parent, tag).text or ""


def entries(feed: ET.Element) -> list[ET.Element]:
    return feed.findall(f"{A}entry")


def entry_of(feed: ET.Element, uid: str) -> ET.Element:
    return next(e for e in entries(feed) if text(e, "id").endswith(f"#u-{uid}"))


class HtmlParts(HTMLParser):
    """Start tags (with attributes, entities decoded) and text of an HTML fragment."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.chunks: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.chunks.append(data)

    @property
    def text(self) -> str:
        return "".join(self.chunks)


def assert_harmless(html: str) -> HtmlParts:
    """Only the sanitiser's tags, no event handlers, no script URLs."""
    parts = HtmlParts(html)
    assert parts.tags, html  # the check below must look at something
    for tag, attrs in parts.tags:
        assert tag in markdown.ALLOWED_TAGS | {"time"}, tag
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            assert not (value or "").strip().lower().startswith("javascript:"), (tag, name, value)
    return parts


def assert_atom(feed: ET.Element) -> None:
    """RFC 4287 structure: the required elements once each, times in RFC 3339."""
    assert feed.tag == f"{A}feed"
    for tag in ("id", "title", "updated"):
        assert text(feed, tag), tag
    assert TIME.match(text(feed, "updated"))
    assert one(one(feed, "author"), "name").text
    rels = {(link.get("rel"), link.get("type")) for link in feed.findall(f"{A}link")}
    assert ("alternate", "text/html") in rels and ("self", "application/atom+xml") in rels, rels
    for entry in entries(feed):
        for tag in ("id", "title", "updated", "published"):
            assert text(entry, tag), tag
        assert TIME.match(text(entry, "updated")) and TIME.match(text(entry, "published"))
        assert one(entry, "content").get("type") == "html"
        assert text(feed, "updated") >= text(entry, "updated")


def assert_json_feed(feed: dict[str, Any]) -> None:
    """JSON Feed 1.1 structure: required keys, types, only known or ``_`` extension keys."""
    known = {"version", "title", "home_page_url", "feed_url", "description", "user_comment", "next_url",
             "icon", "favicon", "authors", "language", "expired", "hubs", "items"}  # fmt: skip
    assert set(feed) - known <= {"_incidents"}, set(feed) - known
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert isinstance(feed["title"], str) and feed["title"]
    assert isinstance(feed["items"], list)
    for key in ("home_page_url", "feed_url", "description", "language"):
        assert isinstance(feed.get(key, ""), str), key
    assert all(isinstance(a, dict) and isinstance(a["name"], str) for a in feed["authors"])
    item_keys = {"id", "url", "external_url", "title", "content_html", "content_text", "summary", "image",
                 "banner_image", "date_published", "date_modified", "authors", "tags", "language",
                 "attachments"}  # fmt: skip
    for item in feed["items"]:
        assert set(item) - item_keys <= {"_incidents"}, set(item) - item_keys
        assert isinstance(item["id"], str) and item["id"]
        assert isinstance(item["content_html"], str) and isinstance(item["content_text"], str)
        assert TIME.match(item["date_published"]) and TIME.match(item["date_modified"])


# --- Atom, pure ---------------------------------------------------------------------


def test_atom_feed_identifies_the_incident_and_links_its_timeline() -> None:
    incident = Log().post("u1", "工作人员已到场").fold()
    feed = atom(incident)
    assert_atom(feed)
    assert feed.get("{http://www.w3.org/XML/1998/namespace}lang") == "zh-CN"
    assert text(feed, "id") == f"{BASE}/incidents/inc1"
    assert text(feed, "title") == OPEN["title"]
    assert text(feed, "updated") == at(2)
    links = {
        link.get("rel"): link.get("href")
        for link in feed.findall(f"{A}link")
        if link.get("type") != "application/feed+json"
    }
    assert links == {"alternate": f"{BASE}/incidents/inc1", "self": f"{BASE}/incidents/inc1/feed.atom"}
    assert one(one(feed, "author"), "name").text == ORG
    assert OPEN["summary"] in text(feed, "subtitle") and OPEN["area"] in text(feed, "subtitle")


def test_atom_entries_are_newest_first_with_ids_that_do_not_change() -> None:
    log = Log().post("u1", "第一条").post("u2", "第二条").post("u3", "第三条")
    first = [text(e, "id") for e in entries(atom(log.fold()))]
    assert first == [f"{BASE}/incidents/inc1#u-{uid}" for uid in ("u3", "u2", "u1")]
    assert [text(e, "published") for e in entries(atom(log.fold()))] == [at(4), at(3), at(2)]
    later = [
        text(e, "id") for e in entries(atom(log.post("u4", "第四条").correct("u1", "改", "错字").fold()))
    ]
    assert later == [f"{BASE}/incidents/inc1#u-u4", *first]


def test_a_correction_moves_the_entry_and_keeps_the_old_text_struck_through() -> None:
    log = Log().post("u1", "水压**十二点**恢复").post("u2", "另一条")
    before = entry_of(atom(log.fold()), "u1")
    assert text(before, "updated") == text(before, "published") == at(2)
    feed = atom(log.correct("u1", "水压十四点恢复", "时间写错").fold())
    entry = entry_of(feed, "u1")
    assert text(entry, "published") == at(2)
    assert text(entry, "updated") == at(4) == text(feed, "updated")
    content = text(entry, "content")
    assert content.startswith("<p>水压十四点恢复</p>")
    assert "<del><p>水压<strong>十二点</strong>恢复</p></del>" in content
    assert "时间写错" in content
    assert text(entry_of(feed, "u2"), "updated") == at(3)  # the other entry did not move


def test_every_earlier_text_of_a_twice_corrected_update_is_shown() -> None:
    feed = atom(Log().post("u1", "甲").correct("u1", "乙", "一改").correct("u1", "丙", "二改").fold())
    content = text(entry_of(feed, "u1"), "content")
    assert content.startswith("<p>丙</p>")
    assert content.index("二改") < content.index("<del><p>乙</p></del>") < content.index("一改")
    assert content.index("一改") < content.index("<del><p>甲</p></del>")


def test_a_retracted_update_is_shown_withdrawn_with_its_reason() -> None:
    feed = atom(Log().post("u1", "东风路封闭").retract("u1", "消息不实").fold())
    entry = entry_of(feed, "u1")
    assert text(entry, "updated") == at(3)
    assert text(entry, "title").startswith("【已撤回】")
    content = text(entry, "content")
    assert "Withdrawn" in content and "消息不实" in content
    assert "<del><p>东风路封闭</p></del>" in content


def test_entry_titles_are_the_first_line_as_plain_text_shortened() -> None:
    long = "长" * 200
    feed = atom(
        Log().post("u1", "**停水**通知 a < b & c\n第二行").post("u2", f"### {long}").post("u3", "---").fold()
    )
    assert text(entry_of(feed, "u1"), "title") == "停水通知 a < b & c"  # text, entities decoded
    title = text(entry_of(feed, "u2"), "title")
    assert len(title) == syndication.TITLE_CHARS and title.endswith("…") and title.startswith("长长")
    assert text(entry_of(feed, "u3"), "title") == f"更新 {at(4)}"  # no words at all: a fallback


@pytest.mark.parametrize("payload", XSS)
def test_operator_written_fields_come_out_as_text_never_markup(payload: str) -> None:
    log = Log(title=f"标题{payload}", summary=f"摘要{payload}", area=f"区域{payload}")
    log.add("facts.changed", {"facts": [{"label": f"标签{payload}", "value": f"值{payload}"}]})
    log.post("u1", f"正文{payload}").correct("u1", f"更正{payload}", f"原因{payload}")
    log.post("u2", "另一条").retract("u2", f"撤回{payload}")
    document = syndication.atom_feed(log.fold(), BASE, ORG)
    assert b"<script" not in document and b"<img" not in document
    feed = ET.fromstring(document)
    assert {element.tag for element in feed.iter()} <= ATOM_TAGS
    assert text(feed, "title") == f"标题{payload}"
    subtitle = text(feed, "subtitle")
    assert all(f"{name}{payload}" in subtitle for name in ("摘要", "区域", "标签", "值"))
    # Inside the (escaped) HTML content, operator text is itself escaped HTML text.
    contents = " ".join(text(e, "content") for e in entries(feed))
    assert "<script" not in contents and "<img" not in contents
    shown = assert_harmless(contents).text  # what a feed reader displays
    assert f"原因{payload}" in shown and f"撤回{payload}" in shown


def test_characters_xml_cannot_carry_are_dropped_and_the_feed_stays_well_formed() -> None:
    bad = "\x00\x01\x08\x0b\x0c\x1f\ufffe\uffff\ud800"
    log = Log(title=f"爆管{bad}", summary=f"摘要{bad}", area=f"区域{bad}")
    log.post("u1", f"正文{bad}", html=f"<p>正文{bad}</p>")
    log.post("u2", "ok\x0bok").retract("u2", f"原因{bad}")  # rendered by markdown as it would be
    document = syndication.atom_feed(log.fold(), BASE, ORG)
    feed = ET.fromstring(document)  # raises if any of them got through
    assert text(feed, "title") == "爆管"
    assert text(entry_of(feed, "u1"), "content") == "<p>正文</p>"
    assert text(entry_of(feed, "u1"), "title") == "正文"
    assert "<p>okok</p>" in text(entry_of(feed, "u2"), "content")
    assert "原因</p>" in text(entry_of(feed, "u2"), "content")
    assert syndication.xml_text("\t\n") == "\t\n"  # the allowed controls stay


@pytest.mark.parametrize(("lang", "prefix"), [("zh-CN", "【演练】"), ("en", "[EXERCISE] ")])
def test_an_exercise_is_marked_as_a_drill_in_both_feeds(lang: str, prefix: str) -> None:
    drill = Log(exercise=True, lang=lang).post("u1", "演练开始").fold()
    assert text(atom(drill), "title") == prefix + OPEN["title"]
    assert syndication.json_feed(drill, BASE, ORG)["title"] == prefix + OPEN["title"]
    assert syndication.oembed(drill, BASE, ORG, None, None)["title"] == prefix + OPEN["title"]
    real = Log(lang=lang).fold()
    assert text(atom(real), "title") == OPEN["title"]
    assert syndication.json_feed(real, BASE, ORG)["title"] == OPEN["title"]


# --- JSON Feed, pure ----------------------------------------------------------------


def test_json_feed_has_the_structure_of_json_feed_1_1() -> None:
    log = Log().post("u1", "第一条").post("u2", "**第二条**", next_update_at="2026-11-22T09:00:00.000Z")
    log.add("facts.changed", {"facts": [{"label": "停水区域", "value": "文化路"}]})
    feed = syndication.json_feed(log.correct("u1", "第一条（改）", "补充").fold(), BASE, ORG)
    assert_json_feed(feed)
    assert feed["home_page_url"] == f"{BASE}/incidents/inc1"
    assert feed["feed_url"] == f"{BASE}/incidents/inc1/feed.json"
    assert feed["description"] == OPEN["summary"]
    assert feed["authors"] == [{"name": ORG}]
    assert feed["language"] == "zh-CN"
    assert feed["_incidents"] == {
        "state": "live", "exercise": False, "seq": 5, "next_update_at": "2026-11-22T09:00:00.000Z",
        "area": OPEN["area"], "facts": [{"label": "停水区域", "value": "文化路"}], "updated_at": at(5),
    }  # fmt: skip
    second, first = feed["items"]
    assert second["id"] == second["url"] == f"{BASE}/incidents/inc1#u-u2"
    assert second["content_text"] == "**第二条**"
    assert second["content_html"].startswith("<p><strong>第二条</strong></p>")
    assert "Next update by" in second["content_html"] and "2026-11-22T09:00:00.000Z" in second["content_html"]
    assert second["title"] == "第二条"
    assert second["date_published"] == second["date_modified"] == at(3)
    assert second["_incidents"] == {"status": "published", "retraction_reason": None, "revisions": []}
    assert first["content_text"] == "第一条（改）"
    assert first["date_published"] == at(2) and first["date_modified"] == at(5)
    assert "<del><p>第一条</p></del>" in first["content_html"] and "补充" in first["content_html"]
    assert first["_incidents"]["status"] == "corrected"
    assert first["_incidents"]["revisions"] == [
        {"body": "第一条", "html": "<p>第一条</p>", "replaced_at": at(5), "reason": "补充"}
    ]


def test_json_feed_shows_a_retraction() -> None:
    feed = syndication.json_feed(Log().post("u1", "谣言").retract("u1", "不实").fold(), BASE, ORG)
    (item,) = feed["items"]
    assert item["date_modified"] == at(3)
    assert item["_incidents"]["status"] == "retracted" and item["_incidents"]["retraction_reason"] == "不实"
    assert "Withdrawn" in item["content_html"] and "<del><p>谣言</p></del>" in item["content_html"]


def test_json_feed_leaves_out_an_empty_description() -> None:
    feed = syndication.json_feed(Log(summary="").fold(), BASE, ORG)
    assert_json_feed(feed)
    assert "description" not in feed and feed["items"] == []


# --- oEmbed, pure -------------------------------------------------------------------


def test_oembed_is_a_rich_iframe_of_the_embed_page() -> None:
    answer = syndication.oembed(Log().fold(), BASE, ORG, None, None)
    assert {k: v for k, v in answer.items() if k != "html"} == {
        "version": "1.0", "type": "rich", "title": OPEN["title"], "provider_name": ORG,
        "provider_url": BASE, "width": 480, "height": 600, "cache_age": syndication.OEMBED_CACHE_AGE,
    }  # fmt: skip
    html = answer["html"]
    assert re.match(rf'<iframe [^>]*src="{BASE}/incidents/inc1/embed"[^>]*></iframe>', html), html
    assert 'width="480"' in html and 'height="600"' in html
    assert html.endswith(f'<script async src="{BASE}/static/embed.js"></script>')


@pytest.mark.parametrize(
    ("maxwidth", "maxheight", "size"),
    [(300, None, (300, 600)), (None, 200, (480, 200)), (2000, 2000, (480, 600)), (1, 1, (1, 1))],
)
def test_oembed_honours_maxwidth_and_maxheight(
    maxwidth: int | None, maxheight: int | None, size: tuple[int, int]
) -> None:
    answer = syndication.oembed(Log().fold(), BASE, ORG, maxwidth, maxheight)
    assert (answer["width"], answer["height"]) == size
    assert f'width="{size[0]}" height="{size[1]}"' in answer["html"]


def test_oembed_rejects_sizes_below_one() -> None:
    with pytest.raises(ValueError, match="maxwidth"):
        syndication.oembed(Log().fold(), BASE, ORG, 0, None)


@pytest.mark.parametrize("payload", XSS)
def test_oembed_html_escapes_the_title(payload: str) -> None:
    html = syndication.oembed(Log(title=payload).fold(), BASE, ORG, None, None)["html"]
    parts = HtmlParts(html)
    assert [tag for tag, _ in parts.tags] == ["iframe", "script"]
    iframe = parts.tags[0][1]
    assert iframe["title"] == payload  # the whole payload stayed inside the attribute
    assert iframe["src"] == f"{BASE}/incidents/inc1/embed"
    assert not any(name.startswith("on") for name in iframe)


# --- through a real server -----------------------------------------------------------


@pytest.fixture
async def anon(sqlite_server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sqlite_server.url, timeout=scaled(20)) as client:
        yield client


async def posted(api: Api, iid: str, body: str) -> str:
    answer = await api.post(iid, body)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["update"]["id"])


async def get_atom(client: httpx.AsyncClient, iid: str) -> ET.Element:
    answer = await client.get(f"/incidents/{iid}/feed.atom")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/atom+xml; charset=utf-8"
    assert answer.headers["cache-control"] == "public, max-age=15"
    feed = ET.fromstring(answer.content)
    assert_atom(feed)
    return feed


async def get_json_feed(client: httpx.AsyncClient, iid: str) -> dict[str, Any]:
    answer = await client.get(f"/incidents/{iid}/feed.json")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/feed+json"
    assert answer.headers["cache-control"] == "public, max-age=15"
    feed: dict[str, Any] = answer.json()
    assert_json_feed(feed)
    return feed


async def test_feeds_over_http_list_updates_newest_first(api: Api, anon: httpx.AsyncClient) -> None:
    iid = await api.create(summary="管道爆裂")
    uids = [await posted(api, iid, f"第{n}条") for n in range(3)]
    feed = await get_atom(anon, iid)
    base = str(anon.base_url).rstrip("/")
    assert text(feed, "id") == f"{base}/incidents/{iid}"
    self_link = next(link for link in feed.findall(f"{A}link") if link.get("rel") == "self")
    assert self_link.get("href") == f"{base}/incidents/{iid}/feed.atom"
    assert [text(e, "id") for e in entries(feed)] == [f"{base}/incidents/{iid}#u-{u}" for u in reversed(uids)]
    assert [text(e, "title") for e in entries(feed)] == ["第2条", "第1条", "第0条"]
    items = (await get_json_feed(anon, iid))["items"]
    assert [item["id"] for item in items] == [text(e, "id") for e in entries(feed)]


async def test_corrections_and_retractions_reach_the_feeds(api: Api, anon: httpx.AsyncClient) -> None:
    iid = await api.create()
    uid = await posted(api, iid, "预计十二点恢复供水")
    other = await posted(api, iid, "东风路封闭")
    before = entry_of(await get_atom(anon, iid), uid)
    url = f"/api/incidents/{iid}/updates/{uid}"
    answer = await api.http.patch(url, json={"body": "预计十四点恢复供水", "reason": "时间有误"})
    assert answer.status_code == 200, answer.text
    answer = await api.http.request(
        "DELETE", f"/api/incidents/{iid}/updates/{other}", json={"reason": "不实"}
    )
    assert answer.status_code == 200, answer.text

    feed = await get_atom(anon, iid)
    corrected, retracted = entry_of(feed, uid), entry_of(feed, other)
    assert text(corrected, "published") == text(before, "published")
    assert text(corrected, "updated") > text(before, "updated")
    content = text(corrected, "content")
    assert "预计十四点恢复供水" in content and "<del><p>预计十二点恢复供水</p></del>" in content
    assert "时间有误" in content
    assert "Withdrawn" in text(retracted, "content") and "不实" in text(retracted, "content")
    assert text(retracted, "updated") > text(corrected, "updated")

    items = {item["url"].rpartition("#u-")[2]: item for item in (await get_json_feed(anon, iid))["items"]}
    assert items[uid]["date_modified"] == text(corrected, "updated")
    assert items[uid]["content_text"] == "预计十四点恢复供水"
    assert items[other]["_incidents"]["status"] == "retracted"


@pytest.mark.parametrize("payload", XSS)
async def test_hostile_input_cannot_break_out_of_the_feeds(
    api: Api, anon: httpx.AsyncClient, payload: str
) -> None:
    iid = await api.create(f"标题{payload}", summary=f"摘要{payload}", area=f"区域{payload}")
    facts = {"facts": [{"label": f"标签{payload}", "value": f"值{payload}"}]}
    assert (await api.http.put(f"/api/incidents/{iid}/facts", json=facts)).status_code == 200
    uid = await posted(api, iid, f"正文{payload}\n\n[链接](javascript:alert(1)) <b onclick=x>粗</b>")
    answer = await api.http.patch(
        f"/api/incidents/{iid}/updates/{uid}", json={"body": f"更正{payload}", "reason": f"原因{payload}"}
    )
    assert answer.status_code == 200, answer.text

    raw = (await anon.get(f"/incidents/{iid}/feed.atom")).content
    assert b"<script" not in raw and b"<img" not in raw
    feed = await get_atom(anon, iid)
    assert {element.tag for element in feed.iter()} <= ATOM_TAGS
    assert text(feed, "title") == f"标题{payload}"
    assert_harmless(text(entry_of(feed, uid), "content"))

    json_feed = await get_json_feed(anon, iid)
    assert json_feed["title"] == f"标题{payload}"
    (item,) = json_feed["items"]
    assert "<script" not in item["content_html"]
    assert_harmless(item["content_html"])


async def test_control_characters_are_refused_so_the_feeds_show_what_was_stored(
    api: Api, anon: httpx.AsyncClient
) -> None:
    """XML cannot carry them, so the API refuses them (422, see tests/test_unicode.py) rather
    than store text the Atom feed would have to change; logs written before that rule
    still give well-formed feeds (the test above)."""
    answer = await api.http.post("/api/incidents", json={"title": "爆管\x0b\x1f通知", "summary": "摘要\x0c"})
    assert answer.status_code == 422, answer.text
    iid = await api.create("爆管通知")
    assert (await api.post(iid, "抢修\x0b中\x01")).status_code == 422
    feed = await get_atom(anon, iid)
    assert text(feed, "title") == "爆管通知"
    assert entries(feed) == []
    assert (await get_json_feed(anon, iid))["items"] == []


@pytest.mark.parametrize("kind", ["atom", "json"])
async def test_feeds_answer_304_while_the_incident_has_not_changed(
    api: Api, anon: httpx.AsyncClient, kind: str
) -> None:
    iid = await api.create()
    await posted(api, iid, "第一条")
    url = f"/incidents/{iid}/feed.{kind}"
    first = await anon.get(url)
    tag = first.headers["etag"]
    assert first.status_code == 200 and re.fullmatch(r'"[^"]+"', tag), tag
    assert (await anon.get(url)).headers["etag"] == tag  # same state, same tag

    for header in (tag, f"W/{tag}", f'"other", {tag}', "*"):
        again = await anon.get(url, headers={"If-None-Match": header})
        assert again.status_code == 304, (header, again.status_code)
        assert again.content == b""
        assert again.headers["etag"] == tag
        assert again.headers["cache-control"] == "public, max-age=15"
    assert (await anon.get(url, headers={"If-None-Match": '"other"'})).status_code == 200

    await posted(api, iid, "第二条")
    changed = await anon.get(url, headers={"If-None-Match": tag})
    assert changed.status_code == 200 and changed.headers["etag"] != tag
    assert "第二条" in changed.text


async def test_the_two_feeds_do_not_share_an_etag(api: Api, anon: httpx.AsyncClient) -> None:
    iid = await api.create()
    atom_tag = (await anon.get(f"/incidents/{iid}/feed.atom")).headers["etag"]
    json_tag = (await anon.get(f"/incidents/{iid}/feed.json")).headers["etag"]
    assert atom_tag != json_tag


@pytest.mark.parametrize("kind", ["atom", "json"])
async def test_feeds_of_an_unknown_incident_are_404_json(anon: httpx.AsyncClient, kind: str) -> None:
    answer = await anon.get(f"/incidents/nosuchincident/feed.{kind}")
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json()["detail"]


async def test_an_exercise_is_marked_as_a_drill_in_served_feeds(api: Api, anon: httpx.AsyncClient) -> None:
    drill = await api.create("消防演练", exercise=True)
    real = await api.create("消防演练")
    assert text(await get_atom(anon, drill), "title") == "【演练】消防演练"
    assert (await get_json_feed(anon, drill))["title"] == "【演练】消防演练"
    assert (await get_json_feed(anon, drill))["_incidents"]["exercise"] is True
    assert text(await get_atom(anon, real), "title") == "消防演练"
    assert (await get_json_feed(anon, real))["title"] == "消防演练"


# --- oEmbed through the server ---------------------------------------------------------


async def test_oembed_answers_for_a_timeline_url_of_this_server(api: Api, anon: httpx.AsyncClient) -> None:
    iid = await api.create("文化路爆管")
    base = str(anon.base_url).rstrip("/")
    for url in (f"{base}/incidents/{iid}", f"{base}/incidents/{iid}/embed", f"{base}/incidents/{iid}#u-x"):
        answer = await anon.get("/oembed", params={"url": url, "maxwidth": "320", "format": "json"})
        assert answer.status_code == 200, (url, answer.text)
        assert answer.headers["content-type"].startswith("application/json")
        body = answer.json()
        assert body["version"] == "1.0" and body["type"] == "rich"
        assert body["title"] == "文化路爆管" and body["provider_url"] == base
        assert (body["width"], body["height"]) == (320, 600)
        assert f'src="{base}/incidents/{iid}/embed"' in body["html"]


async def test_oembed_is_404_for_urls_this_server_does_not_serve(api: Api, anon: httpx.AsyncClient) -> None:
    iid = await api.create()
    host = anon.base_url.host
    port = anon.base_url.port
    foreign = [
        f"http://evil.example/incidents/{iid}",
        f"http://{host}:{port + 1}/incidents/{iid}",
        f"http://{host}/incidents/{iid}",  # right host, wrong port
        f"http://evil.example@{host}:{port}/incidents/{iid}",
        f"ftp://{host}:{port}/incidents/{iid}",
        f"javascript://{host}:{port}/incidents/{iid}",
        f"http://{host}:{port}/incidents/{iid}/feed.atom",
        f"http://{host}:{port}/api/incidents/{iid}",
        f"http://{host}:{port}/incidents/{iid}/../../admin",
        f"http://{host}:{port}/",
        f"http://{host}:notaport/incidents/{iid}",
        f"/incidents/{iid}",
        "",
        f"http://{host}:{port}/incidents/nosuchincident",
    ]
    for url in foreign:
        answer = await anon.get("/oembed", params={"url": url})
        assert answer.status_code == 404, (url, answer.status_code, answer.text)
        assert answer.json()["detail"], url
    # Control: the same server's URL is known.
    assert (
        await anon.get("/oembed", params={"url": f"http://{host}:{port}/incidents/{iid}"})
    ).status_code == 200


async def test_oembed_xml_is_501_and_bad_sizes_are_422(api: Api, anon: httpx.AsyncClient) -> None:
    iid = await api.create()
    url = f"{str(anon.base_url).rstrip('/')}/incidents/{iid}"
    answer = await anon.get("/oembed", params={"url": url, "format": "xml"})
    assert answer.status_code == 501 and answer.json()["detail"]
    for bad in ({"maxwidth": "wide"}, {"maxwidth": "0"}, {"maxheight": "-5"}, {"maxheight": "1.5"}):
        answer = await anon.get("/oembed", params={"url": url, **bad})
        assert answer.status_code == 422, (bad, answer.text)
        assert answer.json()["detail"]
    assert (await anon.get("/oembed")).status_code == 422  # url is required
