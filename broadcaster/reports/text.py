"""Words and numbers of the reports' pages, in the reader's language.

:func:`translate` turns the rules' refusals (:class:`broadcaster.reports.rules.Refused`,
:class:`~broadcaster.reports.rules.FieldProblem`, English message ids) into the reader's
language; the other helpers format figures for the statistics.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from babel.dates import format_skeleton
from babel.numbers import format_decimal, format_percent

from broadcaster import i18n


def _(message: str) -> str:
    """Marks a message for translation (looked up in :func:`translate`)."""
    return message


FIELD_LABELS = {
    "title": _("Title"),
    "body": _("What happened"),
    "location": _("Where"),
    "contact": _("Your phone or e-mail"),
    "photo": _("Photo"),
    "reply": _("Public reply"),
    "department": _("Department"),
    "operator": _("Operator"),
    "note": _("Note"),
    "reason": _("Reason"),
    "into": _("Original report"),
    "incident": _("Incident"),
    "text": _("Your question"),  # a reader's question (broadcaster.questions)
    "answer": _("Answer"),
}

STATUS = "report status"
"""The message context of a report's status words ("Resolved" is 已办结 here, 已结束 for an incident)."""


def pgettext(context: str, message: str) -> str:
    """Marks a message with its context for translation (looked up in ``status_label``)."""
    return message


STATUS_LABELS = {
    "received": pgettext("report status", "Received"),
    "assigned": pgettext("report status", "Assigned"),
    "replied": pgettext("report status", "Replied"),
    "resolved": pgettext("report status", "Resolved"),
}


def gettext(lang: str, message: str, **params: Any) -> str:
    text = i18n.translations(lang).gettext(message)
    return text % params if params else text


def translate(exc: Exception, lang: str) -> str:
    """A refusal in the reader's language: ``"标题：此项必填"``."""
    message = getattr(exc, "message", None)
    if message is None:
        return str(exc)
    text = gettext(lang, message, **getattr(exc, "params", {}))
    field = getattr(exc, "field", None)
    if field is None:
        return text
    label = gettext(lang, FIELD_LABELS.get(field, field))
    return f"{label}{'：' if lang == 'zh-CN' else ': '}{text}"


def number(value: int, lang: str) -> str:
    return format_decimal(value, locale=i18n.babel_locale(lang))


def percent(rate: float | None, lang: str) -> str:
    return "–" if rate is None else format_percent(rate, "#,##0.0%", locale=i18n.babel_locale(lang))


def duration(seconds: float | None, lang: str) -> str:
    """``2 d 3 h`` / ``3 h 20 min`` / ``12 min`` (``2 天 3 小时`` ...), or a dash."""
    if seconds is None:
        return "–"
    if seconds < 60:
        return gettext(lang, _("under a minute"))
    minutes = round(seconds / 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return gettext(lang, _("%(d)s d %(h)s h"), d=days, h=hours)
    if hours:
        return gettext(lang, _("%(h)s h %(m)s min"), h=hours, m=minutes)
    return gettext(lang, _("%(m)s min"), m=minutes)


def month(key: str, lang: str, *, short: bool = False) -> str:
    """``2010-07`` -> ``2010年7月`` / ``Jul 2010`` (``short``: ``7月`` / ``Jul``)."""
    year, number_ = (int(part) for part in key.split("-"))
    return format_skeleton("MMM" if short else "yMMM", date(year, number_, 1), locale=i18n.babel_locale(lang))


def helpers(lang: str) -> dict[str, Any]:
    """The formatting functions for a template, bound to its language."""
    return {
        "num": lambda value: number(value, lang),
        "pct": lambda rate: percent(rate, lang),
        "dur": lambda seconds: duration(seconds, lang),
        "month_name": lambda key, short=False: month(key, lang, short=short),
        "status_label": lambda status: i18n.translations(lang).pgettext(
            STATUS, STATUS_LABELS.get(str(status), str(status))
        ),
    }
