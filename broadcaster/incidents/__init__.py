"""Incidents: publishing updates, scheduled updates and drafts, the JSON API and the public pages."""

from __future__ import annotations

from broadcaster.incidents.api import IncidentId, UpdateId
from broadcaster.incidents.deps import PublisherDep
from broadcaster.incidents.pages import RECENTLY_RESOLVED
from broadcaster.incidents.publishing import KIND, IdempotencyMismatch, Publisher, incident_log
from broadcaster.incidents.schemas import (
    MAX_BODY,
    MAX_INSTRUCTION,
    MAX_REASON,
    MAX_TITLE,
    Category,
    Certainty,
    Severity,
    Urgency,
)

__all__ = [
    "KIND",
    "MAX_BODY",
    "MAX_INSTRUCTION",
    "MAX_REASON",
    "MAX_TITLE",
    "RECENTLY_RESOLVED",
    "Category",
    "Certainty",
    "IdempotencyMismatch",
    "IncidentId",
    "Publisher",
    "PublisherDep",
    "Severity",
    "UpdateId",
    "Urgency",
    "incident_log",
]
