"""Unicode and hostile text in every field an operator writes, through a real server.

Each sample goes into every writable text field of the API (incident title, summary
and area when opened and when edited, update bodies, corrections and their reasons,
retraction reasons, key facts, resolution and reopening reasons, drafts and scheduled
updates, operator names). Then every reader is checked: the JSON API and the event log
return it exactly; the timeline page, the embed and the list show it exactly as text
(which proves it was escaped once, neither dropped nor double-escaped); the Atom feed
parses as XML and the JSON Feed as JSON with the same text; oEmbed names it.

The characters a page or feed cannot carry (C0 controls other than tab, line feed and
carriage return; lone surrogates; U+FFFE, U+FFFF) are refused by the API and the
console with a 422 that names the field, and nothing is stored (``broadcaster/text.py``).
"""

from __future__ import annotations

import json
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest

from broadcaster.core import markdown
from tests.support.client import Api
from tests.support.console import Browser, csrf_of, nonce_of
from tests.support.server import CHECKOUT, ServerProcess, add_operator_with_link, scaled

A = "{http://www.w3.org/2005/Atom}"
ATOM_TAGS = {
    f"{A}{tag}"
    for tag in ("feed", "id", "title", "subtitle", "updated", "link", "author", "name", "rights",
                "generator", "entry", "published", "content")
}  # fmt: skip
ZALGO = "Z" + "".join(map(chr, range(0x0300, 0x0370))) + "a\u0337\u0334l\u0338g\u0335o\u0336"
LONG_WORD = ("Donaudampfschifffahrtsgesellschaftskapitän" * 13)[:500]
SAMPLES = {
    "rtl": "انقطاع المياه في شارع 23 حتى 14:00 — עדכון: הכביש סגור until 14:00 (ABC-123) נא להימנע",
    "emoji": "🚒🔥 👩‍🚒 👨‍👩‍👧‍👦 🏳️‍🌈 🇨🇳🇺🇦🇮🇱 ❤️ 1️⃣ 👍🏽",
    "combining": "e\u0301 café cafe\u0301 n\u0303 \u0915\u094d\u0937 " + ZALGO,
    "astral": "𠀀𠀁𠀂𪛖 𝄞𝄢 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 🀄 𓀀",
    "long_word": LONG_WORD,
    "chinese": "文化路花园路至东风路段自来水管道爆裂，预计今晚二十一时恢复供水。請市民儲水。",
    "line_ends": "第一行\t制表\n第二行\r\n第三行",
}
HOSTILE = {
    "script": "<script>alert(1)</script>",
    "attribute": '"><img src=x onerror=alert(1)>',
    "markdown_link": "[链接](javascript:alert(1)) [l2](JaVaScRiPt:alert(2)) <javascript:alert(3)>",
    "cdata_end": "]]> <![CDATA[x]]>",
    "entity": "&#x0; &#0; &amp; &lt;b&gt;",
    "quotes": "'\"</title></textarea></script><!--",
}
# Field -> the API's limit (characters): values are cut to fit.
LIMITS = {"title": 200, "summary": 2000, "area": 200, "label": 100, "value": 1000, "body": 20_000,
          "reason": 1000, "name": 100}  # fmt: skip
BAD = ["\x00", "\x01", "\x07", "\x08", "\x0b", "\x0c", "\x0e", "\x1b", "\x1f", "\ud800", "\udfff", "\ufffe"]


def fit(kind: str, key: str, sample: str) -> str:
    """``key:sample``, cut to the limit of its kind of field."""
    return f"{key}:{sample}"[: LIMITS[kind]]


async def send(api: Api, method: str, path: str, body: Any, **headers: str) -> httpx.Response:
    """JSON with \\u escapes for everything outside ASCII, so lone surrogates travel too."""
    content = json.dumps(body, ensure_ascii=True)
    headers = {"Content-Type": "application/json", **headers}
    return await api.http.request(method, path, content=content, headers=headers)


async def ok(answer: httpx.Response, status: int = 200) -> Any:
    assert answer.status_code == status, answer.text
    return answer.json()


def soon(hours: int = 1) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


# --- reading pages -----------------------------------------------------------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Page(HTMLParser):
    """A page's tags, its script blocks and the text of each element that has an id."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.by_id: dict[str, str] = {}
        self.text = ""
        self._open: list[tuple[str, str | None]] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.tags.append((tag, found))
        if tag in VOID:
            return
        self._open.append((tag, found.get("id")))
        if found.get("id"):
            self.by_id.setdefault(str(found["id"]), "")
        if tag == "script":
            self.scripts.append((found, ""))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self._open) - 1, -1, -1):
            if self._open[index][0] == tag:
                del self._open[index:]
                return

    def handle_data(self, data: str) -> None:
        if self._open and self._open[-1][0] == "script":
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)
            return
        self.text += data
        for _, ident in self._open:
            if ident:
                self.by_id[ident] += data

    def meta(self, prop: str) -> str | None:
        return next(
            (a.get("content") for t, a in self.tags if t == "meta" and a.get("property") == prop), None
        )


def our_own(tag: str, attrs: dict[str, str | None]) -> bool:
    """The elements of that kind the pages themselves put there: the embed's link target, the
    server-drawn map of the area, the forms to ask a question and to follow (exactly these)."""
    if tag == "base":
        return attrs == {"target": "_blank"}
    if tag == "svg":
        return attrs.get("class") == "area-svg" and attrs.get("xmlns") == "http://www.w3.org/2000/svg"
    if tag == "form":
        action = attrs.get("action") or ""
        return (
            attrs.get("method") == "post"
            and re.fullmatch(r"/incidents/[0-9a-f]+/(questions|follow)\?lang=[\w-]+", action) is not None
        )
    return False


def assert_inert(page: Page, where: str) -> None:
    """Nothing operator-written became markup: no images, frames or objects, no event
    handlers, no script URLs, no inline script; data blocks are still valid JSON."""
    for tag, attrs in page.tags:
        assert tag not in {"img", "iframe", "object", "embed", "svg", "math", "form", "base"} or (
            our_own(tag, attrs)
        ), (where, tag, attrs)
        for name, value in attrs.items():
            assert not name.startswith("on"), (where, tag, name)
            assert not re.sub(r"[\x00-\x20]", "", value or "").lower().startswith("javascript:"), (where, tag)
    for attrs, body in page.scripts:
        if attrs.get("type") in {"application/json", "application/ld+json"}:
            json.loads(body)  # nothing broke out of a data block
        else:
            assert attrs.get("src") and not body.strip(), (where, attrs, body)


# --- writing everything ----------------------------------------------------------------


@dataclass
class Sweep:
    """One sample written into every field; what was sent, and the ids it made."""

    sample: str
    iid: str = ""
    values: dict[str, str] = field(default_factory=dict)
    uids: dict[str, str] = field(default_factory=dict)
    drafts: dict[str, str] = field(default_factory=dict)

    def put(self, kind: str, key: str) -> str:
        self.values[key] = value = fit(kind, key, self.sample)
        return value


async def write_everything(api: Api, sample: str) -> Sweep:
    sweep = Sweep(sample)
    put = sweep.put
    opened = {"title": put("title", "t0"), "summary": put("summary", "s0"), "area": put("area", "a0")}
    created = await ok(await send(api, "POST", "/api/incidents", opened), 201)
    assert {k: created[k] for k in opened} == opened
    sweep.iid = iid = created["id"]
    inc = f"/api/incidents/{iid}"
    edited = {"title": put("title", "t1"), "summary": put("summary", "s1"), "area": put("area", "a1")}
    event = await ok(await send(api, "PATCH", inc, edited))
    assert event["data"] == {**event["data"], **edited}
    facts = {"facts": [{"label": put("label", "l1"), "value": put("value", "v1")},
                       {"label": put("label", "l2"), "value": put("value", "v2")}]}  # fmt: skip
    assert (await ok(await send(api, "PUT", f"{inc}/facts", facts)))["data"]["facts"] == facts["facts"]
    for key in ("corrected", "retracted", "plain"):
        posted = await ok(await send(api, "POST", f"{inc}/updates", {"body": put("body", key)}), 201)
        assert posted["update"]["body"] == sweep.values[key]
        sweep.uids[key] = posted["update"]["id"]
    correction = {"body": put("body", "correction"), "reason": put("reason", "why_corrected")}
    event = await ok(await send(api, "PATCH", f"{inc}/updates/{sweep.uids['corrected']}", correction))
    assert {k: event["data"][k] for k in correction} == correction
    retraction = {"reason": put("reason", "why_retracted")}
    event = await ok(await send(api, "DELETE", f"{inc}/updates/{sweep.uids['retracted']}", retraction))
    assert event["data"]["reason"] == retraction["reason"]
    # Drafts and scheduled updates: stored exactly, then cancelled (they never publish here).
    draft = await ok(await send(api, "POST", f"{inc}/drafts", {"body": put("body", "draft")}), 201)
    sid = draft["scheduled"]["id"]
    assert draft["scheduled"]["body"] == sweep.values["draft"]
    changed = await ok(await send(api, "PATCH", f"/api/scheduled/{sid}", {"body": put("body", "redraft")}))
    assert changed["scheduled"]["body"] == sweep.values["redraft"]
    scheduled = {"body": put("body", "scheduled"), "publish_at": soon()}
    later = await ok(await send(api, "POST", f"{inc}/updates", scheduled), 202)
    sweep.drafts = {"redraft": sid, "scheduled": later["scheduled"]["id"]}
    for key, item in sweep.drafts.items():
        stored = (await ok(await api.http.get(f"/api/scheduled/{item}")))["scheduled"]
        assert stored["body"] == sweep.values[key]
        await ok(await api.http.delete(f"/api/scheduled/{item}"))
    return sweep


async def resolve_twice(api: Api, sweep: Sweep) -> None:
    inc = f"/api/incidents/{sweep.iid}"
    for action, key in (("resolve", "resolved"), ("reopen", "reopened"), ("resolve", "resolved_again")):
        event = await ok(await send(api, "POST", f"{inc}/{action}", {"reason": sweep.put("reason", key)}))
        assert event["data"]["reason"] == sweep.values[key]


# --- checking every reader ---------------------------------------------------------------


async def check_json_api(api: Api, sweep: Sweep) -> dict[str, Any]:
    v, uids = sweep.values, sweep.uids
    snapshot: dict[str, Any] = await ok(await api.http.get(f"/api/incidents/{sweep.iid}"))
    incident = snapshot["incident"]
    assert (incident["title"], incident["summary"], incident["area"]) == (v["t1"], v["s1"], v["a1"])
    assert incident["resolution"] == v["resolved_again"]
    assert snapshot["facts"] == [{"label": v["l1"], "value": v["v1"]}, {"label": v["l2"], "value": v["v2"]}]
    updates = {u["id"]: u for u in snapshot["updates"]}
    corrected, retracted = updates[uids["corrected"]], updates[uids["retracted"]]
    assert corrected["body"] == v["correction"]
    (revision,) = corrected["revisions"]
    assert (revision["body"], revision["reason"]) == (v["corrected"], v["why_corrected"])
    assert (retracted["body"], retracted["retraction_reason"]) == (v["retracted"], v["why_retracted"])
    assert updates[uids["plain"]]["body"] == v["plain"]
    events = await api.events(sweep.iid)
    reasons = [e["data"].get("reason") for e in events if e["type"].startswith("incident.re")]
    assert reasons == [v["resolved"], v["reopened"], v["resolved_again"]]
    assert events[0]["data"]["title"] == v["t0"] and events[1]["data"]["title"] == v["t1"]
    return snapshot


def check_page(page: Page, sweep: Sweep, snapshot: dict[str, Any], *, embed: bool) -> None:
    v, uids, where = sweep.values, sweep.uids, "embed" if embed else "timeline"
    assert_inert(page, where)
    assert page.by_id["title"] == v["t1"], where
    assert page.by_id["area"] == v["a1"], where
    if not embed:
        assert page.by_id["summary"] == v["s1"]
        assert page.meta("og:title") == v["t1"] and page.meta("og:description") == v["s1"]
        (ld,) = [json.loads(b) for a, b in page.scripts if a.get("type") == "application/ld+json"]
        assert ld["headline"] == v["t1"] and ld["description"] == v["s1"]
    for key in ("l1", "v1", "l2", "v2"):
        assert v[key] in page.by_id["facts"], (where, key)
    assert page.by_id["resolution"].endswith(f": {v['resolved_again']}"), where
    updates = {u["id"]: u for u in snapshot["updates"]}
    for key, uid in uids.items():
        text = page.by_id[f"u-{uid}"]
        # Shown as rendered: exactly the text of the html the API returns.
        assert markdown.plain_text(updates[uid]["html"]) in " ".join(text.split()), (where, key)
    assert v["why_corrected"] in page.by_id[f"u-{uids['corrected']}"], where
    assert v["why_retracted"] in page.by_id[f"u-{uids['retracted']}"], where


def plain_markdown(value: str) -> bool:
    """Whether Markdown leaves this text as it is (no markup, no entities, no CR)."""
    return not re.search(r"[<>&\[\]*_`#\\\r]", value)


async def check_pages(anon: httpx.AsyncClient, sweep: Sweep, snapshot: dict[str, Any]) -> None:
    for path, embed in ((f"/incidents/{sweep.iid}", False), (f"/incidents/{sweep.iid}/embed", True)):
        answer = await anon.get(path)
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "text/html; charset=utf-8"
        page = Page(answer.text)
        check_page(page, sweep, snapshot, embed=embed)
        updates = {u["id"]: u for u in snapshot["updates"]}
        assert updates[sweep.uids["plain"]]["html"] in answer.text
        for key in ("plain", "correction"):
            if plain_markdown(sweep.values[key]):  # then the page shows the body as written
                uid = sweep.uids["plain" if key == "plain" else "corrected"]
                assert sweep.values[key] in page.by_id[f"u-{uid}"], (path, key)


async def check_feeds(anon: httpx.AsyncClient, sweep: Sweep, snapshot: dict[str, Any]) -> None:
    v, uids = sweep.values, sweep.uids
    # XML 1.0 parsers read CR LF and a lone CR as LF (section 2.11): the same line break.
    xml = {key: value.replace("\r\n", "\n").replace("\r", "\n") for key, value in v.items()}
    answer = await anon.get(f"/incidents/{sweep.iid}/feed.atom")
    assert answer.status_code == 200, answer.text
    feed = ET.fromstring(answer.content)  # well-formed, or this raises
    assert {element.tag for element in feed.iter()} <= ATOM_TAGS
    assert feed.findtext(f"{A}title") == xml["t1"]
    subtitle = feed.findtext(f"{A}subtitle") or ""
    for key in ("s1", "a1", "l1", "v1", "l2", "v2", "resolved_again"):
        assert xml[key] in subtitle, key
    entries = {e.findtext(f"{A}id", "").rpartition("#u-")[2]: e for e in feed.findall(f"{A}entry")}
    assert set(entries) == set(uids.values())
    updates = {u["id"]: u for u in snapshot["updates"]}
    for key, uid in uids.items():
        content = entries[uid].findtext(f"{A}content") or ""
        assert updates[uid]["html"].replace("\r\n", "\n").replace("\r", "\n") in content, key
        shown = Page(content)
        assert_inert(shown, f"atom {key}")
        if key != "plain":
            reason = xml["why_corrected" if key == "corrected" else "why_retracted"]
            assert reason in shown.text, key

    answer = await anon.get(f"/incidents/{sweep.iid}/feed.json")
    assert answer.status_code == 200, answer.text
    json_feed = json.loads(answer.content)
    assert json_feed["title"] == v["t1"] and json_feed["description"] == v["s1"]
    assert json_feed["_incidents"]["area"] == v["a1"]
    assert json_feed["_incidents"]["facts"] == snapshot["facts"]
    items = {item["url"].rpartition("#u-")[2]: item for item in json_feed["items"]}
    assert items[uids["plain"]]["content_text"] == v["plain"]
    assert items[uids["corrected"]]["content_text"] == v["correction"]
    assert items[uids["corrected"]]["_incidents"]["revisions"][0]["reason"] == v["why_corrected"]
    assert items[uids["retracted"]]["_incidents"]["retraction_reason"] == v["why_retracted"]
    for key, uid in uids.items():
        assert_inert(Page(items[uid]["content_html"]), f"json feed {key}")


async def check_oembed(anon: httpx.AsyncClient, sweep: Sweep) -> None:
    url = f"{str(anon.base_url).rstrip('/')}/incidents/{sweep.iid}"
    answer = await anon.get("/oembed", params={"url": url})
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert found["title"] == sweep.values["t1"]
    html = Page(found["html"])
    assert [tag for tag, _ in html.tags] == ["iframe", "script"]
    assert html.tags[0][1]["title"] == sweep.values["t1"]
    assert not html.text.strip()


async def check_index(anon: httpx.AsyncClient, sweep: Sweep) -> None:
    answer = await anon.get("/")
    assert answer.status_code == 200, answer.text
    page = Page(answer.text)
    assert_inert(page, "list")
    hrefs = [a.get("href") or "" for t, a in page.tags if t == "a"]
    assert any(href.startswith(f"/incidents/{sweep.iid}?") for href in hrefs), "the incident is not listed"
    assert sweep.values["t1"] in page.text and sweep.values["a1"] in page.text


async def check_operator_name(api: Api, sample: str) -> None:
    name = fit("name", f"op{uuid.uuid4().hex[:6]}", sample).strip()
    invited = await ok(await send(api, "POST", "/api/operators", {"name": name}), 201)
    assert invited["operator"]["name"] == name
    listed = (await ok(await api.http.get("/api/operators")))["operators"]
    assert name in [o["name"] for o in listed]


@pytest.fixture
async def anon(sqlite_server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sqlite_server.url, timeout=scaled(20)) as client:
        yield client


@pytest.mark.parametrize("sample", list(SAMPLES.values()), ids=list(SAMPLES))
async def test_unicode_is_stored_and_shown_exactly_everywhere(
    api: Api, anon: httpx.AsyncClient, sample: str
) -> None:
    sweep = await write_everything(api, sample)
    await check_index(anon, sweep)
    await resolve_twice(api, sweep)
    snapshot = await check_json_api(api, sweep)
    for key in ("plain", "correction", "corrected"):  # Markdown keeps such text as it is
        uid = sweep.uids["corrected" if key != "plain" else "plain"]
        html = next(u for u in snapshot["updates"] if u["id"] == uid)
        shown = html["html"] if key != "corrected" else html["revisions"][0]["html"]
        assert markdown.plain_text(shown) == " ".join(sweep.values[key].split()), key
    await check_pages(anon, sweep, snapshot)
    await check_feeds(anon, sweep, snapshot)
    await check_oembed(anon, sweep)
    await check_operator_name(api, sample)


@pytest.mark.parametrize("payload", list(HOSTILE.values()), ids=list(HOSTILE))
async def test_hostile_text_is_stored_exactly_and_inert_everywhere(
    api: Api, anon: httpx.AsyncClient, payload: str
) -> None:
    sweep = await write_everything(api, payload)
    await check_index(anon, sweep)
    await resolve_twice(api, sweep)
    snapshot = await check_json_api(api, sweep)
    await check_pages(anon, sweep, snapshot)
    await check_feeds(anon, sweep, snapshot)
    await check_oembed(anon, sweep)
    await check_operator_name(api, payload)


def test_markdown_script_links_lose_their_target() -> None:
    page = Page(markdown.render(HOSTILE["markdown_link"]))
    assert_inert(page, "markdown")
    assert not [a for t, a in page.tags if t == "a" and "href" in a]  # shown as text, not as links


# --- characters no page or feed can carry: refused, nothing stored ------------------------


def refused(answer: httpx.Response, name: str) -> None:
    assert answer.status_code == 422, answer.text
    (problem,) = answer.json()["detail"]
    assert problem["type"] == "control_characters", problem
    assert problem["loc"][-1] == name, problem
    assert problem["msg"].startswith(f"{name}: control characters are not allowed: U+"), problem


@pytest.fixture
async def target(api: Api) -> tuple[str, str, str, str]:
    """A live incident with one update, a draft and a snapshot of everything stored."""
    iid = await api.create("控制字符测试")
    uid = (await ok(await api.post(iid, "正文"), 201))["update"]["id"]
    draft = await ok(await send(api, "POST", f"/api/incidents/{iid}/drafts", {"body": "草稿"}), 201)
    return iid, uid, draft["scheduled"]["id"], (await api.http.get(f"/api/incidents/{iid}")).text


def writes(iid: str, uid: str, sid: str) -> list[tuple[str, str, str, dict[str, Any]]]:
    """Every write of a text field: method, path, field, body with ``{}`` for the value."""
    inc = f"/api/incidents/{iid}"
    return [
        ("POST", "/api/incidents", "title", {"title": "{}"}),
        ("POST", "/api/incidents", "summary", {"title": "t", "summary": "{}"}),
        ("POST", "/api/incidents", "area", {"title": "t", "area": "{}"}),
        ("POST", "/api/incidents", "lang", {"title": "t", "lang": "{}"}),
        ("PATCH", inc, "title", {"title": "{}"}),
        ("PATCH", inc, "summary", {"summary": "{}"}),
        ("PATCH", inc, "area", {"area": "{}"}),
        ("POST", f"{inc}/updates", "body", {"body": "{}"}),
        ("POST", f"{inc}/updates", "next_update_at", {"body": "b", "next_update_at": "{}"}),
        ("POST", f"{inc}/updates", "publish_at", {"body": "b", "publish_at": "{}"}),
        ("PATCH", f"{inc}/updates/{uid}", "body", {"body": "{}", "reason": "r"}),
        ("PATCH", f"{inc}/updates/{uid}", "reason", {"body": "b", "reason": "{}"}),
        ("DELETE", f"{inc}/updates/{uid}", "reason", {"reason": "{}"}),
        ("PUT", f"{inc}/facts", "label", {"facts": [{"label": "{}", "value": "v"}]}),
        ("PUT", f"{inc}/facts", "value", {"facts": [{"label": "l", "value": "{}"}]}),
        ("POST", f"{inc}/resolve", "reason", {"reason": "{}"}),
        ("POST", f"{inc}/drafts", "body", {"body": "{}"}),
        ("PATCH", f"/api/scheduled/{sid}", "body", {"body": "{}"}),
        ("PATCH", f"/api/scheduled/{sid}", "publish_at", {"publish_at": "{}"}),
        ("POST", "/api/operators", "name", {"name": "{}"}),
    ]


def filled(body: Any, value: str) -> Any:
    if isinstance(body, dict):
        return {k: filled(item, value) for k, item in body.items()}
    if isinstance(body, list):
        return [filled(item, value) for item in body]
    return value if body == "{}" else body


@pytest.mark.parametrize("bad", BAD, ids=[f"U+{ord(c):04X}" for c in BAD])
async def test_control_characters_are_refused_in_every_field_and_nothing_is_stored(
    api: Api, target: tuple[str, str, str, str], bad: str
) -> None:
    iid, uid, sid, before = target
    incidents = len((await ok(await api.http.get("/api/incidents")))["incidents"])
    operators = len((await ok(await api.http.get("/api/operators")))["operators"])
    draft = (await ok(await api.http.get(f"/api/scheduled/{sid}")))["scheduled"]
    for method, path, name, body in writes(iid, uid, sid):
        for value in (bad, f"前{bad}", f"ok{bad}ok", f"尾{bad}"):
            refused(await send(api, method, path, filled(body, value)), name)
    assert (await api.http.get(f"/api/incidents/{iid}")).text == before
    assert len((await ok(await api.http.get("/api/incidents")))["incidents"]) == incidents
    assert len((await ok(await api.http.get("/api/operators")))["operators"]) == operators
    assert (await ok(await api.http.get(f"/api/scheduled/{sid}")))["scheduled"] == draft
    assert (await ok(await api.http.get(f"/api/incidents/{iid}/scheduled")))["scheduled"] == [draft]


async def test_the_refusal_names_the_character_and_where_it_is(api: Api) -> None:
    answer = await send(api, "POST", "/api/incidents", {"title": "文化路\x00爆管"})
    refused(answer, "title")
    (problem,) = answer.json()["detail"]
    assert problem["msg"] == "title: control characters are not allowed: U+0000 at character 4"
    answer = await send(api, "POST", "/api/incidents", {"title": "ok", "summary": "ab\ud83d"})
    assert answer.json()["detail"][0]["msg"].endswith("U+D83D at character 3")


async def test_echoed_lone_surrogates_never_break_an_error_answer(api: Api) -> None:
    """422s echo the input; a lone surrogate in it cannot be encoded and used to give a 500."""
    for body in ({"title": "t", "lang": "\ud800"}, {"title": "t", "\udc00": 1}, {"title": ["\ud800"]}):
        answer = await send(api, "POST", "/api/incidents", body)
        assert answer.status_code == 422, answer.text
        answer.json()
    answer = await send(api, "POST", "/api/incidents", {"title": "t", "severity": "\ud800"})
    assert answer.status_code == 422 and "\ufffd" in answer.text


async def test_tab_newline_and_carriage_return_are_kept(api: Api) -> None:
    value = "第一行\t制表\n第二行\r\n第三行\r"
    iid = await api.create(value, summary=value, area=value)
    incident = (await ok(await api.http.get(f"/api/incidents/{iid}")))["incident"]
    assert (incident["title"], incident["summary"], incident["area"]) == (value, value, value)


# --- the console's forms: the same rule -----------------------------------------------------


@pytest.fixture
async def desk(sqlite_server: ServerProcess, sqlite_url: str) -> AsyncIterator[Browser]:
    """An administrator logged in to the console."""
    _, link = add_operator_with_link(sqlite_url, f"uni-{uuid.uuid4().hex[:6]}", True, sqlite_server.url)
    browser = Browser(sqlite_server.url)
    assert (await browser.setup(link)).status_code == 303
    yield browser
    await browser.aclose()


async def test_console_forms_refuse_control_characters_and_store_nothing(desk: Browser, api: Api) -> None:
    listed = len((await ok(await api.http.get("/api/incidents")))["incidents"])
    page = await desk.http.get("/console/incidents/new")
    fields = {"csrf": csrf_of(page.text), "nonce": nonce_of(page.text), "title": "爆管\x00", "lang": "zh-CN"}
    answer = await desk.http.post("/console/incidents", data=fields)
    assert answer.status_code == 422 and "标题：不允许使用控制字符：第 3 个字符为 U+0000" in answer.text
    assert len((await ok(await api.http.get("/api/incidents")))["incidents"]) == listed

    iid = await api.create("控制台控制字符")
    uid = (await ok(await api.post(iid, "正文"), 201))["update"]["id"]
    before = (await api.http.get(f"/api/incidents/{iid}")).text
    workspace = f"/console/incidents/{iid}"
    cases = [
        (f"{workspace}/updates", {"body": "正\x0b文"}, "更新内容"),
        (f"{workspace}/updates", {"body": "草稿\x1f", "draft": "1"}, "更新内容"),
        (f"{workspace}/updates/{uid}/correct", {"body": "新\x01", "reason": "r"}, "更正后的内容"),
        (f"{workspace}/updates/{uid}/correct", {"body": "新", "reason": "\x1b"}, "原因"),
        (f"{workspace}/updates/{uid}/retract", {"reason": "撤回\x08"}, "原因"),
        (f"{workspace}/facts", {"label": "标签\x0c", "value": "v"}, "名称"),
        (f"{workspace}/facts", {"label": "标签", "value": "\x07值"}, "内容"),
        (f"{workspace}/state", {"to": "resolved", "reason": "结束\x00"}, "原因"),
    ]
    for action, data, name in cases:
        page = await desk.http.get(workspace)
        form = {"csrf": csrf_of(page.text), "nonce": nonce_of(page.text), **data}
        answer = await desk.http.post(action, data=form)
        assert answer.status_code == 422, (action, answer.status_code)
        assert f"{name}：不允许使用控制字符" in answer.text, action  # the console's language: zh-CN
    assert (await api.http.get(f"/api/incidents/{iid}")).text == before
    assert (await ok(await api.http.get(f"/api/incidents/{iid}/scheduled")))["scheduled"] == []

    answer = await desk.form("/console/admin/operators", "/console/admin/operators", name="名\x00字")
    assert answer.status_code == 422 and "名称：不允许使用控制字符" in answer.text
    answer = await desk.form("/console/tokens", "/console/tokens", label="脚本\x01")
    assert answer.status_code == 422 and "名称：不允许使用控制字符" in answer.text
    preview = await desk.http.post(
        "/console/preview", content='{"body": "x\\ud800"}', headers={"Content-Type": "application/json"}
    )
    assert preview.status_code == 422, preview.text  # a lone surrogate: refused, not a 500


# --- layout: a word longer than the screen wraps ----------------------------------------------


def test_long_words_wrap_instead_of_widening_the_page() -> None:
    css = (CHECKOUT / "static" / "site.css").read_text()
    rules: dict[str, str] = {}
    for selectors, body in re.findall(r"([^{}]+)\{([^{}]*)\}", css):
        for selector in selectors.split(","):
            rules[selector.strip()] = rules.get(selector.strip(), "") + ";" + body
    # Inherited by everything on the timeline, the embed and the list: titles, summary, area,
    # facts, update bodies, reasons.
    assert "overflow-wrap:anywhere" in rules["main"].replace(" ", "")
    # The facts' label column may not grow to the width of an unbroken label.
    assert "max-content" not in rules[".facts dl"].split("grid-template-columns:")[1].split(";")[0]
    assert "white-space:pre-wrap" in rules[".update pre"].replace(" ", "")
