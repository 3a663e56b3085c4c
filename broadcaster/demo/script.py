"""The scripted broadcast and its compressed clock: pure rules, no I/O.

A script (``zzic-2010.json``) is a list of steps at times of the story's clock (``"15:15"`` on the
story's day; a time earlier than the start, or ``"24:00"``, is the next day). The replay maps the
story's clock onto the real one, ``speed`` times faster: a story minute lasts ``1 / speed`` real
minutes. In the steps' texts, ``{HH:MM}`` becomes that story time on the replay's clock (``"10:07"``);
a field whose whole value is ``{HH:MM}`` becomes an RFC 3339 time (for ``expected_restoration``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

from broadcaster.core.events import format_time, parse_time

KINDS = ("open", "update", "edit", "facts", "ask", "answer", "resolve")
"""What a step does: open the incident, post a notice, edit the incident's fields, replace the key
facts, ask a question as a reader, answer the last question in public, resolve."""

QUESTION_KINDS = ("ask", "answer")
"""Steps that use the readers' questions API; the broadcast goes on without them if they fail."""

_CLOCK = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")
_PLACEHOLDER = re.compile(r"\{(\d\d:\d\d)\}")
DAY = 24 * 60


def check_speed(speed: float) -> float:
    """Raises ValueError unless ``speed`` is a finite number > 0."""
    if not math.isfinite(speed) or speed <= 0:
        raise ValueError(f"the speed must be a number > 0 (story minutes per real minute), not {speed}")
    return speed


@dataclass(frozen=True, slots=True)
class Step:
    index: int  # 1, 2, ... in the script's order
    minute: int  # story minutes after the start
    clock: str  # as written: "15:15"
    kind: str
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Script:
    name: str
    start: datetime  # the story's start, with its offset
    steps: tuple[Step, ...]

    @property
    def notices(self) -> list[Step]:
        return [step for step in self.steps if step.kind == "update"]


def story_minute(clock: str, start: datetime) -> int:
    """Story minutes from ``start`` to ``clock`` (HH:MM, the next day when earlier than the start).

    Raises ValueError for a malformed time."""
    found = _CLOCK.match(clock)
    if not found or (found[1] == "24" and found[2] != "00"):
        raise ValueError(f"not a story time HH:MM: {clock!r}")
    minute = int(found[1]) * 60 + int(found[2]) - (start.hour * 60 + start.minute)
    return minute + DAY if minute < 0 else minute


def parse(doc: dict[str, Any]) -> Script:
    """A script from its JSON document, checked.

    Raises ValueError naming what is wrong."""
    start = parse_time(str(doc["story_start"]))
    steps = []
    last = 0
    for index, raw in enumerate(doc["steps"], 1):
        kind = raw.get("do")
        if kind not in KINDS:
            raise ValueError(f"step {index}: unknown kind {kind!r}")
        minute = story_minute(str(raw["at"]), start)
        if minute < last:
            raise ValueError(f"step {index}: {raw['at']} is earlier than the step before it")
        last = minute
        if "next" in raw and story_minute(str(raw["next"]), start) <= minute:
            raise ValueError(f"step {index}: the promised next update is not later than the step")
        for placeholder in _PLACEHOLDER.findall(str(raw)):
            story_minute(placeholder, start)
        data = {key: value for key, value in raw.items() if key not in ("at", "do")}
        steps.append(Step(index, minute, str(raw["at"]), kind, data))
    if not steps or steps[0].kind != "open":
        raise ValueError("the first step must open the incident")
    return Script(str(doc.get("name", "")), start, tuple(steps))


@dataclass(frozen=True, slots=True)
class Clock:
    """The story's clock mapped onto the real one: ``story start`` is ``real_start``."""

    script_start: datetime
    real_start: datetime  # aware, UTC
    speed: float
    zone: tzinfo  # the zone clock times in texts are written in (the pages' zone)

    def real(self, minute: float) -> datetime:
        """The real moment of a story minute."""
        return self.real_start + timedelta(minutes=minute / self.speed)

    def at(self, clock: str) -> datetime:
        return self.real(story_minute(clock, self.script_start))

    def fill(self, value: Any, now: datetime) -> Any:
        """``value`` with its ``{HH:MM}`` placeholders replaced (in nested lists and dicts too).

        A string that is exactly one placeholder becomes an RFC 3339 time, at least a second after
        ``now`` (a replay running late must not promise a past time)."""
        if isinstance(value, dict):
            return {key: self.fill(item, now) for key, item in value.items()}
        if isinstance(value, list):
            return [self.fill(item, now) for item in value]
        if not isinstance(value, str):
            return value
        whole = _PLACEHOLDER.fullmatch(value)
        if whole:
            return self.instant(whole[1], now)
        return _PLACEHOLDER.sub(lambda found: self.local(found[1]), value)

    def local(self, clock: str) -> str:
        """A story time as the replay's clock shows it: ``HH:MM`` in the pages' zone."""
        return self.at(clock).astimezone(self.zone).strftime("%H:%M")

    def instant(self, clock: str, now: datetime) -> str:
        """RFC 3339 time of a story time on the real clock, never earlier than ``now`` + 1 s."""
        return format_time(max(self.at(clock), now + timedelta(seconds=1)))
