"""The operators' inbox over the reports' index: filters, newest first, and the departments used. Pure."""

from __future__ import annotations

from collections.abc import Iterator

from broadcaster.reports.rules import Index, Report, Status

SHOW = ("visible", "hidden", "merged", "all")


def inbox(
    index: Index, *, status: str | None = None, text: str | None = None, show: str = "visible"
) -> Iterator[Report]:
    """Reports newest first, filtered: ``status`` (or ``open``: not resolved), ``text``
    found in the location, title or body (case-insensitive), and ``show``: ``visible``
    (neither hidden nor merged), ``hidden``, ``merged`` or ``all``. Readers' questions on an
    incident (kind ``question``) are answered in the incident's workspace: listed with ``all`` only."""
    needle = (text or "").strip().casefold()
    for report in reversed(index.values()):
        if report.kind != "report" and show != "all":
            continue
        if show == "visible" and (report.hidden or report.merged_into):
            continue
        if show == "hidden" and not report.hidden:
            continue
        if show == "merged" and not report.merged_into:
            continue
        if status == "open" and report.status == Status.RESOLVED:
            continue
        if status not in (None, "", "open") and report.status != status:
            continue
        parts = (report.location, report.title, report.body)
        if needle and not any(needle in part.casefold() for part in parts):
            continue
        yield report


def departments(index: Index) -> list[str]:
    """Departments reports were assigned to, most used first (suggestions for the form)."""
    counts: dict[str, int] = {}
    for report in index.values():
        if report.department:
            counts[report.department] = counts.get(report.department, 0) + 1
    return sorted(counts, key=lambda name: (-counts[name], name))
