"""Web Push end to end: a real server process sends, the test plays the push service (a local
HTTP server) and the browsers (key pairs, decryption with http_ece, the VAPID JWT checked).
Faults: SIGKILL of the sending process mid-batch, two processes on one redis-server."""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from broadcaster.notify import Notice, Outcome, Result
from broadcaster.notify.webpush import outcome_of, payload, topic
from broadcaster.stores import open_backend
from tests.notify.pushkit import Browser, PushService, check_vapid
from tests.support.client import Api
from tests.support.redis_server import RedisServer
from tests.support.server import ServerProcess, add_operator, scaled

ENV = {
    "INCIDENTS_PUSH_ALLOW_PRIVATE": "true",
    "INCIDENTS_SUBSCRIBE_LIMIT": "100000",
    "INCIDENTS_WEBHOOK_LEASE_SECONDS": "4",
    "INCIDENTS_WEBHOOK_TIMEOUT": "1.5",
}


# --- pure ----------------------------------------------------------------------------------------


def test_what_a_push_service_answer_means() -> None:
    assert outcome_of(201) == Outcome(Result.SENT) == outcome_of(202)
    assert outcome_of(404).result is Result.GONE and outcome_of(410).result is Result.GONE
    for status in (429, 500, 502, 503):
        assert outcome_of(status) == Outcome(Result.RETRY, f"HTTP {status}")
    assert outcome_of(400) == Outcome(Result.RETRY, "HTTP 400")  # the status, never the endpoint


def test_the_payload_stays_small_and_the_topic_valid() -> None:
    long = Notice(incident="abc.DEF/1", seq=3, event_type="update.posted", at="2026-11-22T07:00:00Z",
                  title="标题" * 3000, headline="第一行" * 3000, text="x" * 20000, url="https://e.org/i/a",
                  exercise=True, lang="zh-CN")  # fmt: skip
    assert len(payload(long)) < 3500  # a push message carries at most 4 KB, encrypted
    assert topic("abc.DEF/1") == "abcDEF1" and len(topic("x" * 80)) == 32


# --- a real server -------------------------------------------------------------------------------


async def eventually(check: Callable[[], bool], within: float, what: Callable[[], str]) -> None:
    deadline = time.monotonic() + scaled(within)
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within} s: {what()}")
        await asyncio.sleep(0.05)


async def subscribe(http: httpx.AsyncClient, browser: Browser, incident: str, level: str = "important",
                    lang: str = "en") -> dict[str, Any]:  # fmt: skip
    answer = await http.post("/api/subscriptions", json={
        "channel": "webpush", "incident": incident, "area": None, "level": level, "lang": lang,
        "push": browser.subscription(),
    })  # fmt: skip
    assert answer.status_code == 201, answer.text
    found: dict[str, Any] = answer.json()
    return found


async def test_pushes_are_encrypted_signed_and_only_the_important_ones(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'push.db'}"
    admin = add_operator(url, "admin")
    service = await PushService().start()
    with ServerProcess(url, env=ENV) as server:
        api = Api(server.url, admin)
        try:
            key = (await api.http.get("/api/push/key")).json()["public_key"]
            incident = await api.create("Water main burst on Wenhua Road")
            important, everything, gone = (Browser(service, n) for n in ("important", "everything", "gone"))
            service.statuses["gone"] = 410
            await subscribe(api.http, important, incident)
            await subscribe(api.http, everything, incident, level="all", lang="zh-CN")
            left = await subscribe(api.http, gone, incident)

            assert (
                await api.post(incident, "Water is off in Wenhua Road.\nCrews are on site.")
            ).status_code == 201
            assert (await api.post(incident, "Crews are digging.", notify=False)).status_code == 201
            assert (await api.post(incident, "Water is back at 02:00.", notify=True)).status_code == 201
            assert (await api.http.post(f"/api/incidents/{incident}/resolve", json={"reason": "repaired"})
                    ).status_code in (200, 201)  # fmt: skip

            await eventually(lambda: len(service.to("important")) >= 3 and len(service.to("everything")) >= 4,
                             20, lambda: str([(m.name, m.answered) for m in service.messages]))  # fmt: skip
            await asyncio.sleep(scaled(1))  # anything more would arrive by now
            told = [important.decrypt(m) for m in service.to("important")]
            assert [t["body"] for t in told[:2]] == [
                "Water is off in Wenhua Road.",
                "Water is back at 02:00.",
            ]
            assert len(told) == 3 and "repaired" in told[2]["body"]
            assert all(t["title"] == "Water main burst on Wenhua Road" and t["tag"] == incident for t in told)
            assert all(t["lang"] == "en" and t["exercise"] is False for t in told)
            assert told[0]["url"].startswith(
                f"{server.url}/incidents/{incident}?lang=en#u-"
            )  # serve: its own URL
            all_told = [everything.decrypt(m)["body"] for m in service.to("everything")]
            assert len(all_told) == 4 and "Crews are digging." in all_told  # "all" hears the rest too
            for message in service.to("important") + service.to("everything"):
                claims = check_vapid(message, important.endpoint, key)
                assert claims["exp"] > time.time() + 3600
                assert message.headers["urgency"] in ("high", "normal")
                assert int(message.headers["ttl"]) > 0 and message.headers["topic"]
            urgencies = [m.headers["urgency"] for m in service.to("everything")]
            assert urgencies.count("normal") == 1 and urgencies.count("high") == 3

            # 410 Gone: the subscription was removed at the first message, and nothing more went.
            assert len(service.to("gone")) == 1
            removed = await removals(url)
            assert removed == {left["id"]: "gone"}
            assert "endpoint" not in server.log() and "/push/" not in server.log()  # personal data
        finally:
            await api.aclose()
            await service.down()


async def removals(url: str) -> dict[str, str]:
    """Subscription id -> why it was removed, from the store; the personal data must be gone."""
    backend = open_backend(url)
    await backend.start()
    try:
        events = [e.decode() for e in await backend.read("subscriptions:all")]
        found = {e["data"]["id"]: e["data"]["reason"] for e in events if e["type"] == "subscription.removed"}
        for sub_id in found:
            doc = await backend.get_doc(f"subscription-personal:{sub_id}")
            assert doc is None or doc.value == {}
        return found
    finally:
        await backend.close()


async def send_to_many(server: ServerProcess, admin: str, service: PushService, count: int) -> tuple[
        Api, str, list[Browser]]:  # fmt: skip
    api = Api(server.url, admin)
    incident = await api.create("停电")
    browsers = [Browser(service, f"b{n:04d}") for n in range(count)]
    for chunk in range(0, count, 10):  # the per-address limit gives up after 20 conflicting writes
        await asyncio.gather(*(subscribe(api.http, b, incident) for b in browsers[chunk : chunk + 10]))
    return api, incident, browsers


def tally(service: PushService, browsers: list[Browser]) -> collections.Counter[tuple[str, str]]:
    """(browser, update text) -> how many times it was pushed (decrypted)."""
    by_name = {b.name: b for b in browsers}
    return collections.Counter((m.name, by_name[m.name].decrypt(m)["body"]) for m in service.messages
                               if m.name in by_name)  # fmt: skip


async def test_sigkill_mid_batch_resends_at_most_one_batch(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'kill.db'}"
    admin = add_operator(url, "admin")
    service = await PushService(delay=0.15).start()
    count, batch = 300, 20
    server = ServerProcess(url, env={**ENV, "INCIDENTS_NOTIFY_CONCURRENCY": str(batch)}).start()
    api: Api | None = None
    try:
        api, incident, browsers = await send_to_many(server, admin, service, count)
        assert (await api.post(incident, "第一次通报")).status_code == 201
        await eventually(lambda: len(service.messages) >= 100, 30, lambda: str(len(service.messages)))
        server.kill()  # mid-batch: 300 recipients, 20 at a time
        sent_before = len(service.messages)
        assert sent_before < count
        server.restart()
        await api.aclose()
        api = Api(server.url, admin)
        assert (await api.post(incident, "第二次通报", notify=True)).status_code == 201
        await eventually(lambda: len(tally(service, browsers)) >= 2 * count, 60,
                         lambda: f"{len(tally(service, browsers))} of {2 * count}")  # fmt: skip
        await asyncio.sleep(scaled(1))
        counts = tally(service, browsers)
        assert set(counts) == {(b.name, text) for b in browsers for text in ("第一次通报", "第二次通报")}
        duplicates = sum(n - 1 for n in counts.values())
        print(f"\nSIGKILL after {sent_before} of {count} pushes: {duplicates} duplicate(s) (batch {batch})")
        assert duplicates <= batch  # at most the batch in flight when the process died
        assert all(counts[(b.name, "第二次通报")] == 1 for b in browsers)  # no crash: exactly once
    finally:
        if api is not None:
            await api.aclose()
        await service.down()
        server.stop()


async def test_two_processes_on_redis_send_each_notification_once() -> None:
    service = await PushService().start()
    with RedisServer() as redis:
        admin = add_operator(redis.url, "admin")
        one = ServerProcess(redis.url, env=ENV).start()
        two = ServerProcess(redis.url, env=ENV).start()
        other = Api(two.url, admin)
        api: Api | None = None
        try:
            api, incident, browsers = await send_to_many(one, admin, service, 30)
            posts: list[Awaitable[httpx.Response]] = [
                (api, other)[n % 2].post(incident, f"通报 {n}", notify=True) for n in range(4)
            ]
            for post in posts:
                assert (await post).status_code == 201
            await eventually(lambda: len(service.messages) >= 4 * 30, 30, lambda: str(len(service.messages)))
            await asyncio.sleep(scaled(1.5))  # a second sender would show by now
            counts = tally(service, browsers)
            assert len(counts) == 4 * 30 and set(counts.values()) == {1}
        finally:
            if api is not None:
                await api.aclose()
            await other.aclose()
            await service.down()
            one.stop()
            two.stop()
