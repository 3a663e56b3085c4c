"""The demo's script and its compressed clock (pure rules)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from broadcaster.demo.runner import load_script
from broadcaster.demo.script import Clock, check_speed, parse, story_minute

START = datetime.fromisoformat("2010-11-22T13:45:00+08:00")
REAL = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


def test_story_times_after_the_start_and_into_the_next_day() -> None:
    assert story_minute("13:45", START) == 0
    assert story_minute("15:15", START) == 90
    assert story_minute("24:00", START) == 615
    assert story_minute("00:10", START) == 625  # earlier than the start: the next day
    for bad in ("24:01", "7:00", "25:00", "15:60", "noon"):
        with pytest.raises(ValueError, match="story time"):
            story_minute(bad, START)


@pytest.mark.parametrize("speed", [0.0, -1.0, float("inf"), float("nan")])
def test_speed_must_be_a_finite_number_above_zero(speed: float) -> None:
    with pytest.raises(ValueError, match="> 0"):
        check_speed(speed)


def test_the_clock_compresses_and_fills_placeholders() -> None:
    clock = Clock(START, REAL, 60.0, ZoneInfo("Asia/Shanghai"))
    assert clock.at("15:15") == REAL + timedelta(minutes=1.5)
    assert clock.fill("预计{02:00}前（原{23:00}）", REAL) == "预计10:12前（原10:09）"
    # A whole placeholder is an RFC 3339 time; nested values are filled too.
    assert clock.fill({"x": ["{15:15}"]}, REAL) == {"x": ["2026-01-05T02:01:30.000Z"]}
    # Running late never promises a past time.
    late = REAL + timedelta(hours=1)
    assert clock.instant("15:15", late) == "2026-01-05T03:00:01.000Z"


def test_the_shipped_script_holds_the_seeds_notices_in_order() -> None:
    script = load_script()
    assert script.start == START
    notices = script.notices
    assert [n.clock for n in notices] == ["15:15", "17:37", "21:00", "24:00"]
    assert "据了解，自来水公司领导和工作人员已前往现场，正在全力抢修。" in notices[0].data["body"]
    assert "中法原水厂有限公司已采取了紧急措施。" in notices[1].data["body"]
    # Each notice but the last promises the next one's time.
    assert [n.data.get("next") for n in notices] == ["17:37", "21:00", "24:00", None]
    assert script.steps[0].data["incident"]["exercise"] is True
    assert [s.kind for s in script.steps][-1] == "resolve"


@pytest.mark.parametrize(
    ("steps", "problem"),
    [
        ([{"at": "15:15", "do": "update", "body": "x"}], "first step must open"),
        ([{"at": "13:45", "do": "open"}, {"at": "13:50", "do": "dance"}], "unknown kind"),
        ([{"at": "13:45", "do": "open"}, {"at": "15:00", "do": "facts"}, {"at": "14:00", "do": "facts"}],
         "earlier than the step before"),
        ([{"at": "13:45", "do": "open"}, {"at": "15:00", "do": "update", "next": "14:00"}], "not later"),
        ([{"at": "13:45", "do": "open", "summary": "at {99:00}"}], "story time"),
    ],
)  # fmt: skip
def test_a_broken_script_is_refused(steps: list[dict[str, Any]], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse({"story_start": "2010-11-22T13:45:00+08:00", "steps": steps})
