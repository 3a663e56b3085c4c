"""Citizens' reports against real server processes: filing, the public status, the operators'
commands and their rules, the console inbox, the statistics, abuse limits, audit and access.

The module's server allows many reports per address (the tests file dozens from 127.0.0.1);
the rate limit has a server of its own with a limit of three.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import statistics
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from PIL import ExifTags, Image

from tests.support.console import Browser, csrf_of, nonce_of
from tests.support.redis_server import RedisServer
from tests.support.server import (
    ServerProcess,
    add_operator,
    add_operator_with_link,
    incidents_command,
    scaled,
)

CODE = re.compile(r"^ZZ-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$")
CONTACT = "13800138000 王先生"
ZONE = ZoneInfo("Asia/Shanghai")


def report(**fields: Any) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:6]
    return {"title": f"天伦路路灯不亮 {tag}", "body": "天伦路上有路无灯，来往车辆又多，行人走路很危险。",
            "location": "天伦路（七里河南路口）", **fields}  # fmt: skip


def phone_jpeg(size: tuple[int, int] = (800, 600)) -> bytes:
    """A JPEG with the camera and the GPS position in its EXIF, as a phone writes it."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "SecretCam"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (34.0, 45.0, 36.0)
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 120, 30)).save(buffer, "JPEG", exif=exif)
    return buffer.getvalue()


class Desk:
    """The module's server, an administrator's token and console session, and a citizen."""

    def __init__(self, server: ServerProcess, name: str, token: str, console: Browser) -> None:
        self.server = server
        self.name = name
        self.ops = httpx.AsyncClient(
            base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=scaled(20)
        )
        self.citizen = httpx.AsyncClient(base_url=server.url, timeout=scaled(20), follow_redirects=False)
        self.console = console

    async def file(self, **fields: Any) -> str:
        answer = await self.citizen.post("/api/reports", json=report(**fields))
        assert answer.status_code == 201, answer.text
        return str(answer.json()["code"])

    async def do(self, code: str, command: str, expect: int = 200, **body: Any) -> dict[str, Any]:
        answer = await self.ops.post(f"/api/reports/{code}/{command}", json=body or None)
        assert answer.status_code == expect, (command, answer.status_code, answer.text)
        found: dict[str, Any] = answer.json()
        return found

    async def public(self, code: str) -> dict[str, Any]:
        answer = await self.citizen.get(f"/api/reports/{code}")
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    async def aclose(self) -> None:
        await self.ops.aclose()
        await self.citizen.aclose()
        await self.console.aclose()


@pytest.fixture(scope="module")
def reports_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('reports') / 'incidents.db'}"


@pytest.fixture(scope="module")
def reports_server(reports_store: str) -> Iterator[ServerProcess]:
    with ServerProcess(reports_store, env={"INCIDENTS_REPORT_LIMIT": "100000"}) as server:
        yield server
    assert "Traceback" not in server.log(), server.log()[-5000:]


@pytest.fixture
async def desk(reports_server: ServerProcess, reports_store: str) -> AsyncIterator[Desk]:
    name = f"desk-{uuid.uuid4().hex[:6]}"
    token, link = add_operator_with_link(reports_store, name, True, reports_server.url)
    console = Browser(reports_server.url)
    assert (await console.setup(link)).status_code == 303
    found = Desk(reports_server, name, token, console)
    yield found
    await found.aclose()


# --- filing ------------------------------------------------------------------------------------


async def test_filing_through_the_api_gives_a_tracking_code(desk: Desk) -> None:
    fields = report(contact=CONTACT)
    answer = await desk.citizen.post("/api/reports", json=fields)
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert set(body) == {"code", "status", "url"}
    assert CODE.match(body["code"]) and body["status"] == "received"
    assert body["url"] == answer.headers["location"] == f"{desk.server.url}/reports/{body['code']}"
    public = await desk.public(body["code"])
    assert (public["title"], public["body"], public["location"]) == (
        fields["title"], fields["body"], fields["location"],
    )  # fmt: skip
    assert public["status"] == "received" and public["reply"] is None and public["photo"] is None
    # Typed as read out over the phone: lower case, no dashes.
    spoken = body["code"].lower().replace("-", "")
    assert (await desk.public(spoken))["code"] == body["code"]
    page = await desk.citizen.get(f"/reports/{spoken}")
    assert page.status_code == 301 and page.headers["location"] == f"/reports/{body['code']}"


async def test_the_form_posts_multipart_with_a_photo_and_answers_303(desk: Desk) -> None:
    form = await desk.citizen.get("/reports/new?lang=en")
    assert form.status_code == 200 and 'name="website"' in form.text
    data = {**report(contact=CONTACT), "nonce": nonce_of(form.text), "website": ""}
    files = {"photo": ("现场.jpg", phone_jpeg(), "image/jpeg")}
    answer = await desk.citizen.post("/reports/new?lang=en", data=data, files=files)
    assert answer.status_code == 303, answer.text
    location = answer.headers["location"]
    code = location.split("/reports/")[1].split("?")[0]
    assert CODE.match(code) and "filed=1" in location
    page = await desk.citizen.get(location)
    assert page.status_code == 200
    assert "Your report was received." in page.text and code in page.text
    photo = (await desk.public(code))["photo"]
    assert photo is not None and photo["thumb_url"] in page.text
    stored = await desk.citizen.get(photo["url"])
    assert stored.status_code == 200 and stored.headers["content-type"] == "image/jpeg"
    assert b"SecretCam" not in stored.content and b"Exif" not in stored.content  # GPS and camera gone
    # The same form sent twice (a double tap): one report.
    again = await desk.citizen.post("/reports/new?lang=en", data=data, files=files)
    assert again.status_code == 303 and again.headers["location"] == location


async def test_the_contact_is_never_public(desk: Desk) -> None:
    code = await desk.file(contact=CONTACT)
    await desk.do(code, "assign", department="市政管理局")
    await desk.do(code, "reply", text="已协调相关部门处理。")
    reads = [
        await desk.citizen.get(f"/api/reports/{code}"),
        await desk.citizen.get(f"/reports/{code}"),
        await desk.citizen.get(f"/reports/{code}?lang=en"),
        await desk.citizen.get(f"/reports/{code}/status"),
        await desk.citizen.get("/api/reports/stats"),
        await desk.citizen.get("/reports/stats"),
    ]
    for answer in reads:
        assert answer.status_code == 200, answer.url
        assert "13800138000" not in answer.text and "王先生" not in answer.text, answer.url
    async with desk.citizen.stream("GET", f"/api/reports/{code}/stream") as stream:
        first = await anext(sse_messages(stream))
    assert first["code"] == code and "contact" not in first and "13800138000" not in json.dumps(first)
    # The operators see it.
    private = await desk.ops.get(f"/api/reports/inbox/{code}")
    assert private.json()["contact"] == CONTACT
    page = await desk.console.http.get(f"/console/reports/{code}")
    assert CONTACT in page.text


async def test_operators_can_erase_a_contact_for_good(desk: Desk) -> None:
    mine = "赵先生 13700137000"  # a contact no other test files
    code = await desk.file(contact=mine)
    other = await desk.file(contact="李女士 13900139000")
    # In the console: the button, then the page says so and the contact is gone.
    page = await desk.console.http.get(f"/console/reports/{code}")
    assert mine in page.text and f"/console/reports/{code}/erase-contact" in page.text
    erased = await desk.console.http.post(
        f"/console/reports/{code}/erase-contact",
        data={"csrf": csrf_of(page.text), "nonce": nonce_of(page.text)},
    )
    assert erased.status_code == 303, erased.text
    page = await desk.console.http.get(erased.headers["location"] + "&lang=en")
    assert "The contact was erased." in page.text and "erased</dd>" in page.text
    assert "13700137000" not in page.text
    assert (await desk.ops.get(f"/api/reports/inbox/{code}")).json()["contact"] == ""

    # Through the API: once true, then false; another report's contact stays.
    first = await desk.ops.delete(f"/api/reports/inbox/{other}/contact")
    again = await desk.ops.delete(f"/api/reports/inbox/{other}/contact")
    assert first.json() == {"code": other, "erased": True}
    assert again.json() == {"code": other, "erased": False}
    assert (await desk.ops.get(f"/api/reports/inbox/{code}")).json()["contact"] == ""
    missing = await desk.ops.delete("/api/reports/inbox/ZZ-AAAA-AAAA/contact")
    assert missing.status_code == 404
    assert (await desk.citizen.delete(f"/api/reports/inbox/{other}/contact")).status_code == 401

    # Nowhere else: the export of the whole store does not hold it, the audit names the erasure.
    command = [*incidents_command(), "export", "--backend", desk.server.backend]
    done = await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, timeout=scaled(60), check=True
    )
    assert "13700137000" not in done.stdout and "13900139000" not in done.stdout
    trail = (await desk.ops.get("/api/audit", params={"action": "report.contact_erased"})).json()
    assert {code, other} <= {e["target"] for e in trail["entries"]}


async def test_idempotency_key_files_once(desk: Desk) -> None:
    fields, key = report(), {"Idempotency-Key": uuid.uuid4().hex}
    first = await desk.citizen.post("/api/reports", json=fields, headers=key)
    second = await desk.citizen.post("/api/reports", json=fields, headers=key)
    assert first.status_code == second.status_code == 201
    assert first.json()["code"] == second.json()["code"] and second.headers["idempotent-replayed"] == "true"
    other = await desk.citizen.post("/api/reports", json=report(), headers=key)
    assert other.status_code == 422


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({"title": "x" * 201}, 422),
        ({"body": "x" * 5001}, 422),
        ({"location": "x" * 201}, 422),
        ({"contact": "x" * 201}, 422),
        ({"title": "   "}, 422),
        ({"location": None}, 422),
        ({"body": "控制字符\u0000"}, 422),
        ({"secret": "unknown field"}, 422),
    ],
)
async def test_bad_fields_are_refused_with_422(desk: Desk, fields: dict[str, Any], status: int) -> None:
    answer = await desk.citizen.post("/api/reports", json=report(**fields))
    assert answer.status_code == status, answer.text
    assert "detail" in answer.json()


async def test_bad_requests_get_clear_4xx(desk: Desk) -> None:
    post, get = desk.citizen.post, desk.citizen.get
    as_json, as_text = {"content-type": "application/json"}, {"content-type": "text/plain"}
    huge_photo = {"photo": ("a.jpg", b"\xff\xd8" + b"0" * (10 * 2**20))}
    cases = [
        (await post("/api/reports", content=b"{not json", headers=as_json), 422),
        (await post("/api/reports", json=["a", "list"]), 422),
        (await post("/api/reports", content=b"title=x", headers=as_text), 415),
        (await post("/api/reports", data=report(), files={"photo": ("a.jpg", b"not an image")}), 415),
        (await post("/api/reports", data=report(), files=huge_photo), 413),
        (await post("/api/reports", content=b"x" * (12 * 2**20), headers=as_json), 413),
        (await get("/api/reports/ZZ-0000-0000"), 404),
        (await get("/api/reports/..%2F..%2Fetc"), 404),
        (await get("/api/reports/stats?from=2011-13-01"), 422),
        (await get("/api/reports/stats?from=2011-03-02&to=2011-03-01"), 422),
        (await get("/reports/stats?from=yesterday"), 422),
        (await get("/reports/ZZ-0000-0000"), 404),
    ]
    for answer, status in cases:
        assert answer.status_code == status, (answer.request.url, answer.status_code, answer.text[:300])
        assert "Traceback" not in answer.text


async def test_the_form_explains_what_to_fix_and_keeps_the_input(desk: Desk) -> None:
    form = await desk.citizen.get("/reports/new", headers={"Accept-Language": "zh-CN"})
    data = {**report(title="x" * 201), "nonce": nonce_of(form.text)}
    answer = await desk.citizen.post("/reports/new?lang=zh-CN", data=data)
    assert answer.status_code == 422
    assert "标题：最多 200 个字符" in answer.text and data["body"] in answer.text
    assert 'aria-invalid="true"' in answer.text
    big = {"photo": ("big.jpg", b"\xff\xd8" + b"0" * (10 * 2**20), "image/jpeg")}
    answer = await desk.citizen.post("/reports/new?lang=en", data={**report(), "nonce": "n"}, files=big)
    assert answer.status_code == 413 and "at most 10 MB" in answer.text


async def test_the_honeypot_refuses_and_files_nothing(desk: Desk) -> None:
    before = (await desk.ops.get("/api/reports/inbox", params={"show": "all"})).json()["total"]
    form = await desk.citizen.get("/reports/new?lang=en")
    data = {**report(), "nonce": nonce_of(form.text), "website": "http://cheap-pills.example"}
    answer = await desk.citizen.post("/reports/new?lang=en", data=data)
    assert answer.status_code == 400
    assert "could not be accepted" in answer.text and "http://cheap-pills.example" not in answer.text
    after = (await desk.ops.get("/api/reports/inbox", params={"show": "all"})).json()["total"]
    assert after == before


async def test_rate_limit_per_address_429_with_retry_after(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'limited.db'}"
    add_operator(store, "ZZIC")
    env = {"INCIDENTS_REPORT_LIMIT": "3", "INCIDENTS_REPORT_WINDOW": "600"}
    with ServerProcess(store, env=env) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=scaled(20)) as citizen:
            for _ in range(2):
                assert (await citizen.post("/api/reports", json=report())).status_code == 201
            form = await citizen.get("/reports/new?lang=en")
            data = {**report(), "nonce": nonce_of(form.text)}
            assert (await citizen.post("/reports/new?lang=en", data=data)).status_code == 303
            refused = await citizen.post("/api/reports", json=report())
            assert refused.status_code == 429, refused.text
            assert 0 < int(refused.headers["retry-after"]) <= 600
            page = await citizen.post("/reports/new?lang=en", data={**report(), "nonce": "other"})
            assert page.status_code == 429 and int(page.headers["retry-after"]) > 0
            assert "try again in" in page.text and "<form" in page.text
            # Reading is not limited.
            assert (await citizen.get("/api/reports/stats")).json()["received"] == 3


# --- the operators' commands and their rules ----------------------------------------------------


async def test_every_status_and_the_rules_between_them(desk: Desk) -> None:
    code = await desk.file()
    assert (await desk.do(code, "resolve", 409))["detail"].endswith("in public before resolving it")
    done = await desk.do(code, "assign", department="市政管理局")
    assert done["report"]["status"] == "assigned" and done["report"]["department"] == "市政管理局"
    public = await desk.public(code)
    assert public["status"] == "assigned" and public["assigned_to"] == "市政管理局"
    await desk.do(code, "assign", 409, department="市政管理局")
    await desk.do(code, "assign", 422)  # neither a department nor an operator
    await desk.do(code, "assign", 422, operator="nobody")
    await desk.do(code, "reply", text="已协调路灯管理处，3月10日前安装完毕。")
    public = await desk.public(code)
    assert public["status"] == "replied" and public["reply"] == "已协调路灯管理处，3月10日前安装完毕。"
    await desk.do(code, "reply", 422, text="  ")
    await desk.do(code, "resolve", note="天伦路灯火通明")
    public = await desk.public(code)
    assert public["status"] == "resolved" and public["resolution"] == "天伦路灯火通明"
    await desk.do(code, "reply", 409, text="again")
    await desk.do(code, "resolve", 409)
    page = await desk.citizen.get(f"/reports/{code}?lang=en")
    assert "天伦路灯火通明" in page.text and 'aria-current="step"' in page.text
    chinese = await desk.citizen.get(f"/reports/{code}?lang=zh-CN")
    assert re.search(r'data-status="resolved">已办结<', chinese.text)  # a report's word, not 已结束
    await desk.do("ZZ-0000-0000", "reply", 404, text="x")


async def test_assigned_to_an_operator_the_public_sees_the_organisation(desk: Desk) -> None:
    code = await desk.file()
    operators = (await desk.ops.get("/api/operators")).json()["operators"]
    me = next(o["id"] for o in operators if o["name"] == desk.name)
    done = await desk.do(code, "assign", operator=me)
    assert done["report"]["operator"] == me
    assert (await desk.public(code))["assigned_to"] == "ZZIC"


async def test_hidden_reports_are_gone_publicly_and_kept_for_operators(desk: Desk) -> None:
    code = await desk.file(title="广告：办证 138xxxx")
    await desk.do(code, "hide", reason="广告")
    assert (await desk.citizen.get(f"/api/reports/{code}")).status_code == 404
    assert (await desk.citizen.get(f"/reports/{code}")).status_code == 404
    assert (await desk.citizen.get(f"/api/reports/{code}/stream")).status_code == 404
    await desk.do(code, "reply", 409, text="x")
    hidden = (await desk.ops.get("/api/reports/inbox", params={"show": "hidden"})).json()["reports"]
    assert code in [r["code"] for r in hidden]
    visible = (await desk.ops.get("/api/reports/inbox", params={"limit": 500})).json()["reports"]
    assert code not in [r["code"] for r in visible]
    await desk.do(code, "unhide")
    assert (await desk.public(code))["code"] == code


async def test_hiding_a_report_withdraws_its_photo_and_showing_it_restores_it(desk: Desk) -> None:
    files = {"photo": ("广告.jpg", phone_jpeg(), "image/jpeg")}
    filed = await desk.citizen.post("/api/reports", data=report(title="广告：办证"), files=files)
    assert filed.status_code == 201, filed.text
    code = filed.json()["code"]
    photo = (await desk.public(code))["photo"]
    urls = (photo["url"], photo["thumb_url"])
    before = [await desk.citizen.get(url) for url in urls]
    assert [a.status_code for a in before] == [200, 200]

    await desk.do(code, "hide", reason="广告")
    for url in urls:
        gone = await desk.citizen.get(url)
        assert gone.status_code == 410, url
        assert (
            gone.headers["cache-control"] == "no-store"
            and gone.json()["detail"] == "this photo was withdrawn"
        )
    await desk.do(code, "hide", 409, reason="again")  # refused: hidden already; the photo stays withdrawn
    assert (await desk.citizen.get(urls[0])).status_code == 410

    await desk.do(code, "unhide")
    after = [await desk.citizen.get(url) for url in urls]
    assert [a.status_code for a in after] == [200, 200]
    assert [a.content for a in after] == [b.content for b in before]
    assert after[0].headers["content-type"] == "image/jpeg"


async def test_a_duplicate_points_to_the_original(desk: Desk) -> None:
    original, duplicate, third = await desk.file(), await desk.file(), await desk.file()
    await desk.do(duplicate, "merge", into=original.lower().replace("-", ""))
    view = await desk.public(duplicate)
    assert view["merged_into"] == original
    page = await desk.citizen.get(f"/reports/{duplicate}?lang=en")
    assert f'href="/reports/{original}' in page.text and "was merged into report" in page.text
    await desk.do(duplicate, "reply", 409, text="x")
    await desk.do(third, "merge", into=duplicate)  # lands on the original
    assert (await desk.public(third))["merged_into"] == original
    assert (await desk.public(original))["duplicates"] == 2
    await desk.do(original, "merge", 409, into=original)


async def test_linking_and_turning_a_report_into_an_incident(desk: Desk) -> None:
    incident = (await desk.ops.post("/api/incidents", json={"title": "文化路自来水爆管"})).json()["id"]
    linked = await desk.file()
    await desk.do(linked, "link", 422, incident="nosuchincident")
    await desk.do(linked, "link", incident=incident)
    view = await desk.public(linked)
    assert view["incident"] == incident and view["incident_url"] == f"/incidents/{incident}"
    page = await desk.citizen.get(f"/reports/{linked}")
    assert f'href="/incidents/{incident}' in page.text and "文化路自来水爆管" in page.text

    # From the console: the form is prefilled from the report; the new incident is linked.
    code = await desk.file(title="郑开大道斑马线断头", location="郑开大道（绿化带）")
    form = await desk.console.http.get(f"/console/reports/{code}/incident")
    assert form.status_code == 200 and "郑开大道斑马线断头" in form.text and "郑开大道（绿化带）" in form.text
    data = {
        "csrf": csrf_of(form.text), "nonce": nonce_of(form.text), "title": "郑开大道斑马线断头",
        "summary": "斑马线走进了绿化带", "area": "郑开大道", "severity": "minor", "category": "Transport",
    }  # fmt: skip
    created = await desk.console.http.post(f"/console/reports/{code}/incident", data=data)
    assert created.status_code == 303, created.text
    new_incident = created.headers["location"].split("/console/incidents/")[1].split("?")[0]
    again = await desk.console.http.post(f"/console/reports/{code}/incident", data=data)  # double submit
    assert again.status_code == 303 and new_incident in again.headers["location"]
    assert (await desk.public(code))["incident"] == new_incident
    timeline = (await desk.citizen.get(f"/api/incidents/{new_incident}")).json()["incident"]
    assert (timeline["title"], timeline["area"]) == ("郑开大道斑马线断头", "郑开大道")
    page = await desk.citizen.get(f"/reports/{code}")
    assert f'href="/incidents/{new_incident}' in page.text


async def test_the_console_inbox_filters_and_acts(desk: Desk) -> None:
    place = f"花园路{uuid.uuid4().hex[:4]}"
    code = await desk.file(location=place)
    inbox = await desk.console.http.get("/console/reports", params={"q": place})
    assert inbox.status_code == 200 and code in inbox.text
    assert (
        code
        not in (
            await desk.console.http.get("/console/reports", params={"q": place, "status": "resolved"})
        ).text
    )
    page = await desk.console.http.get(f"/console/reports/{code}")
    csrf, nonce = csrf_of(page.text), nonce_of(page.text)
    to_department = {"csrf": csrf, "nonce": nonce, "to": "department", "department": "供水公司"}
    assigned = await desk.console.http.post(f"/console/reports/{code}/assign", data=to_department)
    assert assigned.status_code == 303 and assigned.headers["location"].endswith("done=assigned")
    refused = await desk.console.http.post(
        f"/console/reports/{code}/resolve",
        data={"csrf": csrf, "nonce": nonce + "r"},
        headers={"Accept-Language": "zh"},
    )
    assert refused.status_code == 409 and "办结前请先公开回复" in refused.text
    reply = {"csrf": csrf, "nonce": nonce + "-reply", "text": "已联系供水公司抢修。", "resolve": "on"}
    assert (await desk.console.http.post(f"/console/reports/{code}/reply", data=reply)).status_code == 303
    assert (
        await desk.console.http.post(f"/console/reports/{code}/reply", data=reply)
    ).status_code == 303  # again
    view = await desk.public(code)
    assert view["status"] == "resolved" and len(view["replies"]) == 1  # the double submit replied once
    forged = await desk.console.http.post(f"/console/reports/{code}/hide", data={"nonce": "x"})
    assert forged.status_code == 403  # no CSRF token
    assert (await desk.public(code))["code"] == code


async def test_every_step_is_on_the_audit_log(desk: Desk) -> None:
    code = await desk.file()
    incident = (await desk.ops.post("/api/incidents", json={"title": "彩虹桥隐患"})).json()["id"]
    other = await desk.file()
    await desk.do(code, "assign", department="市政管理局")
    await desk.do(code, "reply", text="已回复")
    await desk.do(code, "resolve")
    await desk.do(code, "link", incident=incident)
    await desk.do(other, "hide")
    await desk.do(other, "unhide")
    await desk.do(other, "merge", into=code)
    entries = (await desk.ops.get("/api/audit", params={"action": "report.", "limit": 500})).json()["entries"]
    steps = [(e["action"], e["target"]) for e in reversed(entries) if e["target"] in (code, other)]
    assert steps == [
        ("report.received", code), ("report.received", other), ("report.assigned", code),
        ("report.replied", code), ("report.resolved", code), ("report.linked", code),
        ("report.hidden", other), ("report.unhidden", other), ("report.merged", other),
    ]  # fmt: skip
    received = next(e for e in entries if e["target"] == code and e["action"] == "report.received")
    assert received["name"] == "(citizen)" and received["address"] == "127.0.0.1"
    linked = next(e for e in entries if e["action"] == "report.linked" and e["target"] == code)
    assert linked["incident"] == incident and linked["detail"]["incident"] == incident


async def test_strangers_cannot_use_the_inbox_or_the_commands(desk: Desk) -> None:
    code = await desk.file()
    async with httpx.AsyncClient(base_url=desk.server.url, follow_redirects=False) as stranger:
        assert (await stranger.get("/api/reports/inbox")).status_code == 401
        assert (await stranger.get(f"/api/reports/inbox/{code}")).status_code == 401
        for command in ("assign", "reply", "resolve", "hide", "unhide", "merge", "link"):
            answer = await stranger.post(
                f"/api/reports/{code}/{command}", json={"text": "x", "department": "x"}
            )
            assert answer.status_code == 401, command
        for path in ("/console/reports", f"/console/reports/{code}"):
            answer = await stranger.get(path)
            assert answer.status_code == 303 and answer.headers["location"].startswith("/console/login")
        answer = await stranger.post(f"/console/reports/{code}/reply", data={"text": "x"})
        assert answer.status_code == 303
        inbox = await stranger.get("/api/reports/inbox", headers={"Origin": "http://elsewhere.test"})
        assert "access-control-allow-origin" not in inbox.headers
        public = await stranger.get(f"/api/reports/{code}")
        assert public.headers["access-control-allow-origin"] == "*"
    assert (await desk.public(code))["status"] == "received"


# --- live -----------------------------------------------------------------------------------------


async def sse_messages(stream: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    async for line in stream.aiter_lines():
        if line.startswith("data: "):
            yield json.loads(line[6:])


async def test_the_stream_sends_the_report_now_and_after_each_change(desk: Desk) -> None:
    code, other = await desk.file(), await desk.file()
    async with desk.citizen.stream("GET", f"/api/reports/{code}/stream") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        messages = sse_messages(stream)
        async with asyncio.timeout(scaled(10)):
            first = await anext(messages)
            assert first["status"] == "received"
            await desk.do(other, "reply", text="别的诉求")  # not this report's: nothing sent
            await desk.do(code, "reply", text="已转交路灯管理处。")
            second = await anext(messages)
        assert second["reply"] == "已转交路灯管理处。" and second["version"] > first["version"]
        async with asyncio.timeout(scaled(10)):
            await desk.do(code, "hide", reason="测试")
            gone = await anext(messages)
        assert gone == {"code": code, "gone": True}


# --- the public record ----------------------------------------------------------------------------


async def test_statistics_match_the_reports_filed(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'stats.db'}"
    token = add_operator(store, "ZZIC")
    with ServerProcess(store, env={"INCIDENTS_REPORT_LIMIT": "1000"}) as server:
        ops = httpx.AsyncClient(
            base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=scaled(20)
        )
        try:
            await check_statistics(ops)
        finally:
            await ops.aclose()


async def check_statistics(ops: httpx.AsyncClient) -> None:
    codes = []
    for _ in range(8):
        answer = await ops.post("/api/reports", json=report())
        codes.append(answer.json()["code"])
    for n, code in enumerate(codes[:5]):  # five replied, at different delays
        await asyncio.sleep(0.05 * n)
        assert (await ops.post(f"/api/reports/{code}/reply", json={"text": f"回复 {n}"})).status_code == 200
    for code in codes[:2]:
        assert (await ops.post(f"/api/reports/{code}/resolve")).status_code == 200
    assert (await ops.post(f"/api/reports/{codes[6]}/hide")).status_code == 200  # not counted
    assert (await ops.post(f"/api/reports/{codes[7]}/merge", json={"into": codes[5]})).status_code == 200
    views = [(await ops.get(f"/api/reports/{c}")).json() for c in codes[:5]]
    delays = [
        (
            datetime.fromisoformat(v["replies"][0]["at"]) - datetime.fromisoformat(v["received_at"])
        ).total_seconds()
        for v in views
    ]
    stats = (await ops.get("/api/reports/stats")).json()
    month = datetime.now(ZONE).strftime("%Y-%m")
    assert (stats["received"], stats["replied"], stats["resolved"]) == (6, 5, 2)
    assert stats["reply_rate"] == round(5 / 6, 4)
    assert stats["median_first_reply_seconds"] == round(statistics.median(delays))
    assert stats["months"] == [
        {"month": month, "received": 6, "replied": 5, "resolved": 2, "reply_rate": round(5 / 6, 4),
         "median_first_reply_seconds": round(statistics.median(delays))},
    ]  # fmt: skip
    today = datetime.now(ZONE).date()
    ranged = await ops.get("/api/reports/stats", params={"from": today.isoformat(), "to": today.isoformat()})
    assert ranged.json()["received"] == 6
    tomorrow = (today + timedelta(days=1)).isoformat()
    assert (await ops.get("/api/reports/stats", params={"from": tomorrow})).json()["received"] == 0
    for lang, words in (
        ("en", ["83.3%", "Reply rate", "<svg", "<title", "<desc"]),
        ("zh-CN", ["83.3%", "回复率"]),
    ):
        page = await ops.get("/reports/stats", params={"lang": lang})
        assert page.status_code == 200
        for word in words:
            assert word in page.text, (lang, word)
        assert "<script" not in page.text  # the chart needs no script
    assert (await ops.get("/reports/stats", params={"from": tomorrow})).status_code == 200


async def test_two_workers_on_redis_share_the_reports_and_their_stream(redis_server: RedisServer) -> None:
    """Each process folds the one log: what either wrote, both show, and a page open on one
    worker follows changes made through the other."""
    token = add_operator(redis_server.url, f"reports-{uuid.uuid4().hex[:6]}")
    env = {"INCIDENTS_REPORT_LIMIT": "100000"}
    with ServerProcess(redis_server.url, workers=2, env=env) as server:

        def fresh(**kwargs: Any) -> httpx.AsyncClient:  # a new connection: either worker may take it
            return httpx.AsyncClient(base_url=server.url, timeout=scaled(20), **kwargs)

        async with fresh() as citizen:
            before = (await citizen.get("/api/reports/stats")).json()["received"]
            code = (await citizen.post("/api/reports", json=report())).json()["code"]
        codes = [code]
        for _ in range(10):
            async with fresh() as citizen:
                codes.append((await citizen.post("/api/reports", json=report())).json()["code"])
        async with fresh() as watcher, watcher.stream("GET", f"/api/reports/{code}/stream") as stream:
            messages = sse_messages(stream)
            async with asyncio.timeout(scaled(15)):
                assert (await anext(messages))["status"] == "received"
                for n in range(4):
                    async with fresh(headers={"Authorization": f"Bearer {token}"}) as ops:
                        answer = await ops.post(
                            f"/api/reports/{code}/reply", json={"text": f"第 {n + 1} 次回复"}
                        )
                        assert answer.status_code == 200, answer.text
                    while (await anext(messages))["reply"] != f"第 {n + 1} 次回复":
                        pass
        for _ in range(4):
            async with fresh() as reader:
                assert (await reader.get("/api/reports/stats")).json()["received"] == before + 11
                assert (await reader.get(f"/api/reports/{codes[-1]}")).status_code == 200


XSS = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'


async def test_hostile_text_in_every_report_field_is_inert(desk: Desk) -> None:
    """What citizens and operators write into a report is shown escaped on the public page,
    in the inbox and on the operator's page; the JSON API gives it back exactly."""
    title = f"{XSS} 标题 {uuid.uuid4().hex[:4]}"
    code = await desk.file(title=title, body=f"正文 {XSS}", location=f"{XSS} 地点", contact=f"{XSS} 电话")
    await desk.do(code, "assign", department=f"{XSS} 部门")
    await desk.do(code, "reply", text=f"回复 {XSS}")
    public = await desk.public(code)
    assert public["title"] == title and public["reply"] == f"回复 {XSS}"  # stored exactly
    pages = [
        (await desk.citizen.get(f"/reports/{code}")).text,
        (await desk.console.http.get("/console/reports", params={"q": "标题"})).text,
        (await desk.console.http.get(f"/console/reports/{code}")).text,
    ]
    for text in pages:
        assert code in text
        assert "<script>alert" not in text and "<img src=x" not in text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
