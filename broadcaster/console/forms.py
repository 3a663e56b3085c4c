"""Reading the console's plain forms: required fields, limits, storable text, local times, the
next-update promise and the CAP choices. A :class:`FormProblem` names the field to fix; the
page shows the form again with the operator's input.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from starlette.datastructures import FormData

from broadcaster.core import text as written
from broadcaster.core.events import format_time, utc_now
from broadcaster.incidents import Category, Certainty, Severity, Urgency

PROMISES = (15, 30, 60)


class FormProblem(Exception):
    """A field the operator must fix; the form is shown again with their input."""


def text(form: FormData, name: str, limit: int, *, required: bool = False, label: str = "") -> str:
    value = str(form.get(name) or "")
    if required and not value.strip():
        raise FormProblem(f"{label or name}: required")
    if len(value) > limit:
        raise FormProblem(f"{label or name}: at most {limit} characters")
    return storable(value, label or name)


def storable(value: str, label: str) -> str:
    """``value``, when a page and a feed can carry every character of it (see broadcaster.core.text)."""
    try:
        return written.check(value, label)
    except written.ControlCharacters as exc:
        raise FormProblem(str(exc)) from None


def local_to_utc(value: str, zone: str) -> str:
    """``2026-11-22T21:00`` from a datetime-local field, in the incident's zone."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise FormProblem(f"not a time: {value}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(zone))
    return format_time(moment)


def promise_from(form: FormData, zone: str) -> str | None:
    """The next-update promise: none, +15/+30/+60 minutes from now, or a time."""
    choice = str(form.get("promise") or "")
    if choice.isdigit() and int(choice) in PROMISES:
        return format_time(utc_now() + timedelta(minutes=int(choice)))
    if choice == "at" and form.get("promise_at"):
        return local_to_utc(str(form.get("promise_at")), zone)
    return None


def choices() -> dict[str, Any]:
    return {
        "severities": [s.value for s in Severity],
        "categories": [c.value for c in Category],
        "urgencies": [u.value for u in Urgency],
        "certainties": [c.value for c in Certainty],
    }


def severity_and_category(form: FormData) -> dict[str, str]:
    severity, category = str(form.get("severity") or "unknown"), str(form.get("category") or "Other")
    if severity not in {s.value for s in Severity} or category not in {c.value for c in Category}:
        raise FormProblem("severity or category: not one of the choices")
    return {"severity": severity, "category": category}
