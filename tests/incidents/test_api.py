"""The JSON API of CONTRACT.md against a real ``incidents serve`` on SQLite.

Every refused request must answer the exact status with a JSON ``detail`` and change nothing.
The server is shared by the session: each test works on incidents of its own.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from tests.support.client import Api
from tests.support.server import ServerProcess, scaled

TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
MIB = 1024 * 1024


@pytest.fixture
async def anon(sqlite_server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sqlite_server.url, timeout=scaled(20)) as client:
        yield client


def assert_error(answer: httpx.Response, status: int) -> Any:
    assert answer.status_code == status, (answer.status_code, answer.text)
    assert answer.headers["content-type"].startswith("application/json"), answer.headers
    detail = answer.json()
    assert isinstance(detail, dict)
    assert "detail" in detail, detail
    assert detail["detail"], detail
    return detail["detail"]


async def snapshot(api: Api, incident: str) -> dict[str, Any]:
    answer = await api.http.get(f"/api/incidents/{incident}")
    assert answer.status_code == 200, answer.text
    value: dict[str, Any] = answer.json()
    return value


async def seq_of(api: Api, incident: str) -> int:
    return int((await snapshot(api, incident))["seq"])


async def incident_ids(api: Api) -> list[str]:
    answer = await api.http.get("/api/incidents")
    assert answer.status_code == 200, answer.text
    return [inc["id"] for inc in answer.json()["incidents"]]


async def post_update(api: Api, incident: str, body: str = "工作人员已到场", **fields: Any) -> dict[str, Any]:
    answer = await api.post(incident, body, **fields)
    assert answer.status_code == 201, answer.text
    update: dict[str, Any] = answer.json()["update"]
    return update


def future(hours: float = 2) -> datetime:
    return datetime.now(UTC) + timedelta(hours=hours)


def key() -> str:
    return f"k-{uuid.uuid4().hex}"


# --- 401 -----------------------------------------------------------------------------

# (method, path, JSON body, what to do first so that the call would succeed with a token)
WRITES = [
    ("POST", "/api/incidents", {"title": "未授权"}, None),
    ("POST", "/api/incidents/{iid}/updates", {"body": "未授权"}, None),
    ("PATCH", "/api/incidents/{iid}/updates/{uid}", {"body": "改", "reason": "r"}, None),
    ("DELETE", "/api/incidents/{iid}/updates/{uid}", {"reason": "r"}, None),
    ("PUT", "/api/incidents/{iid}/facts", {"facts": [{"label": "停水区域", "value": "文化路"}]}, None),
    ("POST", "/api/incidents/{iid}/resolve", {"reason": "r"}, None),
    ("POST", "/api/incidents/{iid}/reopen", {"reason": "r"}, "resolve"),
    ("POST", "/api/incidents/{iid}/updates/{uid}/pin", None, None),
    ("POST", "/api/incidents/{iid}/updates/{uid}/unpin", None, "pin"),
    ("PATCH", "/api/incidents/{iid}", {"title": "新标题"}, None),
]


def bad_authorizations(valid: str) -> list[dict[str, str]]:
    operator_id, token_id, _ = valid.split(".")
    return [
        {},
        {"Authorization": ""},
        {"Authorization": f"Basic {valid}"},
        {"Authorization": f"Token {valid}"},
        {"Authorization": valid},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": "Bearer a.b"},
        {"Authorization": "Bearer a..c"},
        {"Authorization": f"Bearer {valid}.extra"},
        {"Authorization": "Bearer deadbeef.cafebabe.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
        {"Authorization": f"Bearer {operator_id}.{token_id}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
        {"Authorization": f"Bearer {operator_id}.ffffffff.{valid.split('.')[2]}"},
        {"Authorization": f"Bearer {valid[:-1]}"},
    ]


@pytest.mark.parametrize(
    ("method", "path", "body", "setup"), WRITES, ids=[f"{m} {p}" for m, p, _, _ in WRITES]
)
async def test_writes_need_a_valid_token(
    api: Api,
    anon: httpx.AsyncClient,
    sqlite_token: str,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    setup: str | None,
) -> None:
    iid = await api.create()
    uid = (await post_update(api, iid))["id"]
    if setup == "resolve":
        assert (await api.http.post(f"/api/incidents/{iid}/resolve")).status_code == 200
    elif setup == "pin":
        assert (await api.http.post(f"/api/incidents/{iid}/updates/{uid}/pin")).status_code == 200
    url = path.format(iid=iid, uid=uid)
    before = await snapshot(api, iid)
    incidents_before = await incident_ids(api)

    for headers in bad_authorizations(sqlite_token):
        answer = await anon.request(method, url, json=body, headers=headers)
        assert_error(answer, 401)
        assert answer.headers.get("www-authenticate", "").lower().startswith("bearer"), headers

    assert await snapshot(api, iid) == before
    assert await incident_ids(api) == incidents_before
    # Control: the very same request with the operator's token goes through.
    answer = await anon.request(method, url, json=body, headers={"Authorization": f"Bearer {sqlite_token}"})
    assert answer.status_code in (200, 201), answer.text


async def test_reads_need_no_token(api: Api, anon: httpx.AsyncClient) -> None:
    iid = await api.create()
    await post_update(api, iid)
    answer = await anon.get(f"/api/incidents/{iid}")
    assert answer.status_code == 200
    assert answer.json()["seq"] == 2
    answer = await anon.get("/api/incidents")
    assert answer.status_code == 200
    assert iid in [inc["id"] for inc in answer.json()["incidents"]]
    answer = await anon.get(f"/api/incidents/{iid}/events")
    assert answer.status_code == 200
    assert [e["seq"] for e in answer.json()["events"]] == [1, 2]
    assert (await anon.get(f"/incidents/{iid}")).status_code == 200


# --- 404 -----------------------------------------------------------------------------

UNKNOWN_INCIDENT = [
    ("GET", "/api/incidents/{iid}", None),
    ("GET", "/api/incidents/{iid}/events", None),
    ("GET", "/api/incidents/{iid}/events?since=0&limit=5", None),
    ("POST", "/api/incidents/{iid}/updates", {"body": "无此事件"}),
    ("PATCH", "/api/incidents/{iid}/updates/abcd1234", {"body": "改", "reason": "r"}),
    ("DELETE", "/api/incidents/{iid}/updates/abcd1234", {"reason": "r"}),
    ("POST", "/api/incidents/{iid}/updates/abcd1234/pin", None),
    ("POST", "/api/incidents/{iid}/updates/abcd1234/unpin", None),
    ("PUT", "/api/incidents/{iid}/facts", {"facts": [{"label": "a", "value": "b"}]}),
    ("POST", "/api/incidents/{iid}/resolve", {"reason": "r"}),
    ("POST", "/api/incidents/{iid}/reopen", {"reason": "r"}),
    ("PATCH", "/api/incidents/{iid}", {"title": "新标题"}),
]


@pytest.mark.parametrize(
    ("method", "path", "body"), UNKNOWN_INCIDENT, ids=[f"{m} {p}" for m, p, _ in UNKNOWN_INCIDENT]
)
async def test_unknown_incident_is_404(api: Api, method: str, path: str, body: dict[str, Any] | None) -> None:
    iid = f"nosuch{uuid.uuid4().hex[:8]}"
    answer = await api.http.request(method, path.format(iid=iid), json=body)
    assert_error(answer, 404)
    # Nothing was created on the way.
    assert_error(await api.http.get(f"/api/incidents/{iid}"), 404)
    assert iid not in await incident_ids(api)


async def test_unknown_incident_page_is_404(anon: httpx.AsyncClient) -> None:
    assert (await anon.get(f"/incidents/nosuch{uuid.uuid4().hex[:8]}")).status_code == 404


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("PATCH", "", {"body": "改", "reason": "r"}),
        ("DELETE", "", {"reason": "r"}),
        ("POST", "/pin", None),
        ("POST", "/unpin", None),
    ],
)
async def test_unknown_update_is_404(api: Api, method: str, suffix: str, body: dict[str, Any] | None) -> None:
    iid = await api.create()
    await post_update(api, iid)
    before = await snapshot(api, iid)
    answer = await api.http.request(method, f"/api/incidents/{iid}/updates/ffff0000{suffix}", json=body)
    assert_error(answer, 404)
    assert await snapshot(api, iid) == before


# --- 409 -----------------------------------------------------------------------------


async def test_posting_to_a_resolved_incident_is_409(api: Api) -> None:
    iid = await api.create()
    assert (
        await api.http.post(f"/api/incidents/{iid}/resolve", json={"reason": "已修复"})
    ).status_code == 200
    before = await snapshot(api, iid)
    assert_error(await api.post(iid, "迟到的更新"), 409)
    assert_error(await api.post(iid, "迟到的更新", key=key()), 409)
    assert await snapshot(api, iid) == before
    assert before["updates"] == []


async def test_correcting_a_retracted_update_is_409(api: Api) -> None:
    iid = await api.create()
    uid = (await post_update(api, iid, "原文"))["id"]
    answer = await api.http.request("DELETE", f"/api/incidents/{iid}/updates/{uid}", json={"reason": "不实"})
    assert answer.status_code == 200
    before = await snapshot(api, iid)
    answer = await api.http.patch(f"/api/incidents/{iid}/updates/{uid}", json={"body": "新文", "reason": "r"})
    assert_error(answer, 409)
    after = await snapshot(api, iid)
    assert after == before
    assert after["updates"][0]["body"] == "原文"
    assert after["updates"][0]["status"] == "retracted"


async def test_retracting_twice_is_409(api: Api) -> None:
    iid = await api.create()
    uid = (await post_update(api, iid))["id"]
    url = f"/api/incidents/{iid}/updates/{uid}"
    assert (await api.http.request("DELETE", url, json={"reason": "一"})).status_code == 200
    before = await snapshot(api, iid)
    assert_error(await api.http.request("DELETE", url, json={"reason": "二"}), 409)
    after = await snapshot(api, iid)
    assert after == before
    assert after["updates"][0]["retraction_reason"] == "一"


async def test_resolving_twice_is_409(api: Api) -> None:
    iid = await api.create()
    assert (await api.http.post(f"/api/incidents/{iid}/resolve", json={"reason": "一"})).status_code == 200
    before = await snapshot(api, iid)
    assert_error(await api.http.post(f"/api/incidents/{iid}/resolve", json={"reason": "二"}), 409)
    assert_error(await api.http.post(f"/api/incidents/{iid}/resolve"), 409)
    after = await snapshot(api, iid)
    assert after == before
    assert after["incident"]["resolution"] == "一"


async def test_reopening_a_live_incident_is_409(api: Api) -> None:
    iid = await api.create()
    before = await snapshot(api, iid)
    assert_error(await api.http.post(f"/api/incidents/{iid}/reopen", json={"reason": "r"}), 409)
    assert_error(await api.http.post(f"/api/incidents/{iid}/reopen"), 409)
    assert await snapshot(api, iid) == before


async def test_pin_and_unpin_conflicts_are_409(api: Api) -> None:
    iid = await api.create()
    uid = (await post_update(api, iid))["id"]
    before = await snapshot(api, iid)
    assert_error(await api.http.post(f"/api/incidents/{iid}/updates/{uid}/unpin"), 409)
    assert await snapshot(api, iid) == before
    assert (await api.http.post(f"/api/incidents/{iid}/updates/{uid}/pin")).status_code == 200
    pinned = await snapshot(api, iid)
    assert_error(await api.http.post(f"/api/incidents/{iid}/updates/{uid}/pin"), 409)
    assert await snapshot(api, iid) == pinned


async def test_edit_without_change_is_409(api: Api) -> None:
    iid = await api.create(title="原标题")
    before = await snapshot(api, iid)
    assert_error(await api.http.patch(f"/api/incidents/{iid}", json={"title": "原标题"}), 409)
    assert await snapshot(api, iid) == before


# --- 422 -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"summary": "没有标题"},
        {"title": ""},
        {"title": "   "},
        {"title": "\n\t"},
        {"title": None},
        {"title": 42},
        {"title": "水" * 201},
        {"title": "a" * 201},
        {"title": "标题", "unknown": 1},
        {"title": "标题", "id": "chosen"},
        {"title": "标题", "severity": "apocalyptic"},
        {"title": "标题", "severity": "EXTREME"},
        {"title": "标题", "category": "nonsense"},
        {"title": "标题", "lang": "中文"},
        {"title": "标题", "exercise": "maybe"},
    ],
)
async def test_bad_incident_is_422(api: Api, body: Any) -> None:
    before = await incident_ids(api)
    assert_error(await api.http.post("/api/incidents", json=body), 422)
    assert await incident_ids(api) == before


async def test_incident_title_of_200_characters_is_accepted(api: Api) -> None:
    answer = await api.http.post("/api/incidents", json={"title": "水" * 200})
    assert answer.status_code == 201, answer.text
    assert answer.json()["title"] == "水" * 200


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"body": ""},
        {"body": "   "},
        {"body": "\n\n"},
        {"body": None},
        {"body": 7},
        {"body": "a" * 20_001},
        {"body": "水" * 20_001},
        {"body": "ok", "extra": True},
        {"body": "ok", "id": "chosen"},
        {"body": "ok", "next_update_at": "2020-01-01T00:00:00Z"},
        {"body": "ok", "next_update_at": "2020-01-01T08:00:00+08:00"},
        {"body": "ok", "next_update_at": "not a time"},
        {"body": "ok", "next_update_at": "2099-01-01T00:00:00"},
        {"body": "ok", "next_update_at": "2099-13-01T00:00:00Z"},
        {"body": "ok", "next_update_at": "9999-12-31T23:59:59-14:00"},  # year 10000 in UTC
        {"body": "ok", "next_update_at": ""},
        {"body": "ok", "next_update_at": 1893456000},
    ],
)
async def test_bad_update_is_422(api: Api, body: Any) -> None:
    iid = await api.create()
    before = await snapshot(api, iid)
    answer = await api.http.post(f"/api/incidents/{iid}/updates", json=body)
    assert_error(answer, 422)
    answer = await api.http.post(
        f"/api/incidents/{iid}/updates", json=body, headers={"Idempotency-Key": key()}
    )
    assert_error(answer, 422)
    assert await snapshot(api, iid) == before


async def test_promise_just_past_is_422(api: Api) -> None:
    iid = await api.create()
    past = (datetime.now(UTC) - timedelta(seconds=5)).isoformat()
    assert_error(await api.post(iid, "ok", next_update_at=past), 422)
    assert await seq_of(api, iid) == 1


async def test_body_of_20000_characters_is_accepted(api: Api) -> None:
    iid = await api.create()
    body = "水" * 20_000
    answer = await api.post(iid, body)
    assert answer.status_code == 201, answer.text[:200]
    assert answer.json()["update"]["body"] == body
    assert answer.json()["seq"] == 2


async def test_malformed_json_is_422(api: Api) -> None:
    iid = await api.create()
    headers = {"Content-Type": "application/json"}
    for content in (b'{"body": "ok"', b"{body: ok}", b"\xff\xfe", b'["body"]', b'"ok"', b"null"):
        answer = await api.http.post(f"/api/incidents/{iid}/updates", content=content, headers=headers)
        assert_error(answer, 422)
    assert await seq_of(api, iid) == 1
    before = await incident_ids(api)
    answer = await api.http.post("/api/incidents", content=b'{"title": ', headers=headers)
    assert_error(answer, 422)
    assert await incident_ids(api) == before


@pytest.mark.parametrize(
    "query",
    ["since=-1", "since=abc", "since=1.5", "limit=0", "limit=-3", "limit=1001", "limit=x"],
)
async def test_bad_events_query_is_422(api: Api, anon: httpx.AsyncClient, query: str) -> None:
    iid = await api.create()
    assert_error(await anon.get(f"/api/incidents/{iid}/events?{query}"), 422)


@pytest.mark.parametrize("body", [None, {}, {"reason": ""}, {"reason": "  "}, {"reason": "r", "x": 1}])
async def test_retraction_needs_a_reason(api: Api, body: dict[str, Any] | None) -> None:
    iid = await api.create()
    uid = (await post_update(api, iid))["id"]
    before = await snapshot(api, iid)
    answer = await api.http.request("DELETE", f"/api/incidents/{iid}/updates/{uid}", json=body)
    assert_error(answer, 422)
    after = await snapshot(api, iid)
    assert after == before
    assert after["updates"][0]["status"] == "published"


@pytest.mark.parametrize(
    "body",
    [
        None,
        {},
        {"body": "新文"},
        {"body": "新文", "reason": ""},
        {"body": "新文", "reason": "   "},
        {"reason": "r"},
        {"body": "", "reason": "r"},
        {"body": "a" * 20_001, "reason": "r"},
        {"body": "新文", "reason": "r" * 1_001},
        {"body": "新文", "reason": "r", "extra": 1},
    ],
)
async def test_bad_correction_is_422(api: Api, body: dict[str, Any] | None) -> None:
    iid = await api.create()
    uid = (await post_update(api, iid, "原文"))["id"]
    before = await snapshot(api, iid)
    assert_error(await api.http.request("PATCH", f"/api/incidents/{iid}/updates/{uid}", json=body), 422)
    after = await snapshot(api, iid)
    assert after == before
    assert after["updates"][0]["body"] == "原文"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"facts": "停水"},
        {"facts": [{"label": "", "value": "x"}]},
        {"facts": [{"label": "  ", "value": "x"}]},
        {"facts": [{"value": "x"}]},
        {"facts": [{"label": "a", "value": "x", "extra": 1}]},
        {"facts": [{"label": "a", "value": "x"}] * 31},
    ],
)
async def test_bad_facts_are_422(api: Api, body: dict[str, Any]) -> None:
    iid = await api.create()
    before = await snapshot(api, iid)
    assert_error(await api.http.put(f"/api/incidents/{iid}/facts", json=body), 422)
    assert await snapshot(api, iid) == before


@pytest.mark.parametrize(
    "body",
    [
        {"exercise": True},
        {"title": ""},
        {"title": None},
        {"severity": "bad"},
        {"id": "x"},
        {"state": "resolved"},
    ],
)
async def test_bad_incident_edit_is_422(api: Api, body: dict[str, Any]) -> None:
    iid = await api.create()
    before = await snapshot(api, iid)
    assert_error(await api.http.patch(f"/api/incidents/{iid}", json=body), 422)
    assert await snapshot(api, iid) == before


async def test_idempotency_key_reused_for_another_body_is_422(api: Api) -> None:
    iid = await api.create()
    k = key()
    first = await api.post(iid, "第一条", key=k)
    assert first.status_code == 201
    before = await snapshot(api, iid)
    assert_error(await api.post(iid, "另一条", key=k), 422)
    # The same post retried with a promise computed again ("+30 min") is the same post.
    replay = await api.post(iid, "第一条", key=k, next_update_at=future().isoformat())
    assert replay.status_code == 201
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == first.json()
    after = await snapshot(api, iid)
    assert after == before
    assert [u["body"] for u in after["updates"]] == ["第一条"]


async def test_idempotency_key_reused_for_another_incident_body_is_422(api: Api) -> None:
    k = key()
    headers = {"Idempotency-Key": k}
    first = await api.http.post("/api/incidents", json={"title": "一"}, headers=headers)
    assert first.status_code == 201
    before = await incident_ids(api)
    assert_error(await api.http.post("/api/incidents", json={"title": "二"}, headers=headers), 422)
    assert await incident_ids(api) == before
    assert (await snapshot(api, first.json()["id"]))["incident"]["title"] == "一"


@pytest.mark.parametrize("value", ["", "k" * 201])
async def test_bad_idempotency_key_is_422(api: Api, value: str) -> None:
    iid = await api.create()
    answer = await api.http.post(
        f"/api/incidents/{iid}/updates", json={"body": "ok"}, headers={"Idempotency-Key": value}
    )
    assert_error(answer, 422)
    assert await seq_of(api, iid) == 1


# --- 413 -----------------------------------------------------------------------------


def oversized() -> bytes:
    """Valid JSON for a small update, padded with whitespace past 1 MiB: without the
    limit it would be posted."""
    return b'{"body": "padded"}' + b" " * (MIB + 16)


async def test_body_over_1_mib_with_content_length_is_413(api: Api) -> None:
    iid = await api.create()
    content = oversized()
    answer = await api.http.post(
        f"/api/incidents/{iid}/updates", content=content, headers={"Content-Type": "application/json"}
    )
    assert_error(answer, 413)
    assert await seq_of(api, iid) == 1


async def test_body_over_1_mib_chunked_is_413(api: Api) -> None:
    iid = await api.create()
    content = oversized()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(content), 64 * 1024):
            yield content[start : start + 64 * 1024]

    answer = await api.http.post(
        f"/api/incidents/{iid}/updates", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert "content-length" not in answer.request.headers
    assert answer.request.headers.get("transfer-encoding") == "chunked"
    assert_error(answer, 413)
    assert await seq_of(api, iid) == 1


async def test_chunked_body_under_the_limit_is_read(api: Api) -> None:
    iid = await api.create()

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"body": '
        yield '"分块上传"}'.encode()

    answer = await api.http.post(
        f"/api/incidents/{iid}/updates", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["update"]["body"] == "分块上传"


# --- idempotency ---------------------------------------------------------------------


async def test_same_key_twice_returns_the_first_answer(api: Api) -> None:
    iid = await api.create()
    k = key()
    promise = future().isoformat()
    first = await api.post(iid, "自来水公司已到场", key=k, next_update_at=promise)
    assert first.status_code == 201, first.text
    assert first.headers.get("idempotent-replayed") != "true"
    second = await api.post(iid, "自来水公司已到场", key=k, next_update_at=promise)
    assert second.status_code == 201, second.text
    assert second.headers.get("idempotent-replayed") == "true"
    assert second.json() == first.json()
    events = await api.events(iid)
    assert [e["type"] for e in events] == ["incident.opened", "update.posted"]
    assert await seq_of(api, iid) == 2


async def test_same_key_on_other_writes_replays(api: Api) -> None:
    iid = await api.create()
    uid = (await post_update(api, iid, "原文"))["id"]
    k = key()
    url = f"/api/incidents/{iid}/updates/{uid}"
    body = {"body": "新文", "reason": "笔误"}
    first = await api.http.patch(url, json=body, headers={"Idempotency-Key": k})
    assert first.status_code == 200
    second = await api.http.patch(url, json=body, headers={"Idempotency-Key": k})
    assert second.status_code == 200
    assert second.headers.get("idempotent-replayed") == "true"
    assert second.json() == first.json()
    assert [e["type"] for e in await api.events(iid)].count("update.corrected") == 1


async def test_concurrent_posts_with_the_same_key_append_once(api: Api) -> None:
    iid = await api.create()
    k = key()
    answers = await asyncio.gather(*(api.post(iid, "同一条消息", key=k) for _ in range(20)))
    assert [a.status_code for a in answers] == [201] * 20, [a.text for a in answers]
    bodies = [a.json() for a in answers]
    assert all(b == bodies[0] for b in bodies)
    assert sum(a.headers.get("idempotent-replayed") != "true" for a in answers) == 1
    events = await api.events(iid)
    assert [(e["seq"], e["type"]) for e in events] == [(1, "incident.opened"), (2, "update.posted")]
    assert events[1]["data"]["id"] == bodies[0]["update"]["id"]
    assert bodies[0]["seq"] == 2


async def test_concurrent_posts_with_different_keys_all_append_gap_free(api: Api) -> None:
    iid = await api.create()
    n = 20
    answers = await asyncio.gather(*(api.post(iid, f"第{i}条", key=key()) for i in range(n)))
    assert [a.status_code for a in answers] == [201] * n, [a.text for a in answers]
    seqs = sorted(a.json()["seq"] for a in answers)
    assert seqs == list(range(2, n + 2))
    events = await api.events(iid)
    assert [e["seq"] for e in events] == list(range(1, n + 2))
    posted = [e for e in events[1:] if e["type"] == "update.posted"]
    assert sorted(e["data"]["body"] for e in posted) == sorted(f"第{i}条" for i in range(n))
    assert len({e["data"]["id"] for e in posted}) == n
    # Each answer names its own event.
    by_seq = {e["seq"]: e for e in events}
    for answer in answers:
        value = answer.json()
        assert by_seq[value["seq"]]["data"]["id"] == value["update"]["id"]


async def test_concurrent_posts_without_keys_all_append_gap_free(api: Api) -> None:
    iid = await api.create()
    answers = await asyncio.gather(*(api.post(iid, "无键") for _ in range(10)))
    assert [a.status_code for a in answers] == [201] * 10
    assert [e["seq"] for e in await api.events(iid)] == list(range(1, 12))


async def test_incident_creation_retried_with_a_key_is_one_incident(api: Api) -> None:
    headers = {"Idempotency-Key": key()}
    body = {"title": "文化路自来水爆管", "area": "文化路"}
    first = await api.http.post("/api/incidents", json=body, headers=headers)
    assert first.status_code == 201, first.text
    second = await api.http.post("/api/incidents", json=body, headers=headers)
    assert second.status_code == 201, second.text
    assert second.headers.get("idempotent-replayed") == "true"
    assert second.json() == first.json()
    iid = first.json()["id"]
    assert (await incident_ids(api)).count(iid) == 1
    assert [e["type"] for e in await api.events(iid)] == ["incident.opened"]


async def test_concurrent_incident_creation_with_a_key_is_one_incident(api: Api) -> None:
    before = set(await incident_ids(api))
    headers = {"Idempotency-Key": key()}
    body = {"title": "并发创建"}
    answers = await asyncio.gather(
        *(api.http.post("/api/incidents", json=body, headers=headers) for _ in range(10))
    )
    assert [a.status_code for a in answers] == [201] * 10, [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1
    assert set(await incident_ids(api)) - before == {answers[0].json()["id"]}
    assert len(await api.events(answers[0].json()["id"])) == 1


# --- happy paths ---------------------------------------------------------------------


async def test_create_incident(api: Api) -> None:
    fields = {
        "title": "文化路自来水爆管",
        "summary": "管道爆裂",
        "area": "文化路 花园路-东风路段",
        "severity": "moderate",
        "category": "Infra",
        "lang": "zh-CN",
        "exercise": True,
    }
    answer = await api.http.post("/api/incidents", json=fields)
    assert answer.status_code == 201, answer.text
    incident = answer.json()
    assert isinstance(incident["id"], str)
    assert incident["id"]
    for name, value in fields.items():
        assert incident[name] == value
    assert incident["state"] == "live"
    assert TIME.match(incident["opened_at"])
    snap = await snapshot(api, incident["id"])
    assert snap["incident"]["title"] == fields["title"]
    assert snap["incident"]["exercise"] is True
    assert snap["seq"] == 1


async def test_create_incident_defaults(api: Api) -> None:
    answer = await api.http.post("/api/incidents", json={"title": "最少字段"})
    assert answer.status_code == 201
    incident = answer.json()
    assert incident["exercise"] is False
    assert incident["state"] == "live"


async def test_post_update(api: Api) -> None:
    iid = await api.create()
    promise = future()
    local = promise.astimezone(timezone(timedelta(hours=8))).isoformat()  # ...+08:00
    answer = await api.post(iid, "**自来水公司**工作人员已前往现场", next_update_at=local)
    assert answer.status_code == 201, answer.text
    value = answer.json()
    assert set(value) == {"update", "seq"}
    assert value["seq"] == 2
    update = value["update"]
    assert {"id", "body", "html", "published_at", "next_update_at"} <= set(update)
    assert update["body"] == "**自来水公司**工作人员已前往现场"
    assert "<strong>自来水公司</strong>工作人员已前往现场" in update["html"]
    assert TIME.match(update["published_at"])
    assert TIME.match(update["next_update_at"])
    expected = promise.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{promise.microsecond // 1000:03d}Z"
    assert update["next_update_at"] == expected
    published = datetime.fromisoformat(update["published_at"])
    assert abs((published - datetime.now(UTC)).total_seconds()) < scaled(60)
    # The event carries the same update.
    events = await api.events(iid, since=1)
    assert len(events) == 1
    event = events[0]
    assert (event["incident"], event["seq"], event["type"]) == (iid, 2, "update.posted")
    assert TIME.match(event["at"])
    for name in ("id", "body", "html", "published_at", "next_update_at"):
        assert event["data"][name] == update[name]
    snap = await snapshot(api, iid)
    assert snap["incident"]["next_update_at"] == expected
    assert snap["updates"][0]["id"] == update["id"]


async def test_post_update_without_promise(api: Api) -> None:
    iid = await api.create()
    update = await post_update(api, iid, "无承诺")
    assert update["next_update_at"] is None


async def test_correct_update(api: Api) -> None:
    iid = await api.create()
    uid = (await post_update(api, iid, "预计18时恢复供水"))["id"]
    answer = await api.http.patch(
        f"/api/incidents/{iid}/updates/{uid}", json={"body": "预计**20时**恢复供水", "reason": "时间有误"}
    )
    assert answer.status_code == 200, answer.text
    event = answer.json()
    assert (event["incident"], event["seq"], event["type"]) == (iid, 3, "update.corrected")
    assert event["data"]["id"] == uid
    assert event["data"]["body"] == "预计**20时**恢复供水"
    assert event["data"]["reason"] == "时间有误"
    assert "<strong>20时</strong>" in event["data"]["html"]
    assert (await api.events(iid, since=2)) == [event]
    snap = await snapshot(api, iid)
    update = snap["updates"][0]
    assert update["status"] == "corrected"
    assert update["body"] == "预计**20时**恢复供水"
    assert [(r["body"], r["reason"]) for r in update["revisions"]] == [("预计18时恢复供水", "时间有误")]


async def test_correcting_with_the_same_text_is_409(api: Api) -> None:
    iid = await api.create()
    uid = (await post_update(api, iid, "原文"))["id"]
    before = await snapshot(api, iid)
    answer = await api.http.patch(f"/api/incidents/{iid}/updates/{uid}", json={"body": "原文", "reason": "r"})
    assert_error(answer, 409)
    assert await snapshot(api, iid) == before


async def test_retract_update(api: Api) -> None:
    iid = await api.create()
    uid = (await post_update(api, iid, "错误消息"))["id"]
    answer = await api.http.request(
        "DELETE", f"/api/incidents/{iid}/updates/{uid}", json={"reason": "信息不实"}
    )
    assert answer.status_code == 200, answer.text
    event = answer.json()
    assert (event["seq"], event["type"]) == (3, "update.retracted")
    assert event["data"] == {"id": uid, "reason": "信息不实"}
    update = (await snapshot(api, iid))["updates"][0]
    assert update["status"] == "retracted"
    assert update["retraction_reason"] == "信息不实"
    assert update["body"] == "错误消息"


async def test_put_facts(api: Api) -> None:
    iid = await api.create()
    facts = [
        {"label": "停水区域", "value": "文化路花园路至东风路段"},
        {"label": "预计恢复", "value": "18:00"},
    ]
    answer = await api.http.put(f"/api/incidents/{iid}/facts", json={"facts": facts})
    assert answer.status_code == 200, answer.text
    event = answer.json()
    assert (event["seq"], event["type"]) == (2, "facts.changed")
    assert event["data"]["facts"] == facts
    assert (await snapshot(api, iid))["facts"] == facts
    # The same facts again change nothing.
    assert_error(await api.http.put(f"/api/incidents/{iid}/facts", json={"facts": facts}), 409)
    assert await seq_of(api, iid) == 2


async def test_pin_and_unpin(api: Api) -> None:
    iid = await api.create()
    first = (await post_update(api, iid, "一"))["id"]
    await post_update(api, iid, "二")
    answer = await api.http.post(f"/api/incidents/{iid}/updates/{first}/pin")
    assert answer.status_code == 200, answer.text
    assert (answer.json()["type"], answer.json()["data"]) == ("update.pinned", {"id": first})
    snap = await snapshot(api, iid)
    assert snap["incident"]["pinned"] == first
    assert [(u["body"], u["pinned"]) for u in snap["updates"]] == [("二", False), ("一", True)]
    answer = await api.http.post(f"/api/incidents/{iid}/updates/{first}/unpin")
    assert answer.status_code == 200, answer.text
    assert answer.json()["type"] == "update.unpinned"
    assert (await snapshot(api, iid))["incident"]["pinned"] is None


async def test_edit_incident(api: Api) -> None:
    iid = await api.create(title="旧标题", area="文化路")
    answer = await api.http.patch(f"/api/incidents/{iid}", json={"title": "新标题", "area": "文化路"})
    assert answer.status_code == 200, answer.text
    event = answer.json()
    assert (event["seq"], event["type"], event["data"]) == (2, "incident.edited", {"title": "新标题"})
    assert (await snapshot(api, iid))["incident"]["title"] == "新标题"


async def test_resolve_and_reopen(api: Api) -> None:
    iid = await api.create()
    await post_update(api, iid, "处理中", next_update_at=future().isoformat())
    answer = await api.http.post(f"/api/incidents/{iid}/resolve", json={"reason": "已恢复供水"})
    assert answer.status_code == 200, answer.text
    event = answer.json()
    assert (event["seq"], event["type"], event["data"]) == (3, "incident.resolved", {"reason": "已恢复供水"})
    snap = await snapshot(api, iid)
    assert snap["incident"]["state"] == "resolved"
    assert snap["incident"]["resolution"] == "已恢复供水"
    assert snap["incident"]["next_update_at"] is None
    answer = await api.http.post(f"/api/incidents/{iid}/reopen", json={"reason": "再次爆管"})
    assert answer.status_code == 200, answer.text
    event = answer.json()
    assert (event["seq"], event["type"], event["data"]) == (4, "incident.reopened", {"reason": "再次爆管"})
    assert (await snapshot(api, iid))["incident"]["state"] == "live"
    # Without a body too.
    answer = await api.http.post(f"/api/incidents/{iid}/resolve")
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"] == {"reason": None}


async def test_get_incident_snapshot(api: Api) -> None:
    iid = await api.create()
    ids = [(await post_update(api, iid, f"第{i}条"))["id"] for i in range(3)]
    facts = [{"label": "停水区域", "value": "文化路"}]
    assert (await api.http.put(f"/api/incidents/{iid}/facts", json={"facts": facts})).status_code == 200
    answer = await api.http.get(f"/api/incidents/{iid}")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    snap = answer.json()
    assert set(snap) >= {"incident", "updates", "facts", "seq"}
    assert snap["incident"]["id"] == iid
    assert [u["id"] for u in snap["updates"]] == list(reversed(ids))
    assert [u["body"] for u in snap["updates"]] == ["第2条", "第1条", "第0条"]
    assert snap["facts"] == facts
    assert snap["seq"] == 5


async def test_list_incidents_filters_and_is_newest_first(api: Api) -> None:
    created = []
    for i in range(3):
        created.append(await api.create(title=f"列表{i}"))
        await asyncio.sleep(0.002)  # opened_at has millisecond resolution: keep the three apart
    assert (await api.http.post(f"/api/incidents/{created[1]}/resolve")).status_code == 200

    async def listed(query: str) -> list[dict[str, Any]]:
        answer = await api.http.get(f"/api/incidents{query}")
        assert answer.status_code == 200, answer.text
        assert set(answer.json()) >= {"incidents"}
        incidents: list[dict[str, Any]] = answer.json()["incidents"]
        opened = [inc["opened_at"] for inc in incidents]
        assert opened == sorted(opened, reverse=True)
        return incidents

    everything = [inc["id"] for inc in await listed("")]
    assert [i for i in everything if i in created] == list(reversed(created))
    live = await listed("?state=live")
    assert all(inc["state"] == "live" for inc in live)
    assert [inc["id"] for inc in live if inc["id"] in created] == [created[2], created[0]]
    resolved = await listed("?state=resolved")
    assert all(inc["state"] == "resolved" for inc in resolved)
    assert [inc["id"] for inc in resolved if inc["id"] in created] == [created[1]]
    assert_error(await api.http.get("/api/incidents?state=closed"), 422)


async def test_events_since_and_limit(api: Api, anon: httpx.AsyncClient) -> None:
    iid = await api.create()
    for i in range(5):
        await post_update(api, iid, f"第{i}条")  # seqs 2..6

    async def page(query: str) -> dict[str, Any]:
        answer = await anon.get(f"/api/incidents/{iid}/events?{query}")
        assert answer.status_code == 200, answer.text
        value: dict[str, Any] = answer.json()
        return value

    first = await page("since=2&limit=2")
    assert [e["seq"] for e in first["events"]] == [3, 4]
    assert first["seq"] == 4
    second = await page(f"since={first['seq']}&limit=2")
    assert [e["seq"] for e in second["events"]] == [5, 6]
    assert second["seq"] == 6
    third = await page(f"since={second['seq']}&limit=2")
    assert third["events"] == []
    assert third["seq"] == 6
    everything = await page("since=0")
    assert [e["seq"] for e in everything["events"]] == [1, 2, 3, 4, 5, 6]
    assert everything["seq"] == 6
    assert everything["events"][0]["type"] == "incident.opened"
    assert all(e["incident"] == iid for e in everything["events"])
    assert [e["data"]["body"] for e in everything["events"][1:]] == [f"第{i}条" for i in range(5)]
    default = await page("")
    assert default["events"] == everything["events"]
    ahead = await page("since=99")
    assert ahead["events"] == []
    assert ahead.get("reset") is True


# --- XSS through the API ---------------------------------------------------------------


async def test_script_in_a_body_never_reaches_html(api: Api, anon: httpx.AsyncClient) -> None:
    iid = await api.create()
    body = "停水通知 <script>alert(1)</script> <img src=x onerror=alert(2)> [x](javascript:alert(3))"
    update = await post_update(api, iid, body)
    assert update["body"] == body  # kept as written
    html = update["html"].lower()
    assert "<script" not in html
    assert "<img" not in html
    assert 'href="javascript:' not in html
    snap = await snapshot(api, iid)
    assert "<script" not in snap["updates"][0]["html"].lower()
    page = await anon.get(f"/incidents/{iid}")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    text = page.text.lower()
    assert "<script>alert" not in text
    assert "<img src=x" not in text
    assert 'href="javascript:' not in text
    assert "停水通知" in page.text  # the update is on the page, as text
    assert "&lt;script&gt;alert(1)" in page.text


async def test_script_in_a_correction_never_reaches_html(api: Api, anon: httpx.AsyncClient) -> None:
    iid = await api.create()
    uid = (await post_update(api, iid, "原文 <script>alert(1)</script>"))["id"]
    answer = await api.http.patch(
        f"/api/incidents/{iid}/updates/{uid}",
        json={"body": "新文 <svg onload=alert(2)>", "reason": "<script>alert(3)</script>"},
    )
    assert answer.status_code == 200
    assert "<svg" not in answer.json()["data"]["html"].lower()
    page = await anon.get(f"/incidents/{iid}")
    assert page.status_code == 200
    text = page.text.lower()
    assert "<script>alert" not in text
    assert "<svg onload" not in text
    assert "新文" in page.text


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/incidents/{iid}/resolve", None),
        ("POST", "/api/incidents/{iid}/resolve", {"reason": None}),
        ("PATCH", "/api/incidents/{iid}", {"title": "新标题"}),
        ("PUT", "/api/incidents/{iid}/facts", {"facts": [{"label": "停水区域", "value": "文化路"}]}),
    ],
    ids=["resolve", "resolve-null-reason", "edit", "facts"],
)
async def test_idempotency_key_reused_for_another_kind_of_write_is_422(
    api: Api, method: str, path: str, body: dict[str, Any] | None
) -> None:
    """A key first used to post an update, then sent with a different command: that command
    must not be answered with the update.posted event as if it had been done."""
    iid = await api.create()
    k = key()
    assert (await api.post(iid, "第一条", key=k)).status_code == 201
    before = await snapshot(api, iid)
    answer = await api.http.request(method, path.format(iid=iid), json=body, headers={"Idempotency-Key": k})
    assert_error(answer, 422)
    assert await snapshot(api, iid) == before
