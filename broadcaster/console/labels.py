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
    context = f"CAP {kind}"
    return i18n.translations(lang).pgettext(context, english)


@pass_context
def cap_label(context: Context, kind: str, value: str) -> str:
    """``{{ cap_label("severity", "moderate") }}``: 中等 / Moderate, in the page's language."""
    return label(kind, value, str(context.get("lang") or i18n.DEFAULT))


def _(message: str) -> str:
    """Marks a message for translation (looked up in :func:`action_label`)."""
    return message


ACTIONS = {
    "incident.opened": _("Incident opened"),
    "incident.edited": _("Incident details edited"),
    "incident.resolved": _("Incident resolved"),
    "incident.reopened": _("Incident reopened"),
    "facts.changed": _("Key facts changed"),
    "update.posted": _("Update published"),
    "update.corrected": _("Update corrected"),
    "update.retracted": _("Update withdrawn"),
    "update.pinned": _("Update pinned"),
    "update.unpinned": _("Update unpinned"),
    "schedule.created": _("Update scheduled or drafted"),
    "schedule.edited": _("Scheduled update edited"),
    "schedule.cancelled": _("Scheduled update cancelled"),
    "schedule.published": _("Scheduled update published"),
    "schedule.failed": _("Scheduled update failed"),
    "question.answered": _("Question answered"),
    "report.received": _("Report received"),
    "report.assigned": _("Report assigned"),
    "report.replied": _("Report replied to"),
    "report.resolved": _("Report resolved"),
    "report.hidden": _("Report hidden"),
    "report.unhidden": _("Report shown again"),
    "report.merged": _("Report merged"),
    "report.linked": _("Report linked to an incident"),
    "report.contact_erased": _("Reporter's contact erased"),
    "operator.invited": _("Operator added"),
    "password.set": _("Password set"),
    "logout.everywhere": _("Logged out everywhere"),
    "token.created": _("API token created"),
    "token.revoked": _("API token revoked"),
    "webhook.registered": _("Webhook endpoint registered"),
    "webhook.enabled": _("Webhook endpoint enabled"),
    "webhook.disabled": _("Webhook endpoint disabled"),
    "webhook.deleted": _("Webhook endpoint deleted"),
    "template.created": _("Template added"),
    "template.edited": _("Template edited"),
    "template.deleted": _("Template deleted"),
    "template.restored": _("Template restored as shipped"),
    "notifications.paused": _("Notifications paused"),
    "notifications.resumed": _("Notifications resumed"),
    "subscription.created": _("Subscription created"),
    "subscription.confirmed": _("Subscription confirmed"),
    "subscription.removed": _("Subscription removed"),
}
"""What the audit log and a report's history name by code (``update.posted``), as words."""


@pass_context
def action_label(context: Context, code: str) -> str:
    """``{{ action_label("update.posted") }}``: 发布更新 / Update published; an unknown code as it is."""
    english = ACTIONS.get(code)
    if english is None:
        return code
    return i18n.translations(str(context.get("lang") or i18n.DEFAULT)).gettext(english)
