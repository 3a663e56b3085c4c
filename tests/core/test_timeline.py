"""The timeline rules, pure: events folded into state, commands decided on it. No I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from broadcaster.core import timeline as tl
from broadcaster.core.timeline import Incident, NotFound, RuleViolation

NOW = datetime(2026, 11, 22, 7, 0, 0, tzinfo=UTC)
OPEN_FIELDS = {
    "title": "文化路自来水爆管",
    "summary": "文化路花园路至东风路段自来水管道爆裂",
    "area": "文化路 花园路-东风路段",
    "severity": "moderate",
    "category": "Infra",
    "lang": "zh-CN",
    "exercise": False,
}


def at(minutes: int) -> str:
    return (NOW + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def event(
    seq: int, type_: str, data: dict[str, Any] | None = None, minutes: int | None = None
) -> dict[str, Any]:
    return {
        "incident": "inc1",
        "seq": seq,
        "type": type_,
        "at": at(seq if minutes is None else minutes),
        "data": data or {},
    }


class Log:
    """Builds a log with consecutive seqs, as the backend would."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def add(self, type_: str, data: dict[str, Any] | None = None) -> Log:
        self.events.append(event(len(self.events) + 1, type_, data))
        return self

    def open(self, **fields: Any) -> Log:
        return self.add("incident.opened", {**OPEN_FIELDS, **fields})

    def post(self, uid: str, body: str, next_update_at: str | None = None) -> Log:
        seq = len(self.events) + 1
        return self.add(
            "update.posted",
            {
                "id": uid,
                "body": body,
                "html": f"<p>{body}</p>",
                "published_at": at(seq),
                "next_update_at": next_update_at,
            },
        )

    def fold(self) -> Incident:
        incident = tl.fold(self.events)
        assert incident is not None
        return incident


def opened(**fields: Any) -> Log:
    return Log().open(**fields)


# --- folding -----------------------------------------------------------------------


def test_opened_sets_the_incident_fields() -> None:
    inc = opened().fold()
    assert inc.id == "inc1"
    assert inc.seq == 1
    assert inc.state == tl.LIVE
    assert inc.opened_at == inc.updated_at == at(1)
    for name, value in OPEN_FIELDS.items():
        assert getattr(inc, name) == value
    assert inc.updates == {}
    assert inc.facts == []
    assert inc.pinned is None
    assert inc.next_update_at is None


def test_fold_of_nothing_is_none() -> None:
    assert tl.fold([]) is None


def test_posted_update() -> None:
    inc = opened().post("u1", "工作人员已到场", at(60)).fold()
    update = inc.updates["u1"]
    assert update.body == "工作人员已到场"
    assert update.html == "<p>工作人员已到场</p>"
    assert update.published_at == at(2)
    assert update.next_update_at == at(60)
    assert update.status == "published"
    assert update.revisions == []
    assert inc.seq == 2
    assert inc.updated_at == at(2)
    assert inc.last_update_at == at(2)
    assert inc.next_update_at == at(60)


def test_correction_keeps_the_old_text_with_its_reason() -> None:
    log = opened().post("u1", "停水至18时")
    correction = {"id": "u1", "body": "停水至20时", "html": "<p>停水至20时</p>", "reason": "时间有误"}
    log.add("update.corrected", correction)
    inc = log.fold()
    update = inc.updates["u1"]
    assert update.status == "corrected"
    assert update.body == "停水至20时"
    assert update.html == "<p>停水至20时</p>"
    assert update.corrected_at == at(3)
    assert len(update.revisions) == 1
    old = update.revisions[0]
    assert (old.body, old.html, old.reason) == ("停水至18时", "<p>停水至18时</p>", "时间有误")
    assert old.replaced_at == at(3)
    # The public JSON carries the revisions too.
    assert update.to_json()["revisions"] == [
        {"body": "停水至18时", "html": "<p>停水至18时</p>", "replaced_at": at(3), "reason": "时间有误"}
    ]


def test_two_corrections_keep_both_old_texts_in_order() -> None:
    log = opened().post("u1", "A")
    log.add("update.corrected", {"id": "u1", "body": "B", "html": "<p>B</p>", "reason": "r1"})
    log.add("update.corrected", {"id": "u1", "body": "C", "html": "<p>C</p>", "reason": "r2"})
    update = log.fold().updates["u1"]
    assert update.body == "C"
    assert [(r.body, r.reason) for r in update.revisions] == [("A", "r1"), ("B", "r2")]


def test_retraction_after_correction() -> None:
    log = opened().post("u1", "A")
    log.add("update.corrected", {"id": "u1", "body": "B", "html": "<p>B</p>", "reason": "r1"})
    log.add("update.retracted", {"id": "u1", "reason": "信息不实"})
    update = log.fold().updates["u1"]
    assert update.status == "retracted"
    assert update.retracted_at == at(4)
    assert update.retraction_reason == "信息不实"
    assert update.body == "B"  # a retraction withdraws, it does not erase
    assert len(update.revisions) == 1


def test_retracting_the_pinned_update_unpins_it() -> None:
    log = opened().post("u1", "A").post("u2", "B").add("update.pinned", {"id": "u1"})
    assert log.fold().pinned == "u1"
    log.add("update.retracted", {"id": "u1", "reason": "错误"})
    inc = log.fold()
    assert inc.pinned is None
    assert all(not u["pinned"] for u in inc.snapshot()["updates"])


def test_retracting_another_update_keeps_the_pin() -> None:
    log = opened().post("u1", "A").post("u2", "B").add("update.pinned", {"id": "u1"})
    log.add("update.retracted", {"id": "u2", "reason": "错误"})
    assert log.fold().pinned == "u1"


def test_pin_and_unpin() -> None:
    log = opened().post("u1", "A").post("u2", "B").add("update.pinned", {"id": "u1"})
    assert log.fold().pinned == "u1"
    log.add("update.pinned", {"id": "u2"})
    assert log.fold().pinned == "u2"
    log.add("update.unpinned", {"id": "u2"})
    assert log.fold().pinned is None


def test_facts_are_replaced_whole() -> None:
    first = [{"label": "停水区域", "value": "文化路"}, {"label": "预计恢复", "value": "18:00"}]
    second = [{"label": "停水区域", "value": "文化路、花园路"}]
    log = opened().add("facts.changed", {"facts": first})
    assert log.fold().facts == first
    log.add("facts.changed", {"facts": second})
    inc = log.fold()
    assert inc.facts == second
    assert inc.snapshot()["facts"] == second


def test_edit_changes_only_the_named_fields() -> None:
    inc = opened().add("incident.edited", {"title": "新标题", "severity": "severe"}).fold()
    assert inc.title == "新标题"
    assert inc.severity == "severe"
    assert inc.area == OPEN_FIELDS["area"]


def test_resolve_clears_the_promise_and_reopen_makes_it_live() -> None:
    log = opened().post("u1", "A", at(90)).add("incident.resolved", {"reason": "已修复"})
    inc = log.fold()
    assert inc.state == tl.RESOLVED
    assert inc.resolved_at == at(3)
    assert inc.resolution == "已修复"
    assert inc.next_update_at is None
    assert inc.updates["u1"].next_update_at == at(90)  # the update itself still says what it promised
    log.add("incident.reopened", {"reason": "再次爆管"})
    inc = log.fold()
    assert inc.state == tl.LIVE
    assert inc.resolved_at is None
    assert inc.resolution is None
    assert inc.seq == 4


def test_next_update_at_follows_the_latest_update() -> None:
    log = opened().post("u1", "A", at(60))
    assert log.fold().next_update_at == at(60)
    log.post("u2", "B", at(30))  # an earlier promise, but the latest update's
    assert log.fold().next_update_at == at(30)
    log.post("u3", "C")  # no promise: none is left standing
    assert log.fold().next_update_at is None
    log.post("u4", "D", at(120))
    inc = log.fold()
    assert inc.next_update_at == at(120)
    assert inc.last_update_at == at(5)


def test_snapshot_lists_updates_newest_first_with_pinned_flags() -> None:
    log = opened().post("u1", "A").post("u2", "B").post("u3", "C").add("update.pinned", {"id": "u2"})
    snap = log.fold().snapshot()
    assert set(snap) == {"incident", "updates", "facts", "seq"}
    assert snap["seq"] == 5
    assert [u["id"] for u in snap["updates"]] == ["u3", "u2", "u1"]
    assert [u["pinned"] for u in snap["updates"]] == [False, True, False]
    assert snap["incident"]["pinned"] == "u2"
    assert snap["incident"]["update_count"] == 3
    assert snap["incident"]["seq"] == 5
    assert snap["incident"]["id"] == "inc1"


def test_fold_continues_from_a_given_state() -> None:
    log = opened().post("u1", "A")
    first = tl.fold(log.events[:1])
    assert first is not None
    inc = tl.fold(log.events[1:], first)
    assert inc is not None
    assert inc.seq == 2
    assert list(inc.updates) == ["u1"]


def test_event_before_opened_is_refused() -> None:
    with pytest.raises(ValueError, match=r"before incident\.opened"):
        tl.apply(None, event(1, "update.posted", {"id": "u1"}))


def test_second_opened_is_refused() -> None:
    inc = opened().fold()
    with pytest.raises(ValueError, match="first event"):
        tl.apply(inc, event(2, "incident.opened", OPEN_FIELDS))


def test_unknown_event_type_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown event type"):
        tl.apply(opened().fold(), event(2, "incident.exploded"))


# --- decisions -----------------------------------------------------------------------


def test_decide_open_takes_exactly_the_incident_fields() -> None:
    type_, data = tl.decide_open({**OPEN_FIELDS, "unrelated": 1})
    assert type_ == "incident.opened"
    assert data == {**OPEN_FIELDS, **tl.FIELD_DEFAULTS}  # the alert fields, when left out


def test_decide_post_notify_defaults_and_overrides() -> None:
    inc = opened().fold()
    assert inc is not None
    assert tl.decide_post(inc, "u1", "A", "", None, NOW)[1]["notify"] is True  # the first update
    assert tl.decide_post(inc, "u1", "A", "", None, NOW, notify=False)[1]["notify"] is False
    tl.apply(inc, event(2, "update.posted", tl.decide_post(inc, "u1", "A", "", None, NOW)[1]))
    assert tl.decide_post(inc, "u2", "B", "", None, NOW)[1]["notify"] is False
    assert tl.decide_post(inc, "u2", "B", "", at(60), NOW)[1]["notify"] is True  # promises the next
    assert tl.decide_post(inc, "u2", "B", "", None, NOW, notify=True)[1]["notify"] is True


def test_decide_post() -> None:
    type_, data = tl.decide_post(opened().fold(), "u1", "A", "<p>A</p>", at(60), NOW)
    assert type_ == "update.posted"
    assert data == {
        "id": "u1",
        "body": "A",
        "html": "<p>A</p>",
        "published_at": "2026-11-22T07:00:00.000Z",
        "next_update_at": at(60),
        "photos": [],
        "notify": True,  # the first update notifies, unless the operator says not to (issue 14)
    }
    photo = {
        "id": "a" * 24,
        "url": "/media/x.jpg",
        "thumb_url": "/media/x.thumb.jpg",
        "width": 4,
        "height": 3,
    }
    _, with_photo = tl.decide_post(opened().fold(), "u2", "B", "<p>B</p>", None, NOW, [photo])
    assert with_photo["photos"] == [photo]
    folded = tl.apply(
        opened().fold(),
        {"incident": "inc1", "seq": 2, "type": "update.posted", "at": at(0), "data": with_photo},
    )
    assert folded.updates["u2"].photos == [photo]
    assert folded.snapshot()["updates"][0]["photos"] == [photo]


def test_post_to_a_resolved_incident_is_refused() -> None:
    inc = opened().add("incident.resolved", {"reason": None}).fold()
    with pytest.raises(RuleViolation):
        tl.decide_post(inc, "u1", "A", "<p>A</p>", None, NOW)


def test_post_after_reopen_is_allowed() -> None:
    log = opened().add("incident.resolved", {"reason": None}).add("incident.reopened", {"reason": None})
    inc = log.fold()
    assert tl.decide_post(inc, "u1", "A", "<p>A</p>", None, NOW)[0] == "update.posted"


def test_post_with_an_existing_update_id_is_refused() -> None:
    inc = opened().post("u1", "A").fold()
    with pytest.raises(RuleViolation):
        tl.decide_post(inc, "u1", "B", "<p>B</p>", None, NOW)


def test_decide_correct() -> None:
    inc = opened().post("u1", "A").fold()
    assert tl.decide_correct(inc, "u1", "B", "<p>B</p>", "typo") == (
        "update.corrected",
        {"id": "u1", "body": "B", "html": "<p>B</p>", "reason": "typo"},
    )


def test_correcting_a_retracted_update_is_refused() -> None:
    inc = opened().post("u1", "A").add("update.retracted", {"id": "u1", "reason": "x"}).fold()
    with pytest.raises(RuleViolation):
        tl.decide_correct(inc, "u1", "B", "<p>B</p>", "typo")


def test_correcting_with_the_same_text_is_refused() -> None:
    inc = opened().post("u1", "A").fold()
    with pytest.raises(RuleViolation):
        tl.decide_correct(inc, "u1", "A", "<p>A</p>", "typo")


def test_decide_retract() -> None:
    inc = opened().post("u1", "A").fold()
    assert tl.decide_retract(inc, "u1", "wrong") == ("update.retracted", {"id": "u1", "reason": "wrong"})


def test_retracting_twice_is_refused() -> None:
    inc = opened().post("u1", "A").add("update.retracted", {"id": "u1", "reason": "x"}).fold()
    with pytest.raises(RuleViolation):
        tl.decide_retract(inc, "u1", "again")


@pytest.mark.parametrize(
    "decide",
    [
        lambda inc: tl.decide_correct(inc, "nope", "B", "<p>B</p>", "r"),
        lambda inc: tl.decide_retract(inc, "nope", "r"),
        lambda inc: tl.decide_pin(inc, "nope"),
        lambda inc: tl.decide_unpin(inc, "nope"),
    ],
    ids=["correct", "retract", "pin", "unpin"],
)
def test_unknown_update_is_not_found(decide: Any) -> None:
    inc = opened().post("u1", "A").fold()
    with pytest.raises(NotFound):
        decide(inc)


def test_decide_pin_and_unpin() -> None:
    log = opened().post("u1", "A")
    assert tl.decide_pin(log.fold(), "u1") == ("update.pinned", {"id": "u1"})
    log.add("update.pinned", {"id": "u1"})
    assert tl.decide_unpin(log.fold(), "u1") == ("update.unpinned", {"id": "u1"})


def test_pinning_a_retracted_update_is_refused() -> None:
    inc = opened().post("u1", "A").add("update.retracted", {"id": "u1", "reason": "x"}).fold()
    with pytest.raises(RuleViolation):
        tl.decide_pin(inc, "u1")


def test_pinning_the_pinned_update_again_is_refused() -> None:
    inc = opened().post("u1", "A").add("update.pinned", {"id": "u1"}).fold()
    with pytest.raises(RuleViolation):
        tl.decide_pin(inc, "u1")


def test_unpinning_an_update_that_is_not_pinned_is_refused() -> None:
    log = opened().post("u1", "A").post("u2", "B")
    with pytest.raises(RuleViolation):
        tl.decide_unpin(log.fold(), "u1")
    log.add("update.pinned", {"id": "u2"})
    with pytest.raises(RuleViolation):
        tl.decide_unpin(log.fold(), "u1")  # another one is pinned


def test_decide_facts() -> None:
    facts = [{"label": "停水区域", "value": "文化路"}]
    inc = opened().fold()
    assert tl.decide_facts(inc, facts) == ("facts.changed", {"facts": facts})
    inc = opened().add("facts.changed", {"facts": facts}).fold()
    with pytest.raises(RuleViolation):
        tl.decide_facts(inc, [dict(f) for f in facts])


def test_decide_resolve_and_reopen() -> None:
    log = opened()
    assert tl.decide_resolve(log.fold(), "fixed") == ("incident.resolved", {"reason": "fixed"})
    log.add("incident.resolved", {"reason": "fixed"})
    assert tl.decide_reopen(log.fold(), None) == ("incident.reopened", {"reason": None})


def test_resolving_twice_is_refused() -> None:
    inc = opened().add("incident.resolved", {"reason": None}).fold()
    with pytest.raises(RuleViolation):
        tl.decide_resolve(inc, "again")


def test_reopening_a_live_incident_is_refused() -> None:
    with pytest.raises(RuleViolation):
        tl.decide_reopen(opened().fold(), "why")


def test_decide_edit_keeps_only_the_changes() -> None:
    inc = opened().fold()
    assert tl.decide_edit(inc, {"title": "新标题", "area": OPEN_FIELDS["area"]}) == (
        "incident.edited",
        {"title": "新标题"},
    )


def test_edit_with_no_change_is_refused() -> None:
    inc = opened().fold()
    with pytest.raises(RuleViolation):
        tl.decide_edit(inc, {"title": OPEN_FIELDS["title"], "severity": OPEN_FIELDS["severity"]})
    with pytest.raises(RuleViolation):
        tl.decide_edit(inc, {})


@pytest.mark.parametrize("changes", [{"exercise": True}, {"exercise": True, "title": "新标题"}, {"id": "x"}])
def test_edit_of_a_field_that_is_not_editable_is_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(RuleViolation):
        tl.decide_edit(opened().fold(), changes)


# --- alert fields, expected restoration, translations ----------------------------------


def test_an_older_log_without_the_alert_fields_folds_to_their_defaults() -> None:
    inc = opened().fold()  # OPEN_FIELDS predates urgency, certainty, area_shape, ...
    assert (inc.urgency, inc.certainty, inc.instruction) == ("expected", "observed", "")
    assert inc.area_shape is None
    assert inc.expected_restoration is None
    assert inc.restoration_changes == []
    assert inc.to_json()["restoration_changes"] == []


def test_revising_the_expected_restoration_keeps_each_earlier_estimate() -> None:
    log = opened(expected_restoration=at(900))
    log.add("incident.edited", {"expected_restoration": at(1080)})
    log.add("incident.edited", {"urgency": "immediate"})  # no revision
    log.add("incident.edited", {"expected_restoration": None})
    log.add("incident.edited", {"expected_restoration": at(1200)})  # a new estimate, not a revision
    inc = log.fold()
    assert inc.expected_restoration == at(1200)
    assert [(c.before, c.after, c.at) for c in inc.restoration_changes] == [
        (at(900), at(1080), at(2)),
        (at(1080), None, at(4)),
    ]
    assert inc.to_json()["restoration_changes"][0] == {"before": at(900), "after": at(1080), "at": at(2)}


def test_the_alert_fields_are_editable_and_two_can_be_cleared() -> None:
    inc = opened(expected_restoration=at(900)).fold()
    circle = {"type": "circle", "center": [34.7466, 113.6253], "radius_km": 1.5}
    assert tl.decide_edit(
        inc, {"area_shape": circle, "expected_restoration": None, "urgency": "immediate"}
    ) == (
        "incident.edited",
        {"area_shape": circle, "expected_restoration": None, "urgency": "immediate"},
    )
    assert set(tl.CLEARABLE_FIELDS) <= set(tl.EDITABLE_FIELDS)


def test_a_translation_is_kept_shown_per_language_and_dropped_by_a_correction_without_one() -> None:
    inc = opened().fold()
    english = {"en": {"body": "Crews are on site.", "html": "<p>Crews are on site.</p>"}}
    _, data = tl.decide_post(inc, "u1", "工作人员已到场", "<p>工作人员已到场</p>", None, NOW, None, english)
    assert data["translations"] == english
    log = opened().add("update.posted", data)
    update = log.fold().updates["u1"]
    assert update.translation("en-GB") == ("en", english["en"])
    assert update.translation("zh-CN") is None
    assert update.to_json()["translations"] == english
    log.add(
        "update.corrected", {"id": "u1", "body": "工作人员已到达现场", "html": "<p>x</p>", "reason": "措辞"}
    )
    assert log.fold().updates["u1"].translations == {}  # never an English text of the old wording


def test_a_translation_in_the_incident_s_own_language_is_refused() -> None:
    inc = opened().fold()
    same = {"zh-Hans": {"body": "重复", "html": "<p>重复</p>"}}
    with pytest.raises(ValueError, match="own language"):
        tl.decide_post(inc, "u1", "正文", "<p>正文</p>", None, NOW, None, same)
    twice = {"en": {"body": "a", "html": "a"}, "en-GB": {"body": "b", "html": "b"}}
    with pytest.raises(ValueError, match="one per language"):
        tl.decide_post(inc, "u1", "正文", "<p>正文</p>", None, NOW, None, twice)


def test_a_correction_of_the_translation_alone_is_a_correction() -> None:
    english = {"en": {"body": "On site.", "html": "<p>On site.</p>"}}
    _, posted = tl.decide_post(opened().fold(), "u1", "到场", "<p>到场</p>", None, NOW, None, english)
    log = opened().add("update.posted", posted)
    fixed = {"en": {"body": "Crews on site.", "html": "<p>Crews on site.</p>"}}
    type_, data = tl.decide_correct(log.fold(), "u1", "到场", "<p>到场</p>", "英文有误", fixed)
    assert (type_, data["translations"]) == ("update.corrected", fixed)
    with pytest.raises(RuleViolation, match="same"):
        tl.decide_correct(log.fold(), "u1", "到场", "<p>到场</p>", "无变化", english)


# --- promises ----------------------------------------------------------------------


def test_check_promise_none_is_none() -> None:
    assert tl.check_promise(None, NOW) is None


def test_check_promise_normalises_to_utc_with_milliseconds() -> None:
    assert tl.check_promise("2026-11-22T17:30:00+08:00", NOW) == "2026-11-22T09:30:00.000Z"
    assert tl.check_promise("2026-11-22T17:30:00.5+08:00", NOW) == "2026-11-22T09:30:00.500Z"
    assert tl.check_promise("2026-11-22T09:30:00Z", NOW) == "2026-11-22T09:30:00.000Z"


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-22T15:00:00+08:00",  # 07:00 UTC: exactly now is not the future
        "2026-11-22T14:59:59+08:00",
        "2020-01-01T00:00:00Z",
    ],
)
def test_check_promise_refuses_the_past(text: str) -> None:
    with pytest.raises(ValueError, match="future"):
        tl.check_promise(text, NOW)


@pytest.mark.parametrize(
    "text", ["2026-11-22T17:30:00", "2030-01-01", "tomorrow", "", "2026-13-01T00:00:00Z"]
)
def test_check_promise_refuses_malformed_or_offsetless_times(text: str) -> None:
    with pytest.raises(ValueError):
        tl.check_promise(text, NOW)


@pytest.mark.parametrize(
    "text", ["9999-12-31T23:59:59-14:00", "9999-12-31T23:59:59Z", "2040-01-01T00:00:00Z"]
)
def test_check_promise_refuses_times_beyond_ten_years(text: str) -> None:
    """A promise ten years away is a typing mistake (and year 9999 at -14:00 is year
    10000 in UTC, which no page could show)."""
    with pytest.raises(ValueError, match="within 10 years from now"):
        tl.check_promise(text, NOW)
