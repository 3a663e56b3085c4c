"""Readers' questions on an incident: the rules, pure functions. No I/O.

A question is a citizens' report of kind ``question`` (``broadcaster.reports``), linked to its
incident from the start: its text is the report's ``body``, its contact is kept out of every log
as a report's is. It is answered

- in public: a ``question.answered`` event in the INCIDENT's log (the question as asked, without
  a name or contact, and the answer), shown on the timeline, in the feeds and the embed, corrected
  and withdrawn like any update; then a ``report.replied`` with ``public`` and the update's id;
- privately: a ``report.replied`` with ``public: false``, shown only on the asker's own page
  (the operator may also use the contact the asker left);
- by merging it into a question answered in public: the duplicate counts as answered by that.

An unanswered question is never public.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from broadcaster.core import timeline as tl
from broadcaster.core.events import EventType, format_time
from broadcaster.core.types import JSON
from broadcaster.reports import (
    MAX_CONTACT,
    MAX_REPLY,
    Decision,
    Index,
    Refused,
    Reply,
    Report,
    ReportEvent,
    check_text,
    check_workable,
)

KIND = "question"
MAX_TEXT = 1_000
MAX_ANSWER = MAX_REPLY


def _(message: str) -> str:
    """Marks a message for translation (the pages translate it with ``reports.translate``)."""
    return message


ANSWERED_ALREADY = _("question %(code)s is answered in public already: correct that answer instead")


class State(StrEnum):
    WAITING = "waiting"
    PUBLIC = "answered_public"
    PRIVATE = "answered_private"
    MERGED = "merged"
    HIDDEN = "hidden"


class AlreadyRecorded(Refused):
    """The report already records this public answer (a retry after a crash finds it done)."""


def state(question: Report) -> State:
    if question.hidden:
        return State.HIDDEN
    if question.merged_into is not None:
        return State.MERGED
    if any(reply.public for reply in question.replies):
        return State.PUBLIC
    return State.PRIVATE if question.replies else State.WAITING


def public_answer(question: Report) -> Reply | None:
    return next((reply for reply in question.replies if reply.public), None)


def answer_for_asker(index: Index, question: Report) -> Reply | None:
    """What the asker's page shows: the public answer, else the latest private one; for a
    duplicate, the public answer of the question it was merged into."""
    if question.merged_into is not None:
        original = index.get(question.merged_into)
        return public_answer(original) if original is not None else None
    return public_answer(question) or (question.replies[-1] if question.replies else None)


def of_incident(index: Index, incident_id: str) -> list[Report]:
    """The incident's questions, newest first (hidden and merged ones too)."""
    found = [r for r in index.values() if r.kind == KIND and r.incident == incident_id]
    return found[::-1]


@dataclass(frozen=True)
class Waiting:
    """How many questions of an incident wait for an answer, and since when the oldest does."""

    count: int = 0
    oldest: str | None = None


def waiting(questions: Iterable[Report]) -> Waiting:
    times = [q.received_at for q in questions if state(q) == State.WAITING]
    return Waiting(len(times), min(times) if times else None)


def waiting_by_incident(index: Index) -> dict[str, Waiting]:
    by: dict[str, list[Report]] = {}
    for report in index.values():
        if report.kind == KIND and report.incident:
            by.setdefault(report.incident, []).append(report)
    return {incident: waiting(questions) for incident, questions in by.items()}


# --- checks and decisions ---------------------------------------------------------------------


def check_question(text: object, contact: object) -> dict[str, str]:
    """The asker's fields as a report's (``title`` and ``location`` empty). Raises FieldProblem."""
    return {
        "title": "",
        "body": check_text("text", text, MAX_TEXT, required=True),
        "location": "",
        "contact": check_text("contact", contact, MAX_CONTACT, required=False),
    }


def check_open(inc: tl.Incident) -> None:
    if inc.state != tl.LIVE:
        raise Refused(_("questions about this incident are closed: it is resolved"))


def check_answerable(question: Report, *, public: bool, contact: str) -> None:
    """Hidden and merged questions take no answer; a public answer is given once; a private
    one needs the contact the asker left."""
    check_workable(question)
    if public and state(question) == State.PUBLIC:
        raise Refused(ANSWERED_ALREADY, code=question.code)
    if not public and not contact:
        raise Refused(_("question %(code)s has no contact for a private answer: answer it in public"),
                      code=question.code)  # fmt: skip


def decide_public(inc: tl.Incident, question: Report, update_id: str, body: str, html: str,
                  now: datetime) -> Decision:  # fmt: skip
    """The ``question.answered`` event of the incident's log: the question as asked (no name,
    no contact) and the answer, as an update that promises nothing."""
    check_open(inc)
    if update_id in inc.updates:
        raise tl.RuleViolation(f"update {update_id} already exists")
    return EventType.QUESTION_ANSWERED, {
        "id": update_id, "question_id": question.code, "question": question.body,
        "body": body, "html": html, "published_at": format_time(now),
    }  # fmt: skip


def decide_reply(
    question: Report, text: str, by: JSON, *, public: bool, update: str | None = None
) -> Decision:
    """The question's ``report.replied``. Raises AlreadyRecorded when this public answer is
    recorded already."""
    if update is not None and any(reply.update == update for reply in question.replies):
        raise AlreadyRecorded(ANSWERED_ALREADY, code=question.code)
    check_answerable(question, public=public, contact="(checked by the caller)")
    return ReportEvent.REPLIED, {
        "code": question.code,
        "text": text,
        "public": public,
        "update": update,
        "by": by,
    }


def check_merge(duplicate: Report, original: Report) -> None:
    """A question is merged into another question of the same incident answered in public."""
    if original.kind != KIND or original.incident != duplicate.incident:
        raise Refused(_("merge a question only into another question about the same incident"))
    if state(original) != State.PUBLIC:
        raise Refused(_("question %(code)s is not answered in public: merge into one that is"),
                      code=original.code)  # fmt: skip
    if state(duplicate) == State.PUBLIC:
        raise Refused(ANSWERED_ALREADY, code=duplicate.code)
