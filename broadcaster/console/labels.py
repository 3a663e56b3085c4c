"""CAP's enumerations as the operator reads them: ``immediate`` is 立即 / Immediate, ``Infra`` is
基础设施 / Infrastructure. The value sent (form, API, CAP feed) stays CAP's; only the words shown
change. The one place that names them; ``cap_label`` is a Jinja global (``broadcaster.app``):
``{{ cap_label("urgency", u) }}``.

The message ids carry a context (``msgctxt "CAP urgency"``): "Unknown" or "Other" may read
differently elsewhere in the interface.
"""

from __future__ import annotations

from jinja2 import pass_context
from jinja2.runtime import Context

from broadcaster import i18n
from broadcaster.incidents import Category, Certainty, Severity, Urgency


def pgettext(context: str, message: str) -> str:
    """Marks a message with its context for translation (looked up in :func:`label`)."""
    return message


LABELS: dict[str, dict[str, str]] = {
    "severity": {
        Severity.EXTREME: pgettext("CAP severity", "Extreme"),
        Severity.SEVERE: pgettext("CAP severity", "Severe"),
        Severity.MODERATE: pgettext("CAP severity", "Moderate"),
        Severity.MINOR: pgettext("CAP severity", "Minor"),
        Severity.UNKNOWN: pgettext("CAP severity", "Unknown"),
    },
    "urgency": {
        Urgency.IMMEDIATE: pgettext("CAP urgency", "Immediate"),
        Urgency.EXPECTED: pgettext("CAP urgency", "Expected"),
        Urgency.FUTURE: pgettext("CAP urgency", "Future"),
        Urgency.PAST: pgettext("CAP urgency", "Past"),
        Urgency.UNKNOWN: pgettext("CAP urgency", "Unknown"),
    },
    "certainty": {
        Certainty.OBSERVED: pgettext("CAP certainty", "Observed"),
        Certainty.LIKELY: pgettext("CAP certainty", "Likely"),
        Certainty.POSSIBLE: pgettext("CAP certainty", "Possible"),
        Certainty.UNLIKELY: pgettext("CAP certainty", "Unlikely"),
        Certainty.UNKNOWN: pgettext("CAP certainty", "Unknown"),
    },
    "category": {
        Category.GEO: pgettext("CAP category", "Geophysical"),
        Category.MET: pgettext("CAP category", "Meteorological"),
        Category.SAFETY: pgettext("CAP category", "Public safety"),
        Category.SECURITY: pgettext("CAP category", "Law enforcement and security"),
        Category.RESCUE: pgettext("CAP category", "Rescue and recovery"),
        Category.FIRE: pgettext("CAP category", "Fire"),
        Category.HEALTH: pgettext("CAP category", "Health"),
        Category.ENV: pgettext("CAP category", "Environmental"),
        Category.TRANSPORT: pgettext("CAP category", "Transport"),
        Category.INFRA: pgettext("CAP category", "Infrastructure"),
        Category.CBRNE: pgettext("CAP category", "Chemical, biological, radiological, nuclear or explosive"),
        Category.OTHER: pgettext("CAP category", "Other"),
    },
}
"""kind -> CAP value -> the English label (the message id, in the context ``CAP <kind>``)."""


def label(kind: str, value: str, lang: str) -> str:
    """The label of a CAP ``value`` of ``kind`` in ``lang``; an unknown value is shown as it is."""
    english = LABELS.get(kind, {}).get(value)
    if english is None:
        return value
    return i18n.translations(lang).pgettext(f"CAP {kind}", english)


@pass_context
def cap_label(context: Context, kind: str, value: str) -> str:
    """``{{ cap_label("severity", "moderate") }}``: 中等 / Moderate, in the page's language."""
    return label(kind, value, str(context.get("lang") or i18n.DEFAULT))
