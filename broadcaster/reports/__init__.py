"""Citizens' reports (网络诉求): the rules, the desk, statistics, tracking codes, API, pages and console.

Readers' questions on an incident (``broadcaster.questions``) are reports of kind ``question``
and use the names below.
"""

from broadcaster.reports.api import ReportsDep, address_of
from broadcaster.reports.desk import ReportDesk
from broadcaster.reports.rules import (
    MAX_CONTACT,
    MAX_NOTE,
    MAX_REPLY,
    Decision,
    FieldProblem,
    Index,
    Refused,
    Reply,
    Report,
    ReportEvent,
    check_text,
    check_workable,
    decide_merge,
    root,
)
from broadcaster.reports.text import gettext, translate

__all__ = [
    "MAX_CONTACT",
    "MAX_NOTE",
    "MAX_REPLY",
    "Decision",
    "FieldProblem",
    "Index",
    "Refused",
    "Reply",
    "Report",
    "ReportDesk",
    "ReportEvent",
    "ReportsDep",
    "address_of",
    "check_text",
    "check_workable",
    "decide_merge",
    "gettext",
    "root",
    "translate",
]
