"""The console's problems in the operator's language.

The rules (``broadcaster.core``, the capabilities) refuse in English, as the API answers; the
console shows the same refusal translated. A refusal is ``field: what is wrong`` (``title:
required``, ``expected restoration: must be in the future``) or a whole sentence (``the incident
is already resolved``): the field is looked up in :data:`FIELDS`, the rest matched against
:data:`PATTERNS`, whose message ids are the English texts themselves (so English reads as the
rule wrote it). A text matched by nothing is shown as it came; the console's language test walks
the forms and finds any left in English. ``problem`` is a Jinja global (``broadcaster.app``):
``{{ problem(error) }}`` in ``templates/console/base.html``.
"""

from __future__ import annotations

import re

from jinja2 import pass_context
from jinja2.runtime import Context

from broadcaster import i18n


def _(message: str) -> str:
    """Marks a message for translation (looked up in :func:`explain`)."""
    return message


FIELDS = {
    "title": _("Title"),
    "summary": _("Summary"),
    "area": _("Affected area"),
    "update": _("Update"),
    "body": _("Update"),
    "second language": _("The same update in the second language"),
    "translation": _("The same update in the second language"),
    "corrected text": _("Corrected text"),
    "reason": _("Reason"),
    "label": _("Label"),
    "value": _("Value"),
    "instruction": _("What the public should do"),
    "area on the map": _("Area on the map"),
    "expected restoration": _("Service expected back by"),
    "the expected restoration time": _("Service expected back by"),
    "photos": _("Photos"),
    "next update in": _("Next update in"),
    "next_update_at": _("Next update promised"),
    "next update": _("Next update promised"),
    "publish_at": _("Publish later at"),
    "severity or category": _("Severity or category"),
    "urgency or certainty": _("Urgency or certainty"),
    "severity": _("Severity"),
    "category": _("Category"),
    "urgency": _("Urgency"),
    "certainty": _("Certainty"),
    "url": _("URL"),
    "events": _("Events"),
    "id": _("Id"),
    "template": _("Template"),
    "name": _("Name"),
    "facts": _("Key facts"),
    "first_notice": _("First notice"),
    "next_update_minutes": _("Next update in"),
    "translations": _("The same update in the second language"),
}
"""The field a refusal names (before its first ``": "``) -> its label on the form."""

PATTERNS: list[tuple[str, str]] = [
    # forms and written text (broadcaster.console.forms, broadcaster.core.text)
    (r"required", _("required")),
    (r"must not be blank", _("must not be blank")),
    (r"at most (?P<n>[\d,]+) characters", _("at most %(n)s characters")),
    (
        r"control characters are not allowed: (?P<code>U\+[0-9A-F]+) at character (?P<n>\d+)",
        _("control characters are not allowed: %(code)s at character %(n)s"),
    ),
    (r"not a time: (?P<value>.*)", _("not a time: %(value)s")),
    (r"not one of the choices", _("not one of the choices")),
    (
        r"each fact needs a label \(up to 100 characters\) and a value \(up to 1,000\)",
        _("each fact needs a label (up to 100 characters) and a value (up to 1,000)"),
    ),
    (r"at most (?P<n>\d+) key facts", _("at most %(n)s key facts")),
    (r"1 to (?P<n>[\d,]+) minutes", _("1 to %(n)s minutes")),
    (
        r"it is promised with the first notice; write one, or choose none",
        _("it is promised with the first notice; write one, or choose none"),
    ),
    (
        r"at most (?P<n>\d+) per update \((?P<chosen>\d+) chosen\)",
        _("at most %(n)s per update (%(chosen)s chosen)"),
    ),
    # times (broadcaster.core.timeline, broadcaster.incidents.schedule_rules)
    (r"must be in the future", _("must be in the future")),
    (r"(?P<field>[\w ]+) must be in the future", _("%(field)s: must be in the future")),
    (
        r"(?P<field>[\w ]+) must be within (?P<n>\d+) years from now \(a typing mistake\?\)",
        _("%(field)s: must be within %(n)s years from now (a typing mistake?)"),
    ),
    (
        r"(?P<field>[\w ]+) must be within (?P<n>\d+) days from now \(a typing mistake\?\)",
        _("%(field)s: must be within %(n)s days from now (a typing mistake?)"),
    ),
    (r"(?P<field>[\w ]+) is out of range", _("%(field)s: is out of range")),
    (
        r"publish_at must be in the future \(leave it out to post now\)",
        _("The publication time must be in the future (leave it empty to post now)."),
    ),
    (
        r"next_update_at must be after publish_at",
        _("The promised next update must be after the publication time."),
    ),
    (r"time needs an offset, e\.g\. .*", _("not a time")),
    # the area on the map (broadcaster.core.shapes)
    (
        r"cannot read (?P<text>'.*'|\".*\"): expected .*",
        _(
            "cannot read %(text)s: give a circle as “latitude,longitude radius-in-km”"
            " or a polygon as “latitude,longitude” corners separated by spaces"
        ),
    ),
    (
        r"(?P<where>[\w\[\] ]+): latitude must be between -90 and 90, not (?P<v>\S+)",
        _("latitude must be between -90 and 90, not %(v)s"),
    ),
    (
        r"(?P<where>[\w\[\] ]+): longitude must be between -180 and 180, not (?P<v>\S+)",
        _("longitude must be between -180 and 180, not %(v)s"),
    ),
    (
        r"circle radius_km must be (?P<limit>.+), not (?P<v>\S+)",
        _("the radius in km must be %(limit)s, not %(v)s"),
    ),
    (
        r"a polygon has at most (?P<n>\d+) points, not (?P<m>\d+)",
        _("a polygon has at most %(n)s corners, not %(m)s"),
    ),
    (
        r"a polygon needs at least 4 points \(3 corners, then the first again\), not (?P<n>\d+)",
        _("a polygon needs at least 3 corners (%(n)s points given)"),
    ),
    (
        r"a polygon must be closed: its last point must repeat its first",
        _("a polygon must be closed: its last point must repeat its first"),
    ),
    (r"a polygon needs at least 3 different corners", _("a polygon needs at least 3 different corners")),
    # the timeline's rules (broadcaster.core.timeline)
    (
        r"the incident is resolved: reopen it before posting an update",
        _("The incident is resolved: reopen it before posting an update."),
    ),
    (
        r"the incident is resolved: reopen it before scheduling an update",
        _("The incident is resolved: reopen it before scheduling an update."),
    ),
    (
        r"nothing changed: every field already has that value",
        _("Nothing changed: every field already has that value."),
    ),
    (r"nothing changed: the facts are already these", _("Nothing changed: the key facts are already these.")),
    (
        r"a retracted update cannot be corrected; post a new update instead",
        _("A withdrawn update cannot be corrected; post a new update instead."),
    ),
    (r"the correction is the same as the current text", _("The correction is the same as the current text.")),
    (r"the update is already retracted", _("The update is already withdrawn.")),
    (r"a retracted update cannot be pinned", _("A withdrawn update cannot be pinned.")),
    (r"the update is already pinned", _("The update is already pinned.")),
    (r"the update is not pinned", _("The update is not pinned.")),
    (r"the incident is already resolved", _("The incident is already resolved.")),
    (r"the incident is not resolved", _("The incident is not resolved.")),
    (r"incident (?P<id>\S+) has no update (?P<u>\S+)", _("This incident has no such update (%(u)s).")),
    (r"no incident (?P<id>\S+)", _("There is no such incident (%(id)s).")),
    (r"no scheduled update (?P<id>\S+)", _("There is no such scheduled update (%(id)s).")),
    (
        r"this scheduled update is (?P<status>\w+); it cannot be changed any more",
        _("This scheduled update cannot be changed any more (it is %(status)s)."),
    ),
    (
        r"this scheduled update is (?P<status>\w+); it cannot be published",
        _("This scheduled update cannot be published (it is %(status)s)."),
    ),
    (
        r"this scheduled update is being published right now; reload it",
        _("This scheduled update is being published right now; reload the page."),
    ),
    (
        r"(this )?Idempotency-Key was already used .*",
        _("This form was already sent for something else: reload the page and try again."),
    ),
    (
        r"translations: (?P<tag>\S+) is the incident's own language \((?P<lang>\S+)\): use body",
        _("The second language is the incident's own language."),
    ),
    # photos (broadcaster.media)
    (
        r"(?P<file>.+): the photo is larger than (?P<mb>\d+) MB .*",
        _("%(file)s: the photo is larger than %(mb)s MB; send a smaller photo"),
    ),
    (
        r"(?P<file>.+): the photo( is \d+ x \d+ pixels,| has) more than the limit"
        r" of (?P<mp>\d+) megapixels; .*",
        _("%(file)s: the photo has more than %(mp)s megapixels; send a smaller photo"),
    ),
    (
        r"(?P<file>.+): this file is not a (?P<types>[^(]+) image .*",
        _("%(file)s: this file is not a JPEG, PNG or WebP image"),
    ),
    (
        r"(?P<file>.+): the image is damaged or incomplete .*",
        _("%(file)s: the image is damaged or incomplete; send the photo again"),
    ),
    # operators, templates, webhooks
    (r"an operator's name must be 1 to 100 characters", _("An operator's name must be 1 to 100 characters.")),
    (r"an operator named (?P<name>.+) exists already", _("An operator named %(name)s exists already.")),
    (r"a template (?P<id>.+) exists already", _("a template %(id)s exists already")),
    (r"one of (?P<choices>[\w, ]+)", _("not one of the choices")),
    (r"no template (?P<id>.+)", _("there is no template %(id)s")),
    (
        r"1 to 40 lower-case letters, digits and hyphens, starting and ending with a letter or digit",
        _("1 to 40 lower-case letters, digits and hyphens, starting and ending with a letter or digit"),
    ),
    (r"the only placeholder is \{area\}", _("the only placeholder is {area}")),
    (r"each label at most (?P<n>\d+) characters", _("each label at most %(n)s characters")),
    (r"(?P<label>.+) is there twice", _("%(label)s is there twice")),
    (r"at most (?P<n>\d+) labels", _("at most %(n)s labels")),
    (r"a whole number of minutes from 1 to (?P<n>[\d,]+)", _("a whole number of minutes from 1 to %(n)s")),
    (r"must not contain spaces", _("must not contain spaces")),
    (r"not a valid URL \((?P<why>.*)\)", _("not a valid URL (%(why)s)")),
    (r"must start with http:// or https://", _("must start with http:// or https://")),
    (r"needs a host, e\.g\. (?P<example>\S+)", _("needs a host, e.g. %(example)s")),
    (
        r"must not contain a user name or password \(receivers check the signature\)",
        _("must not contain a user name or password (receivers check the signature)"),
    ),
    (r"must not contain a fragment \(#\.\.\.\)", _("must not contain a fragment (#...)")),
    (r"port 0 is not valid", _("port 0 is not valid")),
    (
        r"(?P<why>.+); this server does not send webhooks to private addresses",
        _("%(why)s; this server does not send webhooks to private addresses"),
    ),
    (r"name at least one event type, or \* for all", _("name at least one event type, or * for all")),
    (
        r"unknown type (?P<types>.+) \(known: (?P<known>.+), or \* for all\)",
        _("unknown type %(types)s (known: %(known)s, or * for all)"),
    ),
    (
        r"this webhook endpoint is (?P<state>\w+); it cannot become (?P<target>\w+)",
        _("This webhook endpoint cannot change that way (it is %(state)s)."),
    ),
    (r"no webhook endpoint (?P<id>\S+)", _("There is no such webhook endpoint (%(id)s).")),
]
"""(a refusal's text as a regular expression, matched whole; its message id)."""

TEXTS = {"zh-CN": _("Texts in Chinese"), "en": _("Texts in English")}
"""A template's texts in one language (``texts.en.title``), as its form names them."""

_COMPILED = [(re.compile(pattern, re.DOTALL), message) for pattern, message in PATTERNS]
_TEXTS = re.compile(r"texts\.(?P<lang>zh-CN|en)\.?(?P<field>\w*)")


def _field(name: str, lang: str) -> str | None:
    """The label of a field a refusal names (``texts.en.title``: Texts in English · Title), or None."""
    catalog = i18n.translations(lang)
    if name in FIELDS:
        return catalog.gettext(FIELDS[name])
    texts = _TEXTS.fullmatch(name)
    if texts is None:
        return None
    language = catalog.gettext(TEXTS[texts["lang"]])
    if not texts["field"]:
        return language
    inner = _field(texts["field"], lang)
    return f"{language} · {inner}" if inner else None


def explain(message: str, lang: str) -> str:
    """``message`` (a rule's English refusal) in ``lang``; unknown text is returned unchanged."""
    catalog = i18n.translations(lang)
    for pattern, msgid in _COMPILED:
        found = pattern.fullmatch(message)
        if found is not None:
            params = {k: (v or "") for k, v in found.groupdict().items()}
            if "field" in params:
                params["field"] = _field(params["field"], lang) or params["field"]
            return catalog.gettext(msgid) % params if params else catalog.gettext(msgid)
    name, colon, rest = message.partition(": ")
    label = _field(name, lang) if colon else None
    if label is None:
        return message
    return f"{label}{'：' if lang == 'zh-CN' else ': '}{explain(rest, lang)}"


@pass_context
def problem(context: Context, message: object) -> str:
    """``{{ problem(error) }}``: the page's problem in its language."""
    return explain(str(message), str(context.get("lang") or i18n.DEFAULT))
