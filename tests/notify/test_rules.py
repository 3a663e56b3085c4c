"""The rules of notifications, pure: what is important, what a notice says, what a
subscription request must be."""

from __future__ import annotations

import re
from typing import Any

import pytest

from broadcaster.core import timeline as tl
from broadcaster.core.timeline import Incident
from broadcaster.core.types import JSON
from broadcaster.notify import Level
from broadcaster.notify.rules import check_request, importance, notice

KEY = "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM"
AUTH = "tBHItJI5svbpez7KI4CCXg"


class Log:
    """An incident's events, folded as they come (``before`` is the state before the last)."""

    def __init__(self, exercise: bool = False) -> None:
        self.seq = 0
        self.incident: Incident | None = None
        self.before: Incident | None = None
        fields = {"title": "文化路停水", "summary": "文化路（花园路—东风路段）停水抢修",
                  "area": "金水区", "severity": "moderate", "category": "Infra", "lang": "zh-CN",
                  "exercise": exercise}  # fmt: skip
        self.opened = self.add(*tl.decide_open(fields))

    def add(self, type_: str, data: JSON, at: str = "2024-05-01T10:00:00Z") -> JSON:
        self.seq += 1
        event = {"incident": "inc1", "seq": self.seq, "type": type_, "at": at, "data": data}
        import copy

        self.before = copy.deepcopy(self.incident)
        self.incident = tl.apply(self.incident, event)
        return event

    def post(self, body: str, next_update_at: str | None = None, **extra: Any) -> JSON:
        uid = f"u{self.seq + 1}"
        return self.add("update.posted", {"id": uid, "body": body, "html": "", "published_at":
                        "2024-05-01T10:00:00Z", "next_update_at": next_update_at, **extra})  # fmt: skip

    def level(self, event: JSON) -> Level | None:
        return importance(self.before, event)


def test_what_is_important_and_what_wakes_nobody() -> None:
    log = Log()
    assert importance(None, log.opened) == Level.IMPORTANT
    assert log.level(log.post("第一条")) == Level.IMPORTANT  # the first update
    assert log.level(log.post("第二条")) == Level.ALL  # no flag (older events): not important
    assert log.level(log.post("有下次", next_update_at="2024-05-01T12:00:00Z")) == Level.IMPORTANT
    assert log.level(log.post("标记", notify=True)) == Level.IMPORTANT
    assert log.level(log.post("不通知", next_update_at="2024-05-01T12:00:00Z", notify=False)) == Level.ALL
    assert log.level(log.add("update.corrected", {"id": "u2", "body": "第一条。", "html": "",
                                                  "reason": "typo"})) is None  # fmt: skip
    assert log.level(log.add("update.pinned", {"id": "u2"})) == Level.IMPORTANT
    assert log.level(log.add("update.unpinned", {"id": "u2"})) is None
    assert log.level(log.add("update.retracted", {"id": "u3", "reason": "wrong"})) == Level.IMPORTANT
    assert log.level(log.add("facts.changed", {"facts": [{"label": "a", "value": "b"}]})) == Level.ALL
    assert log.level(log.add("incident.edited", {"title": "文化路停水（更新）"})) is None
    set_ = log.add("incident.edited", {"expected_restoration": "2024-05-01T18:00:00Z"})
    assert log.level(set_) == Level.IMPORTANT
    assert (
        log.level(log.add("incident.edited", {"expected_restoration": "2024-05-01T20:00:00Z"}))
        == Level.IMPORTANT
    )
    assert log.level(log.add("incident.edited", {"expected_restoration": None})) == Level.IMPORTANT
    assert log.level(log.add("incident.resolved", {"reason": "已恢复供水"})) == Level.IMPORTANT
    assert log.level(log.add("incident.reopened", {"reason": None})) == Level.IMPORTANT


def test_the_first_update_marked_not_to_notify_is_for_every_update_only() -> None:
    log = Log()
    assert log.level(log.post("第一条", notify=False)) == Level.ALL


def test_notices_in_both_languages() -> None:
    log = Log()
    url = "https://alerts.example.org/"
    opened = notice(log.incident, log.opened, "en", url)  # type: ignore[arg-type]
    assert opened.headline == "New incident: 文化路（花园路—东风路段）停水抢修"
    assert opened.url == "https://alerts.example.org/incidents/inc1?lang=en"
    posted = log.post(
        "## **抢修进展**\n\n第二段", translations={"en": {"body": "Repair *under way*\nmore", "html": ""}}
    )
    zh = notice(log.incident, posted, "zh-CN", url)  # type: ignore[arg-type]
    assert (zh.headline, zh.update_id, zh.seq) == ("抢修进展", "u2", 2)
    assert zh.url.endswith("/incidents/inc1?lang=zh-CN#u-u2")
    assert zh.text.startswith("## **抢修进展**")
    en = notice(log.incident, posted, "en", url)  # type: ignore[arg-type]
    assert en.headline == "Repair *under way*"  # the operator's translation, when there is one
    when = log.add("incident.edited", {"expected_restoration": "2024-05-01T18:00:00Z"})
    assert notice(log.incident, when, "zh-CN", url).headline == "预计恢复时间：5月2日 02:00"  # type: ignore[arg-type]
    revised = log.add("incident.edited", {"expected_restoration": "2024-05-01T20:30:00Z"})
    assert notice(log.incident, revised, "zh-CN", url).headline == "预计恢复时间改为 5月2日 04:30"  # type: ignore[arg-type]
    assert (
        notice(log.incident, revised, "en", url).headline == "Expected restoration revised to 2 May 04:30 CST"
    )  # type: ignore[arg-type]
    london = notice(log.incident, revised, "en", url, zone="Europe/London")  # type: ignore[arg-type]
    assert london.headline == "Expected restoration revised to 1 May 21:30 BST"
    resolved = log.add("incident.resolved", {"reason": "已恢复供水"})
    assert notice(log.incident, resolved, "zh-CN", url).headline == "已结束：已恢复供水"  # type: ignore[arg-type]
    assert notice(log.incident, resolved, "en", url).headline == "Resolved: 已恢复供水"  # type: ignore[arg-type]


def test_a_drill_is_marked_and_long_lines_are_cut() -> None:
    log = Log(exercise=True)
    posted = log.post("演" * 300)
    zh = notice(log.incident, posted, "zh-CN", "http://x")  # type: ignore[arg-type]
    en = notice(log.incident, posted, "en", "http://x")  # type: ignore[arg-type]
    assert zh.exercise and zh.headline.startswith("【演练】演") and zh.headline.endswith("…")
    assert len(zh.headline) == len("【演练】") + 140
    assert en.headline.startswith("[Drill] ")


PUSH = {"endpoint": "https://push.example.org/send/abc", "keys": {"p256dh": KEY, "auth": AUTH},
        "expirationTime": None}  # fmt: skip


def good(**changes: Any) -> JSON:
    body: JSON = {
        "channel": "webpush",
        "incident": "inc1",
        "level": "important",
        "lang": "zh-CN",
        "push": PUSH,
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not ...}


def test_a_good_request_is_checked_and_normalised() -> None:
    push = check_request(good())
    assert push.personal == {"push": {"endpoint": PUSH["endpoint"], "keys": PUSH["keys"]}}
    assert push.address == PUSH["endpoint"] and push.drills
    mail = check_request(good(channel="email", push=..., email="Li.Wei@Example.ORG", incident=None,
                              area={"type": "circle", "center": [34.7, 113.6], "radius_km": 2}))  # fmt: skip
    assert mail.personal == {"email": "Li.Wei@example.org"} and mail.address == "li.wei@example.org"
    assert mail.area == {"type": "circle", "center": [34.7, 113.6], "radius_km": 2.0}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"channel": "sms"}, "channel:"),
        ({"incident": None}, "incident:"),  # neither
        ({"area": {"type": "circle", "center": [1, 2], "radius_km": 1}}, "incident:"),  # both
        (
            {"incident": None, "area": {"type": "circle", "center": [1, 2], "radius_km": 0.4}},
            "area.radius_km:",
        ),
        (
            {"incident": None, "area": {"type": "circle", "center": [1, 2], "radius_km": 21}},
            "area.radius_km:",
        ),
        ({"incident": None, "area": {"type": "circle", "center": [91, 2], "radius_km": 2}}, "area.center:"),
        ({"incident": None, "area": {"type": "polygon", "points": []}}, "area:"),
        ({"level": "some"}, "level:"),
        ({"lang": "fr"}, "lang:"),
        ({"drills": "yes"}, "drills:"),
        ({"incident": "../x"}, "incident:"),
        ({"extra": 1}, "extra:"),
        ({"push": ...}, "push:"),
        ({"push": {**PUSH, "endpoint": "http://push.example.org/x"}}, "push.endpoint:"),
        ({"push": {**PUSH, "endpoint": "https://127.0.0.1/x"}}, "push.endpoint:"),
        ({"push": {**PUSH, "endpoint": "https://[::1]/x"}}, "push.endpoint:"),
        ({"push": {**PUSH, "endpoint": "https://10.1.2.3/x"}}, "push.endpoint:"),
        ({"push": {**PUSH, "endpoint": "https://localhost/x"}}, "push.endpoint:"),
        ({"push": {**PUSH, "keys": {"p256dh": KEY}}}, "push.keys:"),
        ({"push": {**PUSH, "keys": {"p256dh": AUTH, "auth": AUTH}}}, "push.keys.p256dh:"),
        ({"push": {**PUSH, "keys": {"p256dh": KEY, "auth": "a+b/"}}}, "push.keys.auth:"),
        ({"email": "a@b.org"}, "email:"),  # not for Web Push
        ({"channel": "email", "push": ..., "email": "not an address"}, "email:"),
        ({"channel": "email", "push": ..., "email": "a@b"}, "email:"),
        ({"channel": "email", "push": ..., "email": "a@b.org\r\nBcc: x@y.org"}, "email:"),
        ({"channel": "email", "push": ...}, "email:"),
        ({"channel": "email"}, "push:"),  # a push subscription on an e-mail request
    ],
)
def test_a_bad_request_names_the_field(changes: JSON, field: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(field)}"):
        check_request(good(**changes))


def test_private_endpoints_only_when_allowed() -> None:
    local = {**PUSH, "endpoint": "http://127.0.0.1:9999/push"}
    assert (
        check_request(good(push=local), allow_private=True).personal["push"]["endpoint"] == local["endpoint"]
    )
    with pytest.raises(ValueError, match=r"^push\.endpoint:"):
        check_request(good(push=local))
