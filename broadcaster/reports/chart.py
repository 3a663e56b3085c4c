"""The statistics chart's geometry: reports received and replied per month, as bars.

Pure arithmetic; ``templates/reports/_chart.html`` draws it as inline SVG (no script),
with a title and a description, and the page shows the same numbers in a table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from broadcaster.reports.stats import Month

HEIGHT = 220
TOP = 16  # room above the tallest bar for its number
BOTTOM = 40  # month labels (and the year under January and the first month)
LEFT = 44  # the axis' numbers
GROUP = 44  # width of one month
BAR = 16


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    value: int


@dataclass(frozen=True, slots=True)
class Group:
    month: str  # "2010-07"
    centre: float
    received: Bar
    replied: Bar
    first_of_year: bool


@dataclass(frozen=True, slots=True)
class Tick:
    y: float
    value: int


@dataclass(frozen=True, slots=True)
class Chart:
    width: float
    height: float
    baseline: float
    groups: list[Group]
    ticks: list[Tick]


def nice_ceiling(value: int) -> int:
    """The axis' top: 1, 2 or 5 times a power of ten, at least ``value`` (and at least 1)."""
    if value <= 1:
        return 1
    power: int = 10 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= value)


def chart(months: list[Month]) -> Chart:
    top = nice_ceiling(max((m.received for m in months), default=0))
    baseline = HEIGHT - BOTTOM
    scale = (baseline - TOP) / top

    def bar(x: float, value: int) -> Bar:
        height = value * scale
        return Bar(x, baseline - height, BAR, height, value)

    groups = []
    for i, month in enumerate(months):
        left = LEFT + i * GROUP + (GROUP - 2 * BAR - 2) / 2
        groups.append(
            Group(
                month=month.month,
                centre=LEFT + i * GROUP + GROUP / 2,
                received=bar(left, month.received),
                replied=bar(left + BAR + 2, month.replied),
                first_of_year=i == 0 or month.month.endswith("-01"),
            )
        )
    values = sorted({0, top // 2, top})
    ticks = [Tick(baseline - v * scale, v) for v in values if v * 2 % top == 0 or v == top]
    return Chart(LEFT + max(1, len(months)) * GROUP + 8, HEIGHT, baseline, groups, ticks)
