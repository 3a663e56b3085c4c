"""Webhooks: the pure rules, then real servers (SQLite, SIGKILL and restart, two
processes sharing Redis) delivering to real receivers on loopback ports that answer,
fail, stall, go down and come back."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from broadcaster.config import Settings
from broadcaster.core.events import format_time
from broadcaster.core.timeline import RuleViolation
from broadcaster.stores import open_backend
from broadcaster.webhooks import rules as wh
from broadcaster.webhooks.registry import DELIVERY_LOG_KEEP, Webhooks, deliveries_log
from broadcaster.webhooks.signing import headers, new_secret
from tests.support.client import Api
from tests.support.receiver import Receiver
from tests.support.redis_server import RedisServer
from tests.support.server import ServerProcess, add_operator, add_operator_with_link, scaled

NOW = datetime(2026, 11, 22, 7, 0, 0, tzinfo=UTC)
# Short retries for tests; the defaults (1 s doubling to 10 min, 24 h) are checked below.
FAST = {
    "INCIDENTS_WEBHOOK_MIN_BACKOFF": "0.05",
    "INCIDENTS_WEBHOOK_MAX_BACKOFF": "0.3",
    "INCIDENTS_WEBHOOK_TIMEOUT": "1.5",
    "INCIDENTS_WEBHOOK_LEASE_SECONDS": "4",
}


# --- pure: rules, fold, payload, timing ----------------------------------------------------


def ev(seq: int, decision: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    type_, data = decision
    return {"webhooks": "all", "seq": seq, "type": type_, "at": format_time(NOW + timedelta(seconds=seq)),
            "data": data}  # fmt: skip


def test_defaults_are_the_real_values() -> None:
    settings = Settings()
    assert settings.webhook_give_up_seconds == 24 * 3600
    assert (settings.webhook_min_backoff, settings.webhook_max_backoff) == (1.0, 600.0)
    assert settings.webhook_timeout == 10.0
    assert settings.webhook_allow_private is False  # SSRF: tests/support/server.py turns it on
    with pytest.raises(ValueError, match="lease"):
        Settings(webhook_timeout=10, webhook_lease_seconds=15)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://example.org/x", "http:// or https://"),
        ("javascript:alert(1)", "http:// or https://"),
        ("example.org/hooks", "http:// or https://"),
        ("http://", "needs a host"),
        ("https://user:pw@example.org/", "user name or password"),
        ("https://example.org/#top", "fragment"),
        ("https://example.org:99999/", "not a valid URL"),
        ("https://exa mple.org/", "spaces"),
        ("https://example.org/\x00", "control characters"),
        ("https://example.org/\x1b[2J", "control characters"),
        ("", "required"),
        ("https://example.org/" + "x" * 2000, "at most"),
    ],
)
def test_bad_urls_are_refused_with_a_reason(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        wh.check_url(url)


def test_private_addresses_only_when_allowed() -> None:
    assert wh.check_url(" http://127.0.0.1:8080/hooks ") == "http://127.0.0.1:8080/hooks"
    for url in ("http://127.0.0.1/", "http://10.1.2.3/", "http://[::1]/", "http://169.254.169.254/",
                "http://localhost/", "http://[::ffff:192.168.0.1]/", "http://0.0.0.0/"):  # fmt: skip
        with pytest.raises(ValueError, match="private"):
            wh.check_url(url, allow_private=False)
    assert wh.check_url("https://93.184.215.14/hooks", allow_private=False)
    assert wh.check_url("https://hooks.example.org/x", allow_private=False)  # names: checked once resolved


def test_event_types() -> None:
    assert wh.check_events(["update.posted", "incident.opened", "update.posted"]) == [
        "incident.opened", "update.posted",
    ]  # fmt: skip
    assert wh.check_events(["update.posted", "*"]) == ["*"]
    for bad in ([], [""], ["update.posted", "nope"]):
        with pytest.raises(ValueError, match="events"):
            wh.check_events(bad)


def test_fold_and_transitions() -> None:
    endpoints = wh.fold([ev(1, wh.decide_register("a", "http://x/", ["*"], "op1"))])
    a = endpoints["a"]
    assert (a.state, a.created_by, a.wants("update.posted")) == (wh.State.ENABLED, "op1", True)
    with pytest.raises(RuleViolation):
        wh.decide_enable(a)
    wh.apply(endpoints, ev(2, wh.decide_disable(a, "gave up", automatic=True)))
    assert (a.state, a.reason, a.automatic) == (wh.State.DISABLED, "gave up", True)
    with pytest.raises(RuleViolation):
        wh.decide_disable(a, "again")
    wh.apply(endpoints, ev(3, wh.decide_enable(a)))
    assert (a.state, a.reason, a.automatic) == (wh.State.ENABLED, None, False)
    wh.apply(endpoints, ev(4, wh.decide_delete(a)))
    assert a.state == wh.State.DELETED
    with pytest.raises(RuleViolation):
        wh.decide_delete(a)
    # The fold is permissive: nothing brings a deleted endpoint back.
    wh.apply(endpoints, ev(5, ("webhook.enabled", {"id": "a"})))
    assert a.state == wh.State.DELETED
    assert wh.listing(endpoints.values()) == []
    only = wh.fold([ev(1, wh.decide_register("b", "http://x/", ["update.posted"], "op1"))])["b"]
    assert only.wants("update.posted") and not only.wants("incident.opened")


def test_payload_signature_and_headers() -> None:
    event = {"incident": "abc", "seq": 7, "type": "update.posted", "at": "2026-11-22T07:15:00.123Z",
             "data": {"body": "停水"}}  # fmt: skip
    body = wh.payload(event, exercise=True)
    assert body.decode() == (
        '{"id":"abc:7","incident":"abc","seq":7,"type":"update.posted","at":"2026-11-22T07:15:00.123Z",'
        '"data":{"body":"停水"},"exercise":true}'
    )
    # The headers of docs/webhooks.md, signed per Standard Webhooks (tests/webhooks/test_signing.py
    # verifies them with the official packages).
    head = headers(["whsec_" + "a" * 43 + "="], body, "abc:7", "update.posted", 1_700_000_000)
    assert set(head) == {
        "Content-Type",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "X-Incidents-Event",
    }
    assert (head["webhook-id"], head["webhook-timestamp"]) == ("abc:7", "1700000000")
    assert head["webhook-signature"].startswith("v1,") and head["X-Incidents-Event"] == "update.posted"


def test_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    assert wh.backoff(1, 1, 600, 0.0) == 0.5
    assert wh.backoff(1, 1, 600, 0.999) < 1
    assert wh.backoff(4, 1, 600, 0.5) == 6  # 8 s, three quarters of it
    assert wh.backoff(40, 1, 600, 0.0) == 300
    assert wh.backoff(10_000, 1, 600, 0.999) <= 600
    total, failures = 0.0, 0
    while total < 24 * 3600:  # retried for a whole day, a few hundred times at most
        failures += 1
        total += wh.backoff(failures, 1, 600, 0.5)
    assert 150 < failures < 300


def test_give_up_after_failing_long_enough() -> None:
    progress = wh.Progress()
    assert not wh.gives_up(progress, NOW, 60)
    progress.failed("HTTP 500", format_time(NOW), format_time(NOW))
    progress.failed("HTTP 500", format_time(NOW + timedelta(seconds=30)), format_time(NOW))
    assert (progress.failures, progress.failing_since) == (2, format_time(NOW))
    assert not wh.gives_up(progress, NOW + timedelta(seconds=59), 60)
    assert wh.gives_up(progress, NOW + timedelta(seconds=60), 60)
    progress.succeeded("incident:a", 3, format_time(NOW))
    assert (progress.failures, progress.failing_since, progress.cursors) == (0, None, {"incident:a": 3})
    assert wh.Progress.from_json(progress.to_json()) == progress


# --- real servers ----------------------------------------------------------------------------


def assert_in_order(receiver: Receiver, incident: str, last: int, max_repeats: int = 0) -> None:
    """Every event 1..last acknowledged; the attempts never went back (ordered, one at a
    time); at most ``max_repeats`` events acknowledged twice (only a crash causes that)."""
    acked = receiver.seqs(incident)
    assert sorted(set(acked)) == list(range(1, last + 1)), acked
    assert len(acked) - len(set(acked)) <= max_repeats, acked
    attempts = receiver.seqs(incident, all_attempts=True)
    assert attempts == sorted(attempts), attempts


class Hooks:
    """An administrator's and an operator's view of one server."""

    def __init__(self, server: ServerProcess, admin: str, operator: str) -> None:
        self.server = server
        self.admin = Api(server.url, admin)
        self.operator = Api(server.url, operator)

    async def register(self, url: str, events: list[str] | None = None) -> tuple[str, str]:
        answer = await self.admin.http.post("/api/webhooks", json={"url": url, "events": events or ["*"]})
        assert answer.status_code == 201, answer.text
        return answer.json()["webhook"]["id"], answer.json()["secret"]

    async def webhook(self, hook: str) -> dict[str, Any]:
        answer = await self.admin.http.get(f"/api/webhooks/{hook}")
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()["webhook"]
        return found

    async def deliveries(self, hook: str) -> list[dict[str, Any]]:
        answer = await self.admin.http.get(f"/api/webhooks/{hook}/deliveries", params={"limit": 500})
        assert answer.status_code == 200, answer.text
        found: list[dict[str, Any]] = answer.json()["deliveries"]
        return found

    async def post(self, incident: str, count: int, via: Api | None = None) -> None:
        for n in range(count):
            answer = await (via or self.admin).post(incident, f"第{n + 1}次通报 {uuid.uuid4().hex[:6]}")
            assert answer.status_code == 201, answer.text

    async def clean(self) -> None:
        for hook in (await self.admin.http.get("/api/webhooks")).json()["webhooks"]:
            await self.admin.http.delete(f"/api/webhooks/{hook['id']}")
        await self.admin.aclose()
        await self.operator.aclose()


def start(tmp: Path, name: str, **env: str) -> tuple[ServerProcess, str, str]:
    url = f"sqlite:///{tmp / name}.db"
    admin, operator = add_operator(url, "admin"), add_operator(url, "desk", admin=False)
    return ServerProcess(url, env={**FAST, **env}).start(), admin, operator


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, str, str]]:
    started = start(tmp_path_factory.mktemp("hooks"), "hooks")
    yield started
    started[0].stop()


@pytest.fixture
async def hooks(server: tuple[ServerProcess, str, str]) -> AsyncIterator[Hooks]:
    found = Hooks(*server)
    yield found
    await found.clean()


async def eventually(check: Any, within: float, what: str) -> Any:
    deadline = time.monotonic() + scaled(within)
    while True:
        found = await check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {within} s")
        await asyncio.sleep(0.05)


async def test_signed_deliveries_and_the_secret_is_shown_once(hooks: Hooks) -> None:
    receiver, posted_only = await Receiver().start(), await Receiver().start()
    try:
        before = await hooks.admin.create("注册前的事件")
        hook, secret = await hooks.register(receiver.url)
        await hooks.register(posted_only.url, ["update.posted"])
        assert secret.startswith("whsec_") and len(secret) > 40
        listed = await hooks.admin.http.get("/api/webhooks")
        one = await hooks.admin.http.get(f"/api/webhooks/{hook}")
        for answer in (listed, one):
            assert secret not in answer.text and "secret" not in answer.text
        assert [w["url"] for w in listed.json()["webhooks"]] == [receiver.url, posted_only.url]

        incident = await hooks.admin.create("文化路自来水爆管")
        await hooks.post(incident, 2)
        await hooks.post(before, 1)
        await receiver.until(incident, 3)
        await receiver.until(before, 2)
        await posted_only.until(incident, 3)

        assert receiver.seqs(before) == [2]  # from registration on, not the history
        wire = await hooks.admin.events(incident)
        got = [r for r in receiver.requests if r.json["incident"] == incident]
        assert [{k: v for k, v in r.json.items() if k not in ("id", "exercise")} for r in got] == wire
        for request in receiver.requests:
            body = request.json
            assert request.signed_by(secret)
            assert not request.signed_by(new_secret(bytes(32)))  # another secret
            assert body["id"] == request.headers["webhook-id"] == f"{body['incident']}:{body['seq']}"
            assert body["exercise"] is False
            assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 60
            assert request.headers["x-incidents-event"] == body["type"]
            assert not [
                name
                for name in request.headers
                if name.startswith("x-incidents-") and name != "x-incidents-event"
            ]
            assert request.headers["user-agent"].startswith("incidents-broadcaster/")
            assert request.headers["content-type"] == "application/json"
        assert [r.json["type"] for r in posted_only.requests] == ["update.posted"] * 3  # its filter
        status = await hooks.webhook(hook)
        assert (status["state"], status["failures"], status["last_error"]) == ("enabled", 0, None)
        assert status["last_success_at"] is not None
    finally:
        await receiver.down()
        await posted_only.down()


async def test_down_and_failing_receivers_get_every_event_once_in_order(hooks: Hooks) -> None:
    down, failing = await Receiver().start(), await Receiver(mode="fail").start()
    await down.down()  # its port is closed: connections are refused
    try:
        down_hook, _ = await hooks.register(down.url)
        failing_hook, _ = await hooks.register(failing.url)
        incident = await hooks.admin.create()
        await hooks.post(incident, 4)
        await asyncio.sleep(scaled(1.5))
        assert failing.seqs(incident, all_attempts=True)[:3] == [1, 1, 1]  # retried, never skipped
        assert (await hooks.webhook(failing_hook))["failures"] >= 2
        await down.start()
        failing.mode = "ok"
        await hooks.post(incident, 3)
        for receiver in (down, failing):
            await receiver.until(incident, 8)
            assert_in_order(receiver, incident, 8)
        log = await hooks.deliveries(failing_hook)
        fails = [d for d in reversed(log) if not d["ok"]]
        assert fails and {d["status"] for d in fails} == {500} and {d["error"] for d in fails} == {"HTTP 500"}
        assert [d["attempt"] for d in fails] == list(range(1, len(fails) + 1))
        first_ok = next(d for d in reversed(log) if d["ok"])
        assert (first_ok["event_seq"], first_ok["attempt"], first_ok["status"]) == (1, len(fails) + 1, 200)
        refused = [d for d in await hooks.deliveries(down_hook) if not d["ok"]]
        assert refused and all(d["status"] is None and "Connect" in d["error"] for d in refused)
        status = await hooks.webhook(failing_hook)
        assert (status["failures"], status["failing_since"], status["state"]) == (0, None, "enabled")
    finally:
        await down.down()
        await failing.down()


async def test_a_stalled_endpoint_does_not_delay_the_others(hooks: Hooks) -> None:
    stalled, healthy = await Receiver(mode="stall").start(), await Receiver().start()
    try:
        stalled_hook, _ = await hooks.register(stalled.url)
        await hooks.register(healthy.url)
        incident = await hooks.admin.create()
        await healthy.until(incident, 1)
        for seq in range(2, 6):  # for longer than one request may take (1.5 s here)
            began = time.monotonic()
            await hooks.post(incident, 1)
            await healthy.until(incident, seq, within=5)
            assert time.monotonic() - began < scaled(1.0)
            await asyncio.sleep(0.5)
        assert stalled.requests and stalled.acknowledged() == []
        assert_in_order(healthy, incident, 5)
        timed_out = [d for d in await hooks.deliveries(stalled_hook) if not d["ok"]]
        assert timed_out and timed_out[-1]["error"] == "no answer within 1.5 s"
        assert 1400 < timed_out[-1]["duration_ms"] < 2500
        stalled.release()
        await stalled.until(incident, 5, within=20)
        assert_in_order(stalled, incident, 5)
    finally:
        stalled.release()
        await stalled.down()
        await healthy.down()


async def test_access_validation_exercise_flag_and_audit(hooks: Hooks) -> None:
    receiver = await Receiver().start()
    try:
        hook, _ = await hooks.register(receiver.url)
        base = f"/api/webhooks/{hook}"
        routes = [("GET", "/api/webhooks"), ("POST", "/api/webhooks"), ("GET", base), ("DELETE", base),
                  ("POST", f"{base}/disable"), ("POST", f"{base}/enable"),
                  ("GET", f"{base}/deliveries")]  # fmt: skip
        async with httpx.AsyncClient(base_url=hooks.server.url) as anonymous:
            for method, path in routes:
                body = {"url": receiver.url} if method == "POST" else None
                assert (await anonymous.request(method, path, json=body)).status_code == 401, path
                assert (await hooks.operator.http.request(method, path, json=body)).status_code == 403, path
        for body in ({"url": "ftp://example.org/"}, {"url": "not a url"}, {"url": "http://"},
                     {"url": "https://u:p@example.org/"}, {"url": receiver.url, "events": []},
                     {"url": receiver.url, "events": ["nope"]}, {"url": receiver.url, "secret": "mine"},
                     {"url": "https://example.org/\x00"}, {}):  # fmt: skip
            answer = await hooks.admin.http.post("/api/webhooks", json=body)
            assert answer.status_code == 422, (body, answer.text)
            assert answer.json()["detail"]
        assert (
            "http:// or https://"
            in (await hooks.admin.http.post("/api/webhooks", json={"url": "ftp://x/"})).text
        )
        assert (await hooks.admin.http.get("/api/webhooks/nosuchhook")).status_code == 404
        assert (await hooks.admin.http.post(f"/api/webhooks/{hook}/enable")).status_code == 409

        drill, real = await hooks.admin.create("演练：停水", exercise=True), await hooks.admin.create("停水")
        await receiver.until(drill, 1)
        await receiver.until(real, 1)
        assert [b["exercise"] for b in receiver.acknowledged(drill)] == [True]
        assert [b["exercise"] for b in receiver.acknowledged(real)] == [False]

        disabled = await hooks.admin.http.post(f"/api/webhooks/{hook}/disable", json={"reason": "维护"})
        assert disabled.json()["webhook"]["state"] == "disabled"
        await hooks.post(real, 1)
        await asyncio.sleep(scaled(1))
        assert receiver.seqs(real) == [1]  # disabled: nothing sent
        assert (await hooks.admin.http.post(f"/api/webhooks/{hook}/enable")).json()["webhook"][
            "state"
        ] == "enabled"
        await receiver.until(real, 2)  # resumed where it stopped
        assert (await hooks.admin.http.delete(f"/api/webhooks/{hook}")).json()["webhook"][
            "state"
        ] == "deleted"
        assert (await hooks.admin.http.get(f"/api/webhooks/{hook}")).status_code == 404
        entries = (await hooks.admin.http.get("/api/audit", params={"action": "webhook."})).json()["entries"]
        mine = [(e["action"], e["name"]) for e in reversed(entries) if e["target"] == hook]
        assert mine == [("webhook.registered", "admin"), ("webhook.disabled", "admin"),
                        ("webhook.enabled", "admin"), ("webhook.deleted", "admin")]  # fmt: skip
        assert next(e for e in entries if e["target"] == hook)["detail"]["url"] == receiver.url
    finally:
        await receiver.down()


# --- the console and giving up ------------------------------------------------------------------


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None, "no CSRF field in the page"
    return found.group(1)


async def console(server: ServerProcess, backend: str, name: str, admin: bool) -> httpx.AsyncClient:
    """A logged-in console session (a cookie-keeping client)."""
    _, link = add_operator_with_link(backend, name, admin, server.url)
    client = httpx.AsyncClient(base_url=server.url, timeout=scaled(20))
    path = link[link.index("/console/setup/") :]
    page = await client.get(path)
    password = "correct horse battery staple"
    done = await client.post(
        path, data={"password": password, "repeat": password, "csrf": csrf_of(page.text)}
    )
    assert done.status_code == 303, done.text
    return client


async def test_console_and_giving_up_on_a_dead_endpoint(tmp_path: Path) -> None:
    server, admin_token, _ = start(tmp_path, "give-up", INCIDENTS_WEBHOOK_GIVE_UP_SECONDS="1.5")
    backend = server.backend
    hooks = Hooks(server, admin_token, admin_token)
    admin = await console(server, backend, "管理员", True)
    desk = await console(server, backend, "值班员", False)
    receiver = await Receiver().start()
    await receiver.down()
    try:
        for path in ("/console/admin/webhooks", "/console/admin/webhooks/nosuchhook"):
            assert (await desk.get(path)).status_code == 403
        page = await admin.get("/console/admin/webhooks")
        form = {"csrf": csrf_of(page.text), "events": "*"}
        refused = await admin.post("/console/admin/webhooks", data={**form, "url": "ftp://x/"})
        assert (
            refused.status_code == 422 and "须以 http:// 或 https:// 开头" in refused.text
        )  # in the console's language
        registered = await admin.post("/console/admin/webhooks", data={**form, "url": receiver.url})
        assert registered.status_code == 201, registered.text
        secret = re.search(r'<code id="webhook-secret">([^<]+)</code>', registered.text)
        assert secret is not None
        listing = await admin.get("/console/admin/webhooks")
        assert receiver.url in listing.text and secret.group(1) not in listing.text
        hook = (await hooks.admin.http.get("/api/webhooks")).json()["webhooks"][0]["id"]
        for action in ("disable", "enable", "delete", "rotate-secret"):
            assert (
                await desk.post(f"/console/admin/webhooks/{hook}/{action}", data={"csrf": "x"})
            ).status_code == 403

        incident = await hooks.admin.create("无人接收")

        async def disabled() -> dict[str, Any] | None:
            found = await hooks.webhook(hook)
            return found if found["state"] == "disabled" else None

        gone = await eventually(disabled, 10, "giving up")
        assert gone["automatic"] is True and "ConnectError" in gone["reason"]
        dashboard = await admin.get("/console")
        assert "webhook-notice" in dashboard.text and receiver.url in dashboard.text
        assert "webhook-notice" not in (await desk.get("/console")).text  # administrators only
        log_page = await admin.get(f"/console/admin/webhooks/{hook}")
        assert (
            log_page.status_code == 200
            and f"{incident}:1" in log_page.text
            and "ConnectError" in log_page.text
        )
        entries = (await hooks.admin.http.get("/api/audit", params={"action": "webhook.disabled"})).json()
        entry = next(e for e in entries["entries"] if e["target"] == hook)
        assert (entry["name"], entry["detail"]["automatic"]) == ("system", True)

        await receiver.start()  # fixed: enable it again in the console; nothing was lost
        page = await admin.get("/console/admin/webhooks")
        enabled = await admin.post(
            f"/console/admin/webhooks/{hook}/enable", data={"csrf": csrf_of(page.text)}
        )
        assert enabled.status_code == 303
        await receiver.until(incident, 1)
        assert "webhook-notice" not in (await admin.get("/console")).text
        deleted = await admin.post(
            f"/console/admin/webhooks/{hook}/delete", data={"csrf": csrf_of(page.text)}
        )
        assert deleted.status_code == 303
        assert (await hooks.admin.http.get("/api/webhooks")).json()["webhooks"] == []
    finally:
        await receiver.down()
        await admin.aclose()
        await desk.aclose()
        await hooks.admin.aclose()
        await hooks.operator.aclose()
        server.stop()


# --- crashes and several processes ---------------------------------------------------------------


async def test_sigkill_mid_stream_resumes_from_the_persisted_cursor(tmp_path: Path) -> None:
    server, admin, operator = start(tmp_path, "restart")
    hooks = Hooks(server, admin, operator)
    receiver = await Receiver(delay=0.05).start()
    try:
        await hooks.register(receiver.url)
        incident = await hooks.admin.create()
        await hooks.post(incident, 15)  # faster than the receiver answers: a backlog
        await receiver.until(incident, 4)
        server.kill()
        assert len(set(receiver.seqs(incident))) < 16  # killed mid-stream
        server.restart()
        await hooks.post(incident, 3)
        await receiver.until(incident, 19, within=20)  # once the dead process's lease lapsed
        assert_in_order(receiver, incident, 19, max_repeats=1)
    finally:
        await receiver.down()
        await hooks.clean()
        server.stop()


async def test_two_processes_on_redis_deliver_once_and_take_over() -> None:
    with RedisServer() as redis:
        admin, operator = add_operator(redis.url, "admin"), add_operator(redis.url, "desk", admin=False)
        one = ServerProcess(redis.url, env=FAST).start()
        two = ServerProcess(redis.url, env=FAST).start()
        hooks, other = Hooks(one, admin, operator), Api(two.url, admin)
        receiver = await Receiver().start()
        try:
            hook, secret = await hooks.register(receiver.url)
            incident = await other.create()
            for n in range(6):
                await hooks.post(incident, 1, via=(hooks.admin, other)[n % 2])
            await receiver.until(incident, 7)
            await asyncio.sleep(scaled(1))  # a duplicate would show up by now
            assert receiver.seqs(incident) == list(range(1, 8))  # each event once, in order
            assert all(r.signed_by(secret) for r in receiver.requests)

            holders = {d["process"] for d in await hooks.deliveries(hook)}
            assert len(holders) == 1  # one process delivered everything
            holder = holders.pop()
            servers = [s for s in (one, two) if s.proc is not None and holder.endswith(f":{s.proc.pid}")]
            assert len(servers) == 1
            victim = servers[0]
            survivor = two if victim is one else one
            victim.kill()
            via = Api(survivor.url, admin)
            await hooks.post(incident, 3, via=via)
            await receiver.until(incident, 10, within=15)  # after the lease (4 s) lapsed
            assert_in_order(receiver, incident, 10, max_repeats=1)
            late = (await via.http.get(f"/api/webhooks/{hook}/deliveries")).json()["deliveries"]
            assert late[0]["process"].endswith(f":{survivor.proc.pid if survivor.proc else 0}")
            await via.aclose()
        finally:
            await receiver.down()
            await other.aclose()
            await hooks.admin.aclose()
            await hooks.operator.aclose()
            one.stop()
            two.stop()


# --- the delivery log stays bounded --------------------------------------------------------------


@pytest.mark.parametrize("store", ["sqlite", "redis"])
async def test_the_registry_keeps_the_newest_attempts_of_a_delivery_log(
    request: pytest.FixtureRequest, tmp_path: Path, store: str
) -> None:
    assert Settings().webhook_log_keep == DELIVERY_LOG_KEEP == 1000
    if store == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
    else:
        url = request.getfixturevalue("redis_server").url
    backend = open_backend(url)
    await backend.start()
    try:
        hook = uuid.uuid4().hex[:12]
        registry = Webhooks(backend, delivery_log_keep=10)  # trimmed every 10 attempts, to 10
        for n in range(1, 58):
            await registry.record_attempt(hook, {"n": n})
            assert len(await backend.read(deliveries_log(hook))) < 20
        assert await backend.head(deliveries_log(hook)) == 57
        newest = await registry.deliveries(hook, limit=500)
        assert [d["seq"] for d in newest] == list(range(57, 40, -1))  # trimmed at 50 to 41..50
        assert [d["n"] for d in newest] == list(range(57, 40, -1))
        assert [d["seq"] for d in await registry.deliveries(hook, limit=3)] == [57, 56, 55]
    finally:
        await backend.close()


async def test_a_server_bounds_each_delivery_log_by_its_setting(tmp_path: Path) -> None:
    server, admin, operator = start(tmp_path, "bounded", INCIDENTS_WEBHOOK_LOG_KEEP="3")
    hooks = Hooks(server, admin, operator)
    failing = await Receiver(mode="fail").start()
    try:
        hook, _ = await hooks.register(failing.url)
        await hooks.admin.create()

        async def attempts() -> list[dict[str, Any]] | None:
            found = await hooks.deliveries(hook)
            return found if found and found[0]["seq"] >= 12 else None

        logged = await eventually(attempts, 20, "12 failed attempts")
        assert 3 <= len(logged) <= 5, logged  # trimmed to 3 at every third attempt
        assert [d["seq"] for d in logged] == list(range(logged[0]["seq"], logged[-1]["seq"] - 1, -1))
        assert logged[-1]["attempt"] > 1 and logged[-1]["status"] == 500
    finally:
        await failing.down()
        await hooks.clean()
        server.stop()
