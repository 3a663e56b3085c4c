"""The console's alert fields (CAP): the area drawn on the map, urgency, certainty, the
instruction, the expected restoration time; and the second language of updates.

Read from a submitted form and checked as the API checks them; a ``ValueError`` names the
field, and the console shows the form again with it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from starlette.datastructures import FormData

from broadcaster.core import shapes, text
from broadcaster.core import timeline as tl
from broadcaster.core.events import parse_time
from broadcaster.core.timeline import Incident
from broadcaster.incidents import MAX_INSTRUCTION, Certainty, Urgency

FIELDS = ("area_shape", "urgency", "certainty", "instruction", "expected_restoration")


def second_language(lang: str) -> str:
    """The language an update may also be written in: the other one of the interface's two."""
    return "en" if tl.same_language(lang, "zh") else "zh-CN"


def _restoration(value: str, zone: str, now: datetime, current: str | None) -> str | None:
    """A ``datetime-local`` value (in ``zone``) in UTC; unchanged, it stays as it was
    (even when past: editing another field must not fail on it)."""
    if not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"expected restoration: not a time: {value[:40]}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(zone))
    if current is not None and parse_time(current).replace(second=0, microsecond=0) == moment:
        return current  # the form shows minutes: seconds were not changed
    try:
        return tl.future_time(moment.isoformat(), now, "expected restoration", tl.RESTORATION_HORIZON)
    except ValueError as exc:
        raise ValueError(str(exc).replace("expected restoration ", "expected restoration: ", 1)) from None


def alert_fields(form: FormData, zone: str, now: datetime, current: Incident | None = None) -> dict[str, Any]:
    """The alert fields of ``form`` as the incident stores them.

    Raises:
        ValueError: a field is out of its choices, too long, or not a shape or time.
    """
    urgency = str(form.get("urgency") or Urgency.EXPECTED)
    certainty = str(form.get("certainty") or Certainty.OBSERVED)
    if urgency not in {u.value for u in Urgency} or certainty not in {c.value for c in Certainty}:
        raise ValueError("urgency or certainty: not one of the choices")
    instruction = text.check(str(form.get("instruction") or ""), "instruction").strip()
    if len(instruction) > MAX_INSTRUCTION:
        raise ValueError(f"instruction: at most {MAX_INSTRUCTION} characters")
    drawn = text.check(str(form.get("area_shape") or ""), "area on the map")
    try:
        shape = shapes.parse(drawn)
    except ValueError as exc:
        raise ValueError(f"area on the map: {exc}") from None
    was = current.expected_restoration if current else None
    restoration = _restoration(str(form.get("expected_restoration") or ""), zone, now, was)
    return {
        "area_shape": shape,
        "urgency": urgency,
        "certainty": certainty,
        "instruction": instruction,
        "expected_restoration": restoration,
    }


def shown_values(incident: Incident, zone: str) -> dict[str, str]:
    """The alert fields of ``incident`` as the form shows them."""
    restoration = ""
    if incident.expected_restoration:
        restoration = f"{parse_time(incident.expected_restoration).astimezone(ZoneInfo(zone)):%Y-%m-%dT%H:%M}"
    return {
        "area": incident.area,
        "severity": incident.severity,
        "category": incident.category,
        "area_shape": shapes.as_text(incident.area_shape),
        "urgency": incident.urgency,
        "certainty": incident.certainty,
        "instruction": incident.instruction,
        "expected_restoration": restoration,
    }
