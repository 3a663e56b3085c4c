"""The questions board: asking, listing and answering readers' questions, over the reports'
desk (the ``reports:all`` log, contacts kept out of it) and the incident's publisher.

A public answer is written in two steps: first the ``question.answered`` event in the incident's
log, with an idempotency key derived from the question's code (whoever answers), then the
question's ``report.replied``. A crash between them is repaired by a retry: the first event is
found by its key and the reply is written after it, with the answer that was published.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from broadcaster.accounts import Actor
from broadcaster.core import markdown
from broadcaster.core.events import EventType, utc_now
from broadcaster.core.timeline import Incident, NotFound
from broadcaster.core.types import JSON
from broadcaster.incidents import Publisher
from broadcaster.questions import rules as qr
from broadcaster.reports import (
    Index,
    Refused,
    Reply,
    Report,
    ReportDesk,
    check_text,
    decide_merge,
    root,
)


@dataclass
class Entry:
    """A question as the operators see it."""

    question: Report
    state: qr.State
    contact: str
    answer: Reply | None

    def to_json(self) -> JSON:
        return {
            "id": self.question.code,
            "text": self.question.body,
            "status": str(self.state),
            "asked_at": self.question.received_at,
            "contact": bool(self.contact),
            "answer": None if self.answer is None else {
                "text": self.answer.text, "at": self.answer.at, "public": self.answer.public,
                "update": self.answer.update,
            },
            "merged_into": self.question.merged_into,
            "duplicates": list(self.question.duplicates),
        }  # fmt: skip


def _by(actor: Actor) -> JSON:
    return {"id": actor.operator.id, "name": actor.operator.name}


class Questions:
    def __init__(self, desk: ReportDesk, publisher: Publisher) -> None:
        self.desk = desk
        self.publisher = publisher

    # --- readers ----------------------------------------------------------------------------

    async def open_incident(self, incident_id: str) -> Incident:
        """The incident, if it takes questions. Raises NotFound (404), Refused (resolved: 409)."""
        incident = await self.publisher.get(incident_id)
        qr.check_open(incident)
        return incident

    async def ask(
        self, incident_id: str, text: Any, contact: Any, address: str | None, key: str | None,
        settings: Any,
    ) -> tuple[Report, bool]:  # fmt: skip
        """File a question; returns it and whether it is new (False: a repeated key).

        Raises:
            FieldProblem (422), NotFound (404), Refused (409), RateLimited (429),
            IdempotencyMismatch (422), BackendError (503).
        """
        fields = qr.check_question(text, contact)
        await self.open_incident(incident_id)
        scoped = None if key is None else self.desk.submission_key(address, f"{incident_id}\n{key}")
        first = await self.desk.replayed(scoped, fields)
        if first is not None:
            return first, False
        await self.desk.limit(address, settings.report_limit, settings.report_window, bucket="question")
        return await self.desk.submit(fields, None, address, scoped, kind=qr.KIND, incident=incident_id)

    async def for_asker(self, code: str) -> tuple[Report, qr.State, Reply | None]:
        """The question as its asker's page shows it. Raises NotFound (hidden ones too)."""
        question = await self.desk.public(code)
        if question.kind != qr.KIND:
            raise NotFound(f"no question {question.code}")
        return question, qr.state(question), qr.answer_for_asker(self.desk.index, question)

    # --- operators ------------------------------------------------------------------------

    async def get(self, incident_id: str, code: str) -> Report:
        """One of the incident's questions. Raises NotFound."""
        question = await self.desk.get(code)
        if question.kind != qr.KIND or question.incident != incident_id:
            raise NotFound(f"incident {incident_id} has no question {question.code}")
        return question

    async def entries(self, incident_id: str) -> list[Entry]:
        """The incident's questions, newest first. Raises NotFound for an unknown incident."""
        await self.publisher.get(incident_id)
        index = await self.desk.refresh()
        found = []
        for question in qr.of_incident(index, incident_id):
            contact = await self.desk.contact(question.code)
            found.append(Entry(question, qr.state(question), contact, qr.answer_for_asker(index, question)))
        return found

    async def waiting(self) -> dict[str, qr.Waiting]:
        """For the dashboard: per incident, how many wait and since when."""
        return qr.waiting_by_incident(await self.desk.refresh())

    async def section(self, incident_id: str) -> JSON:
        """What the console's workspace shows (``templates/console/_questions.html``)."""
        entries = await self.entries(incident_id)
        return {
            "entries": entries,
            "waiting": qr.waiting(e.question for e in entries),
            "answered": [e for e in entries if e.state == qr.State.PUBLIC],
        }

    async def answer(
        self, incident_id: str, code: str, text: str, public: bool, by: Actor, key: str | None
    ) -> Report:
        """Answer in public (on the timeline) or privately (on the asker's page only).

        Raises:
            NotFound (404), Refused / RuleViolation (409), FieldProblem (422), BackendError (503).
        """
        question = await self.get(incident_id, code)
        text = check_text("answer", text, qr.MAX_ANSWER, required=True)
        contact = await self.desk.contact(question.code)
        qr.check_answerable(question, public=public, contact=contact)
        if not public:
            decide = lambda r, _: qr.decide_reply(r, text, _by(by), public=False)  # noqa: E731
            return await self.desk.act(question.code, decide, by, key, incident_id)
        update_id, html = secrets.token_hex(4), markdown.render(text)
        done = await self.publisher.command(
            incident_id,
            lambda inc: qr.decide_public(inc, question, update_id, text, html, utc_now()),
            EventType.QUESTION_ANSWERED,
            by,
            key=f"question:{question.code}",
        )
        data = done.event.decode()["data"]
        try:
            answered = await self.desk.act(
                question.code,
                lambda r, _: qr.decide_reply(r, data["body"], _by(by), public=True, update=data["id"]),
                by,
                None,
                incident_id,
            )
        except qr.AlreadyRecorded:
            answered = await self.desk.get(question.code)
        if not done.created and data["body"] != text:
            raise Refused(qr.ANSWERED_ALREADY, code=question.code)
        return answered

    async def merge(self, incident_id: str, code: str, into: str, by: Actor, key: str | None) -> Report:
        """Merge a question into one answered in public (or the one that was merged into)."""
        await self.get(incident_id, code)
        target = await self.get(incident_id, into)

        def decide(report: Report, index: Index) -> tuple[str, JSON]:
            original = root(index, target.code)
            qr.check_merge(report, original)
            return decide_merge(report, original, _by(by))

        return await self.desk.act(code, decide, by, key, incident_id)

    async def hide(
        self, incident_id: str, code: str, reason: str | None, by: Actor, key: str | None
    ) -> Report:
        """Hidden from everyone but operators: the asker's page answers 404 (a public answer
        stays on the timeline: withdraw it there)."""
        question = await self.get(incident_id, code)
        return await self.desk.hide(question.code, reason, by, key)


def questions_of(state: Any) -> Questions:
    """The app's board (``app.state.questions``)."""
    board: Questions = state.questions
    return board
