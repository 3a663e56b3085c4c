"""Citizens' reports (网络诉求): the rules, as pure functions over one log. No I/O.

A citizen files a report (title, what happened, where, an optional photo) and gets a
tracking code; operators assign it to a department or an operator (已交办), reply in
public (已回复) and resolve it, hide abuse, merge duplicates and link it to an incident.

Every report lives in one append-only log, ``reports:all``: ``report.received``, ``.assigned``,
``.replied``, ``.resolved``, ``.hidden``, ``.unhidden``, ``.merged``, ``.linked``, each naming
its report's ``code``. :func:`apply` folds an event into an index (code -> :class:`Report`); the
``decide_*`` functions check a command against a report and return the event to append, or raise
:class:`Refused` (HTTP 409) / :class:`FieldProblem` (422). Readers' questions on an incident are
reports of kind ``question`` (``broadcaster.questions``), left out of the inbox and statistics.

Why one log rather than a log per report: ZZIC took 8,136 reports in eight months. The inbox
lists, filters and pages them, and the public statistics count all of them; with one log every
process keeps the whole index in memory and catches up by reading only the events after the last
seq it folded (one read, usually empty), and a process starting cold folds ~25,000 small events
once (~0.2 s). A log per report would need one read per report for every listing, or a separate
index document kept in step with thousands of logs. A report's page follows the same log live
and picks its own report's changes out of it (``broadcaster.reports.live``).

The citizen's contact is not in the log at all (``broadcaster.reports.desk``): no view of it can show it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from broadcaster.core import text as written
from broadcaster.core.timeline import NotFound, RuleViolation
from broadcaster.core.types import JSON

LOG = "reports:all"

MAX_TITLE = 200
MAX_BODY = 5_000
MAX_LOCATION = 200
MAX_CONTACT = 200
MAX_REPLY = 5_000
MAX_DEPARTMENT = 100
MAX_NOTE = 1_000


def _(message: str) -> str:
    """Marks a message for translation (the web layer translates it; see
    :func:`broadcaster.reports.text.translate`)."""
    return message


class Status(StrEnum):
    RECEIVED = "received"
    ASSIGNED = "assigned"  # 已交办
    REPLIED = "replied"  # 已回复
    RESOLVED = "resolved"


RANK = {Status.RECEIVED: 0, Status.ASSIGNED: 1, Status.REPLIED: 2, Status.RESOLVED: 3}


class ReportEvent(StrEnum):
    RECEIVED = "report.received"
    ASSIGNED = "report.assigned"
    REPLIED = "report.replied"
    RESOLVED = "report.resolved"
    HIDDEN = "report.hidden"
    UNHIDDEN = "report.unhidden"
    MERGED = "report.merged"
    LINKED = "report.linked"


class Refused(RuleViolation):
    """Not allowed in the report's current state (HTTP 409). ``message`` is an English
    message id with ``%(name)s`` fields, translated by the pages."""

    def __init__(self, message: str, **params: Any) -> None:
        super().__init__(message % params)
        self.message, self.params = message, params


class FieldProblem(ValueError):
    """A field the citizen or operator must fix (HTTP 422); translated like :class:`Refused`."""

    def __init__(self, field_name: str, message: str, **params: Any) -> None:
        super().__init__(f"{field_name}: {message % params}")
        self.field, self.message, self.params = field_name, message, params


# --- the state ------------------------------------------------------------------------------


@dataclass
class Reply:
    text: str
    at: str
    by: str  # operator id: never public
    public: bool = True  # a question may be answered privately (only on the asker's page)
    update: str | None = None  # a question's public answer: its update on the timeline


@dataclass
class Step:
    """One line of a report's history, for the operators' console."""

    type: str
    at: str
    by: str  # the operator's name ("" for the citizen)
    detail: str


@dataclass
class Report:
    code: str
    title: str
    body: str
    location: str
    photo: JSON | None
    received_at: str
    updated_at: str
    version: int
    """The seq in ``reports:all`` of the last event that changed this report."""
    status: Status = Status.RECEIVED
    department: str | None = None
    operator: str | None = None  # id of the operator it is assigned to
    operator_name: str | None = None
    assigned_at: str | None = None
    replies: list[Reply] = field(default_factory=list)
    resolved_at: str | None = None
    resolution: str | None = None
    hidden: bool = False
    hidden_reason: str | None = None
    merged_into: str | None = None
    duplicates: list[str] = field(default_factory=list)
    incident: str | None = None
    history: list[Step] = field(default_factory=list)
    kind: str = "report"  # or "question": a reader's question on an incident (broadcaster.questions)

    @property
    def first_reply_at(self) -> str | None:
        return self.replies[0].at if self.replies else None

    @property
    def assigned(self) -> bool:
        return self.department is not None or self.operator is not None

    @property
    def counted(self) -> bool:
        """Whether public statistics count it: not abuse, not a duplicate of another."""
        return not self.hidden and self.merged_into is None and self.kind == "report"

    def public_json(self, organisation: str) -> JSON:
        """What anyone with the code may see: no contact, no operator's name (a report
        assigned to an operator shows the organisation)."""
        assigned_to = self.department or (organisation if self.operator else None)
        return {
            "code": self.code,
            "kind": self.kind,
            "status": str(self.status),
            "title": self.title,
            "body": self.body,
            "location": self.location,
            "photo": self.photo,
            "received_at": self.received_at,
            "updated_at": self.updated_at,
            "assigned_to": assigned_to,
            "reply": self.replies[-1].text if self.replies else None,
            "replies": [{"text": r.text, "at": r.at} for r in self.replies],
            "resolved_at": self.resolved_at,
            "resolution": self.resolution,
            "incident": self.incident,
            "incident_url": f"/incidents/{self.incident}" if self.incident else None,
            "merged_into": self.merged_into,
            "duplicates": len(self.duplicates),
            "url": f"/reports/{self.code}",
            "version": self.version,
        }

    def inbox_json(self) -> JSON:
        """The operators' view (still without the contact, which is kept elsewhere)."""
        return {
            **self.public_json(""),
            "assigned_to": self.department or self.operator_name,
            "department": self.department,
            "operator": self.operator,
            "hidden": self.hidden,
            "hidden_reason": self.hidden_reason,
            "duplicates": list(self.duplicates),
            "first_reply_at": self.first_reply_at,
        }


Index = dict[str, Report]
"""Every report by code, in the order they were received (oldest first)."""


def _by(data: JSON) -> tuple[str, str]:
    by = data.get("by") or {}
    return str(by.get("id", "")), str(by.get("name", ""))


def apply(index: Index, event: JSON) -> Index:
    """Fold one event (decoded wire format) into ``index`` (changed in place).

    Deterministic and permissive: the rules were checked when the event was decided,
    so an event is applied as it stands; one naming an unknown report is ignored.
    """
    kind, data, at, seq = event["type"], event["data"], event["at"], event["seq"]
    code = data.get("code", "")
    if kind == ReportEvent.RECEIVED:
        if code not in index:
            index[code] = Report(
                code=code, title=data["title"], body=data["body"], location=data["location"],
                photo=data.get("photo"), received_at=at, updated_at=at, version=seq,
                history=[Step(kind, at, "", "")], kind=data.get("kind", "report"),
                incident=data.get("incident"),
            )  # fmt: skip
        return index
    report = index.get(code)
    if report is None:
        return index
    by_id, by_name = _by(data)
    detail = ""
    if kind == ReportEvent.ASSIGNED:
        report.department = data.get("department")
        report.operator, report.operator_name = data.get("operator"), data.get("operator_name")
        report.assigned_at = report.assigned_at or at
        report.status = max(report.status, Status.ASSIGNED, key=RANK.__getitem__)
        detail = report.department or report.operator_name or ""
    elif kind == ReportEvent.REPLIED:
        report.replies.append(Reply(data["text"], at, by_id, data.get("public", True), data.get("update")))
        report.status = max(report.status, Status.REPLIED, key=RANK.__getitem__)
        detail = data["text"]
    elif kind == ReportEvent.RESOLVED:
        report.status, report.resolved_at, report.resolution = Status.RESOLVED, at, data.get("note")
        detail = data.get("note") or ""
    elif kind == ReportEvent.HIDDEN:
        report.hidden, report.hidden_reason = True, data.get("reason")
        detail = data.get("reason") or ""
    elif kind == ReportEvent.UNHIDDEN:
        report.hidden, report.hidden_reason = False, None
    elif kind == ReportEvent.MERGED:
        report.merged_into = data["into"]
        original = index.get(data["into"])
        if original is not None and code not in original.duplicates:
            original.duplicates.append(code)
            original.version = seq
        detail = data["into"]
    elif kind == ReportEvent.LINKED:
        report.incident = data["incident"]
        detail = data["incident"]
    else:
        raise ValueError(f"unknown event type {kind!r}")
    report.updated_at, report.version = at, seq
    report.history.append(Step(kind, at, by_name, detail))
    return index


def fold(events: Iterable[JSON], index: Index | None = None) -> Index:
    index = {} if index is None else index
    for event in events:
        apply(index, event)
    return index


# --- checks on what people write ------------------------------------------------------------


def check_text(name: str, given: Any, limit: int, *, required: bool) -> str:
    """A written field, stripped; raises FieldProblem when blank (if required) or too long."""
    if given is None:
        given = ""
    if not isinstance(given, str):
        raise FieldProblem(name, _("must be text"))
    if written.problem(given) is not None:  # checked before strip(), which drops some of them
        raise FieldProblem(name, _("holds control characters, which cannot be stored"))
    value = given.strip()
    if required and not value:
        raise FieldProblem(name, _("this field is required"))
    if len(value) > limit:
        raise FieldProblem(name, _("at most %(limit)s characters (this has %(count)s)"), limit=limit,
                           count=len(value))  # fmt: skip
    return value


def check_submission(title: Any, body: Any, location: Any, contact: Any) -> dict[str, str]:
    """A citizen's fields, stripped. Raises FieldProblem naming the first bad field."""
    return {
        "title": check_text("title", title, MAX_TITLE, required=True),
        "body": check_text("body", body, MAX_BODY, required=True),
        "location": check_text("location", location, MAX_LOCATION, required=True),
        "contact": check_text("contact", contact, MAX_CONTACT, required=False),
    }


# --- decisions: command + state -> (event type, event data) ---------------------------------

Decision = tuple[str, JSON]


def decide_receive(code: str, title: str, body: str, location: str, photo: JSON | None,
                   kind: str = "report", incident: str | None = None) -> Decision:  # fmt: skip
    """A question (``kind``) is linked to its ``incident`` from the start."""
    linked = {"kind": kind, "incident": incident} if kind != "report" else {}
    return ReportEvent.RECEIVED, {"code": code, "title": title, "body": body, "location": location,
                                  "photo": photo, **linked}  # fmt: skip


def check_workable(report: Report) -> None:
    """Hidden and merged reports take no more work (unhide it, or work on the original)."""
    if report.hidden:
        raise Refused(_("report %(code)s is hidden; show it again first"), code=report.code)
    if report.merged_into is not None:
        raise Refused(_("report %(code)s was merged into %(into)s; work on that one"), code=report.code,
                      into=report.merged_into)  # fmt: skip


def _open(report: Report) -> None:
    check_workable(report)
    if report.status == Status.RESOLVED:
        raise Refused(_("report %(code)s is resolved already"), code=report.code)


def decide_assign(
    report: Report, by: JSON, *, department: str | None = None, operator: tuple[str, str] | None = None
) -> Decision:
    """To a named department, or to an operator (id, name): exactly one of them."""
    _open(report)
    if (department is None) == (operator is None):
        raise FieldProblem("department", _("choose a department or an operator"))
    if department is not None:
        department = check_text("department", department, MAX_DEPARTMENT, required=True)
        if report.department == department:
            raise Refused(_("report %(code)s is already assigned to %(to)s"), code=report.code, to=department)
        return ReportEvent.ASSIGNED, {"code": report.code, "department": department, "by": by}
    assert operator is not None
    if report.operator == operator[0] and report.department is None:
        raise Refused(_("report %(code)s is already assigned to %(to)s"), code=report.code, to=operator[1])
    return ReportEvent.ASSIGNED, {
        "code": report.code, "operator": operator[0], "operator_name": operator[1], "by": by,
    }  # fmt: skip


def decide_reply(report: Report, text: str, by: JSON) -> Decision:
    _open(report)
    text = check_text("reply", text, MAX_REPLY, required=True)
    return ReportEvent.REPLIED, {"code": report.code, "text": text, "by": by}


def decide_resolve(report: Report, note: str | None, by: JSON) -> Decision:
    _open(report)
    if not report.replies:
        raise Refused(_("reply to report %(code)s in public before resolving it"), code=report.code)
    note = check_text("note", note, MAX_NOTE, required=False) or None
    return ReportEvent.RESOLVED, {"code": report.code, "note": note, "by": by}


def decide_hide(report: Report, reason: str | None, by: JSON) -> Decision:
    if report.hidden:
        raise Refused(_("report %(code)s is hidden already"), code=report.code)
    reason = check_text("reason", reason, MAX_NOTE, required=False) or None
    return ReportEvent.HIDDEN, {"code": report.code, "reason": reason, "by": by}


def decide_unhide(report: Report, by: JSON) -> Decision:
    if not report.hidden:
        raise Refused(_("report %(code)s is not hidden"), code=report.code)
    return ReportEvent.UNHIDDEN, {"code": report.code, "by": by}


def root(index: Index, code: str) -> Report:
    """The report itself, or the one it was merged into. Raises NotFound."""
    report = index.get(code)
    if report is None:
        raise NotFound(f"no report {code}")
    while report.merged_into is not None and report.merged_into in index:
        report = index[report.merged_into]
    return report


def decide_merge(duplicate: Report, original: Report, by: JSON) -> Decision:
    """``original`` as given by :func:`root`: merges never chain."""
    check_workable(duplicate)
    if duplicate.code == original.code:
        raise Refused(_("a report cannot be merged into itself"))
    if duplicate.duplicates:
        raise Refused(_("other reports were merged into %(code)s; merge %(other)s into it instead"),
                      code=duplicate.code, other=original.code)  # fmt: skip
    if original.hidden:
        raise Refused(_("report %(code)s is hidden; show it again first"), code=original.code)
    return ReportEvent.MERGED, {"code": duplicate.code, "into": original.code, "by": by}


def decide_link(report: Report, incident: str, by: JSON, *, created: bool = False) -> Decision:
    """Point the report at an incident (which the caller checked exists)."""
    check_workable(report)
    if report.incident == incident:
        raise Refused(_("report %(code)s is already linked to that incident"), code=report.code)
    return ReportEvent.LINKED, {"code": report.code, "incident": incident, "created": created, "by": by}
