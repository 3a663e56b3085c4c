"""Scheduled updates and drafts: the pure fold and rules, then real servers (SQLite,
restarts, two processes sharing Redis) publishing each item exactly once, on time."""

from __future__ import annotations

import asyncio
import io
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from broadcaster.core.events import format_time, parse_time
from broadcaster.core.timeline import RuleViolation
from broadcaster.incidents import schedule_rules as sc
from tests.support.client import Api
from tests.support.redis_server import RedisServer
from tests.support.server import ServerProcess, add_operator, scaled

NOW = datetime(2026, 11, 22, 7, 0, 0, tzinfo=UTC)


# --- pure: fold and rules --------------------------------------------------------------


def stamp(seconds: float) -> str:
    return format_time(NOW + timedelta(seconds=seconds))


def ev(seq: int, type_: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"schedules": "all", "seq": seq, "type": type_, "at": stamp(seq), "data": data}


def created(seq: int, item_id: str, publish_in: float | None = 60, **extra: Any) -> dict[str, Any]:
    _, data = sc.decide_create(
        item_id, "inc1", extra.pop("body", "停水通知"), extra.pop("next_update_at", None),
        None if publish_in is None else stamp(publish_in), "op1", NOW,
    )  # fmt: skip
    return ev(seq, sc.ScheduleEvent.CREATED, data)


def test_fold_created_scheduled_and_draft() -> None:
    items = sc.fold([created(1, "a"), created(2, "b", publish_in=None)])
    assert items["a"].status == sc.SCHEDULED
    assert items["a"].publish_at == stamp(60)
    assert items["a"].created_by == "op1"
    assert items["a"].created_at == stamp(1)
    assert items["b"].status == sc.DRAFT
    assert items["b"].publish_at is None
    assert set(items["a"].to_json()) >= {
        "id", "incident", "body", "next_update_at", "publish_at", "status", "created_by",
        "created_at", "published_seq", "update_id", "error",
    }  # fmt: skip


def test_fold_edit_turns_scheduled_into_draft_and_back() -> None:
    items = sc.fold([created(1, "a")])
    sc.apply(items, ev(2, sc.ScheduleEvent.EDITED, {"id": "a", "changes": {"publish_at": None}}))
    assert items["a"].status == sc.DRAFT
    sc.apply(items, ev(3, sc.ScheduleEvent.EDITED, {"id": "a", "changes": {"publish_at": stamp(90)}}))
    assert items["a"].status == sc.SCHEDULED
    assert items["a"].publish_at == stamp(90)
    assert items["a"].updated_at == stamp(3)


def test_fold_published_and_failed_and_final_states_stay_final() -> None:
    items = sc.fold([created(1, "a"), created(2, "b"), created(3, "c")])
    sc.apply(items, ev(4, sc.ScheduleEvent.PUBLISHED, {"id": "a", "seq": 7, "update_id": "u1"}))
    sc.apply(items, ev(5, sc.ScheduleEvent.FAILED, {"id": "b", "error": "resolved"}))
    sc.apply(items, ev(6, sc.ScheduleEvent.CANCELLED, {"id": "c"}))
    assert (items["a"].status, items["a"].published_seq, items["a"].update_id) == (sc.PUBLISHED, 7, "u1")
    assert (items["b"].status, items["b"].error) == (sc.FAILED, "resolved")
    assert items["c"].status == sc.CANCELLED
    # Nothing changes a finished item any more ...
    sc.apply(items, ev(7, sc.ScheduleEvent.EDITED, {"id": "a", "changes": {"body": "改"}}))
    sc.apply(items, ev(8, sc.ScheduleEvent.CANCELLED, {"id": "a"}))
    sc.apply(items, ev(9, sc.ScheduleEvent.EDITED, {"id": "c", "changes": {"publish_at": None}}))
    sc.apply(items, ev(10, sc.ScheduleEvent.FAILED, {"id": "c", "error": "x"}))
    assert items["a"].status == sc.PUBLISHED and items["a"].body == "停水通知"
    assert items["c"].status == sc.CANCELLED
    # ... except the fact that an update went out, and a second created is ignored.
    sc.apply(items, ev(11, sc.ScheduleEvent.PUBLISHED, {"id": "c", "seq": 9, "update_id": "u2"}))
    sc.apply(items, created(12, "a", body="重复"))
    assert items["c"].status == sc.PUBLISHED
    assert items["a"].body == "停水通知"
    sc.apply(items, ev(13, sc.ScheduleEvent.CANCELLED, {"id": "nope"}))  # unknown: ignored
    assert "nope" not in items


@pytest.mark.parametrize(
    ("body", "publish_at", "next_update_at", "match"),
    [
        ("", stamp(60), None, "blank"),
        ("   \n", stamp(60), None, "blank"),
        ("长" * 20_001, stamp(60), None, "20000"),
        ("停水", stamp(0), None, "future"),
        ("停水", stamp(-5), None, "future"),
        ("停水", "tomorrow", None, "publish_at"),
        ("停水", "2026-11-22T08:00:00", None, "offset"),
        ("停水", stamp(60), stamp(30), "after publish_at"),
        ("停水", stamp(60), stamp(-30), "future"),
        ("停水", None, "soon", "next_update_at"),
    ],
)
def test_create_rejects_bad_fields(body: str, publish_at: str | None, next_update_at: str | None,
                                   match: str) -> None:  # fmt: skip
    with pytest.raises(ValueError, match=match):
        sc.decide_create("a", "inc1", body, next_update_at, publish_at, "op1", NOW)


def test_create_normalises_times_and_accepts_the_longest_body() -> None:
    _, data = sc.decide_create(
        "a", "inc1", "长" * 20_000, "2026-11-22T16:00:00+08:00", "2026-11-22T15:30:00+08:00", "op1", NOW
    )
    assert data["publish_at"] == "2026-11-22T07:30:00.000Z"
    assert data["next_update_at"] == "2026-11-22T08:00:00.000Z"


def test_edit_rules() -> None:
    items = sc.fold([created(1, "a", next_update_at=stamp(120))])
    item = items["a"]
    assert sc.decide_edit(item, {}, NOW) is None
    assert sc.decide_edit(item, {"body": "停水通知"}, NOW) is None  # nothing changed
    assert sc.decide_edit(item, {"body": "新", "publish_at": stamp(90)}, NOW) == (
        sc.ScheduleEvent.EDITED, {"id": "a", "changes": {"body": "新", "publish_at": stamp(90)}},
    )  # fmt: skip
    assert sc.decide_edit(item, {"publish_at": None}, NOW) == (
        sc.ScheduleEvent.EDITED, {"id": "a", "changes": {"publish_at": None}},
    )  # fmt: skip
    with pytest.raises(ValueError, match="future"):
        sc.decide_edit(item, {"publish_at": stamp(-1)}, NOW)
    with pytest.raises(ValueError, match="after publish_at"):  # the kept promise must follow
        sc.decide_edit(item, {"publish_at": stamp(150)}, NOW)
    with pytest.raises(ValueError, match="blank"):
        sc.decide_edit(item, {"body": " "}, NOW)
    with pytest.raises(ValueError, match="cannot be edited"):
        sc.decide_edit(item, {"incident": "other"}, NOW)
    sc.apply(items, ev(2, sc.ScheduleEvent.CANCELLED, {"id": "a"}))
    with pytest.raises(RuleViolation, match="cancelled"):
        sc.decide_edit(item, {"body": "新"}, NOW)
    with pytest.raises(RuleViolation):
        sc.decide_cancel(item)
    with pytest.raises(RuleViolation):
        sc.check_publishable(item)


def test_listing_and_due() -> None:
    items = sc.fold([
        created(1, "late", publish_in=120), created(2, "draft", publish_in=None),
        created(3, "soon", publish_in=30), created(4, "done"), created(5, "gone"),
        created(6, "other"),
    ])  # fmt: skip
    items["other"].incident = "inc2"
    sc.apply(items, ev(7, sc.ScheduleEvent.PUBLISHED, {"id": "done", "seq": 3, "update_id": "u"}))
    sc.apply(items, ev(8, sc.ScheduleEvent.CANCELLED, {"id": "gone"}))
    assert [i.id for i in sc.listing(items.values(), "inc1")] == ["soon", "late", "draft", "gone", "done"]
    assert len(sc.listing(items.values())) == 6
    assert [i.id for i in sc.due(items.values(), NOW + timedelta(seconds=30))] == ["soon"]
    assert [i.id for i in sc.due(items.values(), NOW + timedelta(hours=1))] == ["soon", "other", "late"]
    assert sc.due(items.values(), NOW) == []


def test_same_request_compares_normalised_times() -> None:
    _, data = sc.decide_create("a", "inc1", "停水", None, "2026-11-22T15:30:00+08:00", "op1", NOW)
    assert sc.same_request(data, "inc1", "停水", None, "2026-11-22T07:30:00Z")
    assert not sc.same_request(data, "inc1", "停水", None, "2026-11-22T07:31:00Z")
    assert not sc.same_request(data, "inc1", "停电", None, "2026-11-22T07:30:00Z")
    assert not sc.same_request(data, "inc2", "停水", None, "2026-11-22T07:30:00Z")
    assert not sc.same_request(data, "inc1", "停水", None, "garbage")


# --- end to end: helpers ---------------------------------------------------------------


def later(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


def unique(text: str) -> str:
    return f"{text} #{uuid.uuid4().hex[:8]}"


def assert_error(answer: httpx.Response, status: int) -> str:
    assert answer.status_code == status, (answer.status_code, answer.text)
    detail = answer.json()["detail"]
    assert detail, answer.text
    return str(detail)


async def schedule(api: Api, incident: str, body: str, seconds: float, key: str | None = None,
                   **fields: Any) -> dict[str, Any]:  # fmt: skip
    answer = await api.post(incident, body, key=key, publish_at=later(seconds), **fields)
    assert answer.status_code == 202, answer.text
    item: dict[str, Any] = answer.json()["scheduled"]
    assert item["status"] == "scheduled"
    return item


async def posted(api: Api, incident: str) -> list[dict[str, Any]]:
    return [e for e in await api.events(incident) if e["type"] == "update.posted"]


async def listed(api: Api, incident: str | None = None) -> list[dict[str, Any]]:
    path = "/api/scheduled" if incident is None else f"/api/incidents/{incident}/scheduled"
    answer = await api.http.get(path)
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["scheduled"]
    return items


async def item_of(api: Api, sid: str) -> dict[str, Any]:
    answer = await api.http.get(f"/api/scheduled/{sid}")
    assert answer.status_code == 200, answer.text
    item: dict[str, Any] = answer.json()["scheduled"]
    return item


async def eventually(check: Callable[[], Awaitable[Any]], within: float, what: str) -> Any:
    deadline = time.monotonic() + scaled(within)
    while True:
        value = await check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def until_published(api: Api, sid: str, within: float = 10) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        item = await item_of(api, sid)
        return item if item["status"] == "published" else None

    found: dict[str, Any] = await eventually(check, within, f"{sid} to be published")
    return found


# --- end to end on the session's SQLite server ---------------------------------------------


async def test_scheduled_update_is_published_once_at_its_time(api: Api) -> None:
    incident = await api.create()
    body = unique("预计18时恢复供水")
    item = await schedule(api, incident, body, 2, next_update_at=later(3600))
    assert item["incident"] == incident and item["body"] == body
    assert item["published_seq"] is None and item["created_by"]
    assert [i["id"] for i in await listed(api, incident)] == [item["id"]]
    assert item["id"] in [i["id"] for i in await listed(api)]
    assert await posted(api, incident) == []

    events = await eventually(lambda: posted(api, incident), 10, "the scheduled update")
    assert [e["data"]["body"] for e in events] == [body]
    late = (parse_time(events[0]["at"]) - parse_time(item["publish_at"])).total_seconds()
    assert -0.05 <= late <= scaled(1.5), late
    assert events[0]["data"]["next_update_at"] == item["next_update_at"]

    done = await until_published(api, item["id"])
    assert done["published_seq"] == events[0]["seq"]
    assert done["update_id"] == events[0]["data"]["id"]
    await asyncio.sleep(scaled(1.5))
    assert len(await posted(api, incident)) == 1  # once
    snapshot = (await api.http.get(f"/api/incidents/{incident}")).json()
    assert [u["body"] for u in snapshot["updates"]] == [body]


async def test_edit_before_due_moves_it_and_changes_the_text(api: Api) -> None:
    incident = await api.create()
    item = await schedule(api, incident, unique("原文"), 1.5)
    new_body = unique("改后的通知")
    answer = await api.http.patch(
        f"/api/scheduled/{item['id']}", json={"body": new_body, "publish_at": later(3.5)}
    )
    assert answer.status_code == 200, answer.text
    moved = answer.json()["scheduled"]
    assert moved["body"] == new_body and moved["publish_at"] > item["publish_at"]
    await asyncio.sleep(2.5)
    assert await posted(api, incident) == []  # not at the old time
    events = await eventually(lambda: posted(api, incident), 10, "the moved update")
    assert [e["data"]["body"] for e in events] == [new_body]
    assert parse_time(events[0]["at"]) >= parse_time(moved["publish_at"])


async def test_scheduled_back_to_draft_is_not_published(api: Api) -> None:
    incident = await api.create()
    item = await schedule(api, incident, unique("暂缓发布"), 1.5)
    answer = await api.http.patch(f"/api/scheduled/{item['id']}", json={"publish_at": None})
    assert answer.status_code == 200, answer.text
    assert answer.json()["scheduled"]["status"] == "draft"
    await asyncio.sleep(2.5)
    assert await posted(api, incident) == []
    assert (await item_of(api, item["id"]))["status"] == "draft"


async def test_cancelled_is_never_published(api: Api) -> None:
    incident = await api.create()
    item = await schedule(api, incident, unique("取消的通知"), 1.5)
    answer = await api.http.delete(f"/api/scheduled/{item['id']}")
    assert answer.status_code == 200, answer.text
    assert answer.json()["scheduled"]["status"] == "cancelled"
    await asyncio.sleep(2.5)
    assert await posted(api, incident) == []
    assert [i["status"] for i in await listed(api, incident)] == ["cancelled"]
    # Not editable any more.
    assert "cancelled" in assert_error(
        await api.http.patch(f"/api/scheduled/{item['id']}", json={"body": "再改"}), 409
    )
    assert_error(await api.http.delete(f"/api/scheduled/{item['id']}"), 409)
    assert_error(await api.http.post(f"/api/scheduled/{item['id']}/publish"), 409)


async def test_draft_then_publish_now(api: Api) -> None:
    incident = await api.create()
    body = unique("草稿")
    answer = await api.http.post(f"/api/incidents/{incident}/drafts", json={"body": body})
    assert answer.status_code == 201, answer.text
    draft = answer.json()["scheduled"]
    assert draft["status"] == "draft" and draft["publish_at"] is None
    assert (await listed(api, incident))[0]["id"] == draft["id"]
    await asyncio.sleep(1.2)
    assert await posted(api, incident) == []  # a draft waits

    answer = await api.http.post(f"/api/scheduled/{draft['id']}/publish")
    assert answer.status_code == 201, answer.text
    result = answer.json()
    assert result["update"]["body"] == body
    assert result["scheduled"]["status"] == "published"
    assert result["scheduled"]["published_seq"] == result["seq"]
    events = await posted(api, incident)
    assert [(e["seq"], e["data"]["id"]) for e in events] == [(result["seq"], result["update"]["id"])]
    assert "published" in assert_error(await api.http.post(f"/api/scheduled/{draft['id']}/publish"), 409)
    assert_error(await api.http.patch(f"/api/scheduled/{draft['id']}", json={"body": "改"}), 409)


def small_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (320, 240), (random.randrange(256), 90, 160)).save(buffer, "JPEG")
    return buffer.getvalue()


async def test_scheduled_and_draft_updates_carry_photos_and_translations(api: Api) -> None:
    """有图有真相: the photo and the English text go out with the scheduled update, as with a post."""
    incident = await api.create()
    upload = await api.http.post("/api/photos", files={"file": ("现场.jpg", small_jpeg(), "image/jpeg")})
    assert upload.status_code == 201, upload.text
    photo = upload.json()["photo"]
    body, english = unique("抢修现场照片"), "Repair crews on site (photo)"
    item = await schedule(api, incident, body, 1.5, photos=[photo["id"]], translations={"en": english})
    assert item["photos"] == [photo] and item["translations"] == {"en": english}

    events = await eventually(lambda: posted(api, incident), 10, "the scheduled update")
    data = events[0]["data"]
    assert data["body"] == body and data["photos"] == [photo]
    assert data["translations"]["en"]["body"] == english
    assert data["translations"]["en"]["html"] == f"<p>{english}</p>"
    page = await api.http.get(f"/incidents/{incident}", params={"lang": "en"})
    assert photo["thumb_url"] in page.text and english in page.text

    # A draft keeps them too; an edit replaces the translations; publishing sends what is there.
    answer = await api.http.post(
        f"/api/incidents/{incident}/drafts",
        json={"body": unique("草稿"), "photos": [photo["id"]], "translations": {"en": "draft"}},
    )
    assert answer.status_code == 201, answer.text
    draft = answer.json()["scheduled"]
    edited = await api.http.patch(
        f"/api/scheduled/{draft['id']}", json={"translations": {"en": "Final text"}}
    )
    assert edited.status_code == 200 and edited.json()["scheduled"]["translations"] == {"en": "Final text"}
    done = await api.http.post(f"/api/scheduled/{draft['id']}/publish")
    assert done.status_code == 201, done.text
    last = (await posted(api, incident))[-1]["data"]
    assert last["photos"] == [photo] and last["translations"]["en"]["body"] == "Final text"

    # Refused as a post would be, and nothing is created.
    before = len(await listed(api, incident))
    assert "own language" in assert_error(await schedule_raw(api, incident, translations={"zh": "中文"}), 422)
    assert "photos" in assert_error(await schedule_raw(api, incident, photos=["0" * 24]), 422)
    assert "blank" in assert_error(await schedule_raw(api, incident, translations={"en": " "}), 422)
    assert len(await listed(api, incident)) == before
    # A retry with the same key must ask for the same photos and translations.
    key = f"k-{uuid.uuid4().hex}"
    first = await schedule_raw(api, incident, key=key, photos=[photo["id"]])
    assert first.status_code == 202
    assert_error(await schedule_raw(api, incident, key=key), 422)


async def schedule_raw(api: Api, incident: str, key: str | None = None, **fields: Any) -> httpx.Response:
    return await api.post(incident, "计划中的更新", key=key, publish_at=later(600), **fields)


async def test_publish_now_a_scheduled_item_publishes_it_once(api: Api) -> None:
    incident = await api.create()
    item = await schedule(api, incident, unique("提前发布"), 1.5)
    answer = await api.http.post(f"/api/scheduled/{item['id']}/publish")
    assert answer.status_code == 201, answer.text
    await asyncio.sleep(2.5)
    assert len(await posted(api, incident)) == 1


async def test_listing_puts_pending_first(api: Api) -> None:
    incident = await api.create()
    first = await schedule(api, incident, unique("稍后"), 600)
    soon = await schedule(api, incident, unique("较早"), 300)
    answer = await api.http.post(f"/api/incidents/{incident}/drafts", json={"body": unique("草稿")})
    draft = answer.json()["scheduled"]
    gone = await schedule(api, incident, unique("取消"), 900)
    assert (await api.http.delete(f"/api/scheduled/{gone['id']}")).status_code == 200
    expected = [soon["id"], first["id"], draft["id"], gone["id"]]
    assert [i["id"] for i in await listed(api, incident)] == expected


async def test_repeated_idempotency_key_gives_the_same_item(api: Api) -> None:
    incident = await api.create()
    body, key, when = unique("重复提交"), f"k-{uuid.uuid4().hex}", later(600)
    answers = [await api.post(incident, body, key=key, publish_at=when) for _ in range(3)]
    assert [a.status_code for a in answers] == [202, 202, 202]
    assert len({a.json()["scheduled"]["id"] for a in answers}) == 1
    assert "Idempotent-Replayed" not in answers[0].headers
    assert answers[1].headers["Idempotent-Replayed"] == "true"
    racing = await asyncio.gather(*(api.post(incident, body, key=key, publish_at=when) for _ in range(8)))
    assert {a.json()["scheduled"]["id"] for a in racing} == {answers[0].json()["scheduled"]["id"]}
    assert len(await listed(api, incident)) == 1
    # The same key for a different request: 422, nothing created.
    assert_error(await api.post(incident, body + "!", key=key, publish_at=when), 422)
    assert len(await listed(api, incident)) == 1
    # A key that scheduled an update cannot post one now (it would go out twice).
    assert_error(await api.post(incident, body, key=key), 422)
    assert await posted(api, incident) == []
    # A key already used to post an update now cannot schedule one.
    used = f"k-{uuid.uuid4().hex}"
    assert (await api.post(incident, unique("立即"), key=used)).status_code == 201
    assert_error(await api.post(incident, unique("计划"), key=used, publish_at=when), 422)
    assert len(await listed(api, incident)) == 1


async def test_bad_requests(api: Api, sqlite_server: ServerProcess) -> None:
    incident = await api.create()
    for publish_at in (later(-5), "not a time", "2030-01-01T08:00:00", ""):
        assert_error(await api.post(incident, "停水", publish_at=publish_at), 422)
    assert_error(await api.post(incident, "停水", publish_at=later(60), next_update_at=later(30)), 422)
    assert_error(await api.post(incident, "   ", publish_at=later(60)), 422)
    assert_error(await api.post(incident, "长" * 20_001, publish_at=later(60)), 422)
    assert_error(await api.post("nosuchincident", "停水", publish_at=later(60)), 404)
    assert_error(await api.http.post(f"/api/incidents/{incident}/drafts", json={"body": ""}), 422)
    assert_error(await api.http.post("/api/incidents/nosuchincident/drafts", json={"body": "x"}), 404)
    assert_error(await api.http.get("/api/incidents/nosuchincident/scheduled"), 404)
    for method in ("GET", "PATCH", "DELETE"):
        assert_error(await api.http.request(method, "/api/scheduled/nosuchitem", json={}), 404)
    assert_error(await api.http.post("/api/scheduled/nosuchitem/publish"), 404)

    item = await schedule(api, incident, unique("待改"), 600)
    path = f"/api/scheduled/{item['id']}"
    assert_error(await api.http.patch(path, json={"publish_at": later(-1)}), 422)
    assert_error(await api.http.patch(path, json={"publish_at": "2030-13-01T00:00:00Z"}), 422)
    assert_error(await api.http.patch(path, json={"body": None}), 422)
    assert_error(await api.http.patch(path, json={"body": ""}), 422)
    assert_error(await api.http.patch(path, json={"incident": "x"}), 422)
    assert_error(await api.http.patch(path, json={"next_update_at": later(60)}), 422)  # before publish_at
    assert (await item_of(api, item["id"]))["body"] == item["body"]  # unchanged

    async with httpx.AsyncClient(base_url=sqlite_server.url, timeout=scaled(20)) as anon:
        assert_error(await anon.get("/api/scheduled"), 401)
        assert_error(await anon.post(f"/api/incidents/{incident}/updates",
                                     json={"body": "x", "publish_at": later(60)}), 401)  # fmt: skip
        assert_error(await anon.delete(path), 401)
    assert len(await listed(api, incident)) == 1

    # A resolved incident: scheduling is refused, and what was scheduled before fails.
    pending = await schedule(api, incident, unique("解除后"), 1.5)
    assert (await api.http.post(f"/api/incidents/{incident}/resolve", json={})).status_code == 200
    assert_error(await api.post(incident, "停水", publish_at=later(60)), 409)
    assert_error(await api.http.post(f"/api/incidents/{incident}/drafts", json={"body": "x"}), 409)

    async def failed() -> dict[str, Any] | None:
        found = await item_of(api, pending["id"])
        return found if found["status"] == "failed" else None

    assert "resolved" in (await eventually(failed, 10, "the failure"))["error"]
    assert_error(await api.http.post(f"{path}/publish"), 409)  # resolved incident
    assert await posted(api, incident) == []


# --- restarts -----------------------------------------------------------------------------


async def test_overdue_item_is_published_once_after_a_restart(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/restart.db"
    token = add_operator(url, "restart")
    server = ServerProcess(url).start()
    try:
        api = Api(server.url, token)
        incident = await api.create()
        body = unique("重启后发布")
        item = await schedule(api, incident, body, 2.5)
        await api.aclose()
        server.stop()
        due_in = (parse_time(item["publish_at"]) - datetime.now(UTC)).total_seconds()
        await asyncio.sleep(max(0.0, due_in) + 1)  # down past the due time
        server.restart()
        api = Api(server.url, token)
        events = await eventually(lambda: posted(api, incident), 10, "the overdue update")
        assert [e["data"]["body"] for e in events] == [body]
        assert (await until_published(api, item["id"]))["published_seq"] == events[0]["seq"]
        server.stop()  # and once more: nothing is published twice
        server.restart()
        await asyncio.sleep(scaled(1.5))
        assert len(await posted(api, incident)) == 1
        await api.aclose()
    finally:
        server.stop()


# --- two processes sharing Redis -----------------------------------------------------------


@pytest.fixture
def redis_pair(redis_server: RedisServer) -> Iterator[tuple[ServerProcess, ServerProcess, str]]:
    token = add_operator(redis_server.url, "sched-" + str(random.randrange(10**6)))
    with ServerProcess(redis_server.url) as one, ServerProcess(redis_server.url) as two:
        yield one, two, token


async def test_two_processes_publish_each_item_exactly_once(
    redis_pair: tuple[ServerProcess, ServerProcess, str],
) -> None:
    one, two, token = redis_pair
    apis = [Api(one.url, token), Api(two.url, token)]
    try:
        incident = await apis[0].create()
        when = later(3)
        bodies = [unique(f"同时发布{n}") for n in range(8)]
        answers = await asyncio.gather(
            *(apis[n % 2].post(incident, body, publish_at=when) for n, body in enumerate(bodies))
        )
        assert [a.status_code for a in answers] == [202] * 8, [a.text for a in answers]
        items = [a.json()["scheduled"] for a in answers]
        assert (await apis[0].http.delete(f"/api/scheduled/{items[3]['id']}")).status_code == 200
        # Both processes list all of them.
        for api in apis:
            assert {i["id"] for i in await listed(api, incident)} == {i["id"] for i in items}

        async def all_published() -> bool:
            statuses = [i["status"] for i in await listed(apis[1], incident)]
            return statuses.count("published") == 7

        await eventually(all_published, 15, "seven publications")
        await asyncio.sleep(scaled(1.5))  # give a duplicate every chance to appear
        events = await posted(apis[1], incident)
        counts = {body: sum(e["data"]["body"] == body for e in events) for body in bodies}
        assert counts == {body: 0 if n == 3 else 1 for n, body in enumerate(bodies)}
        for event in events:
            late = (parse_time(event["at"]) - parse_time(items[0]["publish_at"])).total_seconds()
            assert -0.05 <= late <= scaled(2), late
        final = {i["id"]: i for i in await listed(apis[0], incident)}
        assert final[items[3]["id"]]["status"] == "cancelled"
        assert sorted(i["published_seq"] for i in final.values() if i["status"] == "published") == sorted(
            e["seq"] for e in events
        )
    finally:
        for api in apis:
            await api.aclose()


async def test_publish_now_racing_the_scheduler_across_processes_posts_once(
    redis_pair: tuple[ServerProcess, ServerProcess, str],
) -> None:
    one, two, token = redis_pair
    apis = [Api(one.url, token), Api(two.url, token)]
    try:
        incident = await apis[0].create()
        item = await schedule(apis[0], incident, unique("抢先发布"), 1.5)
        due_in = (parse_time(item["publish_at"]) - datetime.now(UTC)).total_seconds()
        await asyncio.sleep(max(0.0, due_in - 0.02))
        path = f"/api/scheduled/{item['id']}/publish"
        answers = await asyncio.gather(*(apis[n % 2].http.post(path) for n in range(6)))
        assert {a.status_code for a in answers} <= {201, 409}, [a.text for a in answers]
        assert sum(a.status_code == 201 for a in answers) <= 1
        await until_published(apis[1], item["id"])
        await asyncio.sleep(scaled(1.5))
        assert len(await posted(apis[0], incident)) == 1
    finally:
        for api in apis:
            await api.aclose()
