"""Citizens' reports without sockets: tracking codes, the rules, the fold, the statistics.

The statistics are checked against ZZIC's own eight months (seed-zzic-2011): 8,136 reports
received from July 2010 to March 2011, 7,876 replied, a reply rate of 96.8 %.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from broadcaster.core.events import format_time
from broadcaster.core.timeline import NotFound
from broadcaster.reports import codes, listing
from broadcaster.reports import rules as rp
from broadcaster.reports.chart import chart, nice_ceiling
from broadcaster.reports.rules import Refused, ReportEvent, Status
from broadcaster.reports.stats import summarise

BY = {"id": "op1", "name": "ZZIC"}
ZONE = "Asia/Shanghai"


class Log:
    """Events appended the way the service does: decided, then folded."""

    def __init__(self) -> None:
        self.index: rp.Index = {}
        self.seq = 0
        self.now = datetime(2010, 10, 8, 2, 0, tzinfo=UTC)

    def append(self, decision: rp.Decision, at: datetime | None = None) -> rp.Report:
        type_, data = decision
        self.seq += 1
        event = {
            "reports": "all",
            "seq": self.seq,
            "type": type_,
            "at": format_time(at or self.now),
            "data": data,
        }
        rp.apply(self.index, event)
        return self.index[data["code"]]

    def receive(self, code: str, title: str = "天伦路路灯不亮", at: datetime | None = None) -> rp.Report:
        return self.append(rp.decide_receive(code, title, "有路无灯，行人走路很危险。", "天伦路", None), at)


# --- tracking codes ---------------------------------------------------------------------------


def test_codes_are_easy_to_read_out_and_hard_to_guess() -> None:
    made = {codes.new_code("ZZ") for _ in range(2000)}
    assert len(made) == 2000
    for code in made:
        prefix, first, second = code.split("-")
        assert prefix == "ZZ" and len(first) == len(second) == 4
        assert not set(first + second) & set("ILOU")
    assert len(codes.CODE_ALPHABET) ** codes.CODE_LENGTH > 10**11


@pytest.mark.parametrize(
    "typed", ["ZZ-7K4M-Q2PD", "zz-7k4m-q2pd", "zz7k4mq2pd", "7K4M Q2PD", " ZZ 7K4M-Q2PD ", "zz_7k4m.q2pd"]
)
def test_a_code_is_found_however_it_was_typed(typed: str) -> None:
    assert codes.normalise_code(typed, "ZZ") == "ZZ-7K4M-Q2PD"


def test_confusable_letters_are_read_as_the_digits_they_look_like() -> None:
    assert codes.normalise_code("ZZ-2OIL-3456", "ZZ") == "ZZ-2011-3456"
    assert codes.normalise_code("zz 2oil 3456", "ZZ") == "ZZ-2011-3456"
    assert codes.normalise_code("ZZ-22U2-3456", "ZZ") == "ZZ-22V2-3456"


@pytest.mark.parametrize(
    "typed", ["", "ZZ", "ZZ-7K4M", "ZZ-7K4M-Q2PD-X", "../../etc", "ZZ-7K4M-Q2P!", "字" * 8]
)
def test_what_cannot_be_a_code_is_none(typed: str) -> None:
    assert codes.normalise_code(typed, "ZZ") is None


# --- the rules --------------------------------------------------------------------------------


def test_the_path_received_assigned_replied_resolved() -> None:
    log = Log()
    report = log.receive("ZZ-2222-2222")
    assert report.status == Status.RECEIVED
    with pytest.raises(Refused, match="before resolving"):
        rp.decide_resolve(report, None, BY)
    log.append(rp.decide_assign(report, BY, department="市政管理局"))
    assert (report.status, report.department) == (Status.ASSIGNED, "市政管理局")
    with pytest.raises(Refused, match="already assigned"):
        rp.decide_assign(report, BY, department="市政管理局")
    log.append(rp.decide_reply(report, "已协调相关部门，3月10日前安装完毕。", BY))
    assert report.status == Status.REPLIED and report.first_reply_at is not None
    log.append(rp.decide_assign(report, BY, operator=("op2", "值班员")))  # reassigning keeps "replied"
    assert report.status == Status.REPLIED and report.operator_name == "值班员" and report.department is None
    log.append(rp.decide_resolve(report, "天伦路灯火通明", BY))
    assert report.status == Status.RESOLVED and report.resolution == "天伦路灯火通明"
    for refused in (
        lambda: rp.decide_reply(report, "again", BY),
        lambda: rp.decide_resolve(report, None, BY),
        lambda: rp.decide_assign(report, BY, department="其他"),
    ):
        with pytest.raises(Refused, match="resolved already"):
            refused()
    assert [s.type for s in report.history] == [
        "report.received", "report.assigned", "report.replied", "report.assigned", "report.resolved",
    ]  # fmt: skip


def test_a_reply_without_an_assignment_is_fine() -> None:
    log = Log()
    report = log.receive("ZZ-2222-2223")
    log.append(rp.decide_reply(report, "已转交自来水公司。", BY))
    assert report.status == Status.REPLIED and report.assigned_at is None


def test_hidden_reports_take_no_work_until_shown_again() -> None:
    log = Log()
    report = log.receive("ZZ-3333-3333")
    log.append(rp.decide_hide(report, "广告", BY))
    assert report.hidden and not report.counted
    for refused in (
        lambda: rp.decide_reply(report, "x", BY),
        lambda: rp.decide_assign(report, BY, department="x"),
        lambda: rp.decide_link(report, "abc", BY),
        lambda: rp.decide_hide(report, None, BY),
    ):
        with pytest.raises(Refused):
            refused()
    log.append(rp.decide_unhide(report, BY))
    assert not report.hidden
    with pytest.raises(Refused, match="not hidden"):
        rp.decide_unhide(report, BY)
    log.append(rp.decide_reply(report, "已处理", BY))


def test_merges_point_to_the_original_and_never_chain() -> None:
    log = Log()
    original, first, second = (log.receive(c) for c in ("ZZ-4444-4444", "ZZ-4444-4445", "ZZ-4444-4446"))
    with pytest.raises(Refused, match="itself"):
        rp.decide_merge(original, rp.root(log.index, original.code), BY)
    log.append(rp.decide_merge(first, rp.root(log.index, original.code), BY))
    assert first.merged_into == original.code and original.duplicates == [first.code]
    with pytest.raises(Refused, match="merged into"):
        rp.decide_reply(first, "x", BY)
    # Into a duplicate: lands on its original.
    log.append(rp.decide_merge(second, rp.root(log.index, first.code), BY))
    assert second.merged_into == original.code
    # The original cannot be merged away while duplicates point at it.
    other = log.receive("ZZ-4444-4447")
    with pytest.raises(Refused, match="other reports were merged"):
        rp.decide_merge(original, other, BY)
    hidden = log.receive("ZZ-4444-4448")
    log.append(rp.decide_hide(hidden, None, BY))
    with pytest.raises(Refused, match="hidden"):
        rp.decide_merge(other, hidden, BY)
    with pytest.raises(NotFound):
        rp.root(log.index, "ZZ-9999-9999")


def test_linking_to_an_incident_and_relinking() -> None:
    log = Log()
    report = log.receive("ZZ-5555-5555")
    log.append(rp.decide_link(report, "inc1", BY))
    assert report.incident == "inc1"
    with pytest.raises(Refused, match="already linked"):
        rp.decide_link(report, "inc1", BY)
    log.append(rp.decide_link(report, "inc2", BY, created=True))
    assert report.incident == "inc2"


def test_the_public_view_carries_no_contact_and_no_operator_name() -> None:
    log = Log()
    report = log.receive("ZZ-6666-6666")
    log.append(rp.decide_assign(report, BY, operator=("op7", "张三")))
    view = report.public_json("ZZIC")
    assert view["assigned_to"] == "ZZIC"
    assert "张三" not in repr(view) and "op7" not in repr(view) and "contact" not in view
    assert report.inbox_json()["assigned_to"] == "张三"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"title": " ", "body": "b", "location": "l", "contact": None}, "title"),
        ({"title": "t", "body": "", "location": "l", "contact": None}, "body"),
        ({"title": "t", "body": "b", "location": None, "contact": None}, "location"),
        ({"title": "t" * 201, "body": "b", "location": "l", "contact": None}, "title"),
        ({"title": "t", "body": "b" * 5001, "location": "l", "contact": None}, "body"),
        ({"title": "t", "body": "b", "location": "l", "contact": "c" * 201}, "contact"),
        ({"title": "t\x00", "body": "b", "location": "l", "contact": None}, "title"),
        ({"title": "t", "body": 3, "location": "l", "contact": None}, "body"),
    ],
)
def test_submissions_are_checked_field_by_field(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(rp.FieldProblem) as caught:
        rp.check_submission(**fields)
    assert caught.value.field == field


def test_the_inbox_lists_newest_first_and_filters() -> None:
    log = Log()
    for n, (title, place) in enumerate(
        [("路灯不亮", "天伦路"), ("斑马线断头", "郑开大道"), ("乘车难", "解放路")]
    ):
        log.receive(f"ZZ-7777-777{n + 2}", title, log.now + timedelta(minutes=n))
        log.index[f"ZZ-7777-777{n + 2}"].location = place
    assert [r.title for r in listing.inbox(log.index)] == ["乘车难", "斑马线断头", "路灯不亮"]
    assert [r.title for r in listing.inbox(log.index, text="郑开")] == ["斑马线断头"]
    log.append(rp.decide_reply(log.index["ZZ-7777-7772"], "ok", BY))
    assert [r.code for r in listing.inbox(log.index, status="replied")] == ["ZZ-7777-7772"]
    log.append(rp.decide_hide(log.index["ZZ-7777-7773"], None, BY))
    assert [r.code for r in listing.inbox(log.index, show="hidden")] == ["ZZ-7777-7773"]
    assert "ZZ-7777-7773" not in [r.code for r in listing.inbox(log.index)]


# --- the statistics ----------------------------------------------------------------------------

ZZIC_MONTHS = [  # received, replied: eight months and a half, 8,136 and 7,876 in all
    ("2010-07", 420, 395), ("2010-08", 905, 868), ("2010-09", 1010, 979), ("2010-10", 1102, 1071),
    ("2010-11", 1230, 1195), ("2010-12", 1050, 1019), ("2011-01", 810, 786), ("2011-02", 705, 682),
    ("2011-03", 904, 881),
]  # fmt: skip


def zzic_log() -> tuple[Log, list[float]]:
    """ZZIC's eight months as events: per month, the replied reports get replies between
    30 minutes and 3 days later; returns the log and every first-reply delay (seconds)."""
    rng = random.Random(2011)
    log = Log()
    delays: list[float] = []
    n = 0
    for month, received, replied in ZZIC_MONTHS:
        year, number = (int(p) for p in month.split("-"))
        start = (
            datetime(year, number, 1, tzinfo=UTC) - timedelta(hours=8) + timedelta(hours=9)
        )  # 09:00 Beijing
        for i in range(received):
            n += 1
            at = start + timedelta(hours=(i * 600 // received))  # spread over the first 25 days
            report = log.receive(f"ZZ-{n:04d}-0000", at=at)
            if i < replied:
                delay = rng.uniform(1800, 3 * 86400)
                delays.append(delay)
                log.append(rp.decide_reply(report, "已回复", BY), at + timedelta(seconds=delay))
                if i % 3 == 0:
                    log.append(rp.decide_resolve(report, None, BY), at + timedelta(seconds=delay + 3600))
    return log, delays


def test_zzic_eight_months_give_its_figures() -> None:
    log, delays = zzic_log()
    assert len(log.index) == 8136
    started = time.perf_counter()
    found = summarise(log.index.values(), ZONE)
    elapsed = time.perf_counter() - started
    data = found.to_json()
    assert (data["received"], data["replied"]) == (8136, 7876)
    assert data["reply_rate"] == 0.968  # ZZIC: 办结回复率96.8%
    assert [(m["month"], m["received"], m["replied"]) for m in data["months"]] == ZZIC_MONTHS
    assert data["resolved"] == sum((replied + 2) // 3 for _, _, replied in ZZIC_MONTHS)
    delays.sort()
    middle = len(delays) // 2
    assert abs(data["median_first_reply_seconds"] - (delays[middle - 1] + delays[middle]) / 2) <= 1
    assert elapsed < 1.0, f"statistics over 8,136 reports took {elapsed:.2f} s"


def test_a_range_counts_the_months_it_covers_and_hidden_or_merged_do_not_count() -> None:
    log, _ = zzic_log()
    autumn = summarise(log.index.values(), ZONE, date(2010, 10, 1), date(2010, 11, 30)).to_json()
    assert (autumn["received"], autumn["replied"]) == (1102 + 1230, 1071 + 1195)
    assert [m["month"] for m in autumn["months"]] == ["2010-10", "2010-11"]
    first, second = list(log.index.values())[:2]
    log.append(rp.decide_hide(first, "广告", BY))
    log.append(rp.decide_merge(second, list(log.index.values())[5], BY))
    july = summarise(log.index.values(), ZONE, date(2010, 7, 1), date(2010, 7, 31)).to_json()
    assert july["received"] == 420 - 2
    with pytest.raises(ValueError, match="from"):
        summarise(log.index.values(), ZONE, date(2011, 1, 2), date(2011, 1, 1))


def test_months_are_those_of_the_organisations_zone_and_gaps_are_filled() -> None:
    log = Log()
    # 30 June 16:30 UTC is 1 July 00:30 in Zhengzhou.
    log.receive("ZZ-8888-8882", at=datetime(2010, 6, 30, 16, 30, tzinfo=UTC))
    log.receive("ZZ-8888-8883", at=datetime(2010, 9, 2, 1, 0, tzinfo=UTC))
    months = summarise(log.index.values(), ZONE).to_json()["months"]
    assert [(m["month"], m["received"]) for m in months] == [("2010-07", 1), ("2010-08", 0), ("2010-09", 1)]
    assert months[1]["reply_rate"] is None and months[1]["median_first_reply_seconds"] is None
    assert summarise([], ZONE).to_json()["months"] == []


def test_the_chart_scales_to_a_round_top_and_has_a_bar_pair_per_month() -> None:
    assert [nice_ceiling(n) for n in (0, 1, 3, 10, 11, 230, 1230)] == [1, 1, 5, 10, 20, 500, 2000]
    log, _ = zzic_log()
    drawn = chart(summarise(log.index.values(), ZONE).months)
    assert len(drawn.groups) == 9
    tallest = max(drawn.groups, key=lambda g: g.received.value)
    assert tallest.received.value == 1230 and tallest.received.y >= 0
    assert all(g.replied.height <= g.received.height for g in drawn.groups)
    assert [t.value for t in drawn.ticks] == [0, 1000, 2000]
    assert [g.first_of_year for g in drawn.groups] == [True] + [False] * 5 + [True, False, False]


def test_an_unknown_event_type_is_a_corrupt_log() -> None:
    log = Log()
    log.receive("ZZ-9999-9992")
    with pytest.raises(ValueError, match="unknown"):
        rp.apply(log.index, {"seq": 9, "type": "report.exploded", "at": "2010-10-08T02:00:00.000Z",
                             "data": {"code": "ZZ-9999-9992"}})  # fmt: skip
    assert ReportEvent.LINKED == "report.linked"
