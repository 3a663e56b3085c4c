"""The public record of citizens' reports: counts per month and for a range. Pure.

Reports are counted in the month they were received (in the organisation's time zone),
as ZZIC counted its eight months: of the reports received, how many got a public reply
and how many were resolved, whenever that happened. So a month's reply rate never
exceeds 100 % and an old month's figures still improve as late replies come in.

Not counted: reports hidden as abuse, and duplicates merged into another report (the
original stands for them). The time to first reply is the median over the replied
reports of (first reply - received), in seconds.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from broadcaster.core.events import parse_time
from broadcaster.core.types import JSON
from broadcaster.reports.rules import Report, Status


@dataclass
class Tally:
    """Figures for a set of reports (a month, or the whole range)."""

    received: int = 0
    replied: int = 0
    resolved: int = 0
    reply_seconds: list[float] = field(default_factory=list, repr=False)

    @property
    def reply_rate(self) -> float | None:
        """Replied / received, or None when nothing was received."""
        return self.replied / self.received if self.received else None

    @property
    def median_first_reply(self) -> float | None:
        """Seconds from receipt to the first reply, median over the replied reports."""
        return statistics.median(self.reply_seconds) if self.reply_seconds else None

    def count(self, report: Report, received: datetime) -> None:
        self.received += 1
        first = report.first_reply_at
        if first is not None:
            self.replied += 1
            self.reply_seconds.append(max(0.0, (parse_time(first) - received).total_seconds()))
        if report.status == Status.RESOLVED:
            self.resolved += 1

    def to_json(self) -> JSON:
        rate, median = self.reply_rate, self.median_first_reply
        return {
            "received": self.received,
            "replied": self.replied,
            "resolved": self.resolved,
            "reply_rate": None if rate is None else round(rate, 4),
            "median_first_reply_seconds": None if median is None else round(median),
        }


@dataclass
class Month(Tally):
    month: str = ""  # "2010-07"

    def to_json(self) -> JSON:
        return {"month": self.month, **super().to_json()}


@dataclass
class Summary:
    """The range's figures and its months, oldest first, every month between the first
    and the last counted report included (with zeros), so a chart has no holes."""

    start: date | None
    end: date | None
    zone: str
    total: Tally
    months: list[Month]

    def to_json(self) -> JSON:
        return {
            "from": self.start.isoformat() if self.start else None,
            "to": self.end.isoformat() if self.end else None,
            "timezone": self.zone,
            **self.total.to_json(),
            "months": [m.to_json() for m in self.months],
        }


def _month_key(moment: datetime) -> tuple[int, int]:
    return moment.year, moment.month


def _months_between(first: tuple[int, int], last: tuple[int, int]) -> list[tuple[int, int]]:
    found = []
    year, month = first
    while (year, month) <= last:
        found.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return found


def summarise(
    reports: Iterable[Report], zone: str, start: date | None = None, end: date | None = None
) -> Summary:
    """Figures for the reports received from ``start`` to ``end`` (dates in ``zone``,
    both included; None: unbounded).

    Raises:
        ValueError: ``start`` is after ``end``.
    """
    if start is not None and end is not None and start > end:
        raise ValueError("from must not be after to")
    tz = ZoneInfo(zone)
    total = Tally()
    months: dict[tuple[int, int], Month] = {}
    for report in reports:
        if not report.counted:
            continue
        received = parse_time(report.received_at)
        local = received.astimezone(tz)
        day = local.date()
        if (start is not None and day < start) or (end is not None and day > end):
            continue
        key = _month_key(local)
        month = months.get(key)
        if month is None:
            month = months[key] = Month(month=f"{key[0]:04d}-{key[1]:02d}")
        month.count(report, received)
        total.count(report, received)
    if not months:
        return Summary(start, end, zone, total, [])
    every = _months_between(min(months), max(months))
    listed = [months.get(k) or Month(month=f"{k[0]:04d}-{k[1]:02d}") for k in every]
    return Summary(start, end, zone, total, listed)
