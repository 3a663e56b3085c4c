"""OASIS CAP 1.2 (Common Alerting Protocol) messages of an incident: a view of its log.

Pure functions, no I/O: the web layer reads the log and says who sends and where it
is read (:class:`Source`).

Which events are messages. The incident's first ``update.posted`` is its ``Alert``.
Every later public change is an ``Update`` whose ``references`` name every earlier
message: a new update, a correction, an edit of the incident's fields, new key facts,
reopening; resolving is an ``Update`` with ``responseType`` ``AllClear``. Retracting an
update is a ``Cancel`` referencing that update's messages (its post and corrections).
Nothing is broadcast before the first update; pins are presentation, not messages.

A message is named by the incident's id and its event's seq and is sent at the event's
time, so rendering it again gives the same document. A message carries the state of the
incident as it was at its event (a later edit never rewrites an earlier message), with
one ``info`` per language the update was written in.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from broadcaster.core import shapes
from broadcaster.core import timeline as tl
from broadcaster.core.events import EventType as T
from broadcaster.core.events import parse_time
from broadcaster.core.timeline import Incident, Update
from broadcaster.core.types import JSON
from broadcaster.syndication.feeds import plain_text, xml_text

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
MEDIA_TYPE = "application/cap+xml"
CATEGORIES = ("Geo", "Met", "Safety", "Security", "Rescue", "Fire", "Health", "Env", "Transport", "Infra",
              "CBRNE", "Other")  # fmt: skip
URGENCIES = ("Immediate", "Expected", "Future", "Past", "Unknown")
SEVERITIES = ("Extreme", "Severe", "Moderate", "Minor", "Unknown")
CERTAINTIES = ("Observed", "Likely", "Possible", "Unlikely", "Unknown")
HEADLINE_CHARS = 160  # CAP 1.2 3.2.2: "SHOULD be less than 160 characters"
EVENT_CHARS = 100
PHOTO_TYPES = {"jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
_CHANGES = {T.UPDATE_CORRECTED, T.INCIDENT_EDITED, T.FACTS_CHANGED, T.INCIDENT_RESOLVED, T.INCIDENT_REOPENED}
_LANGUAGE = re.compile(r"^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$")  # xs:language
_NOT_IN_IDS = re.compile(r"[\s,<&]")  # CAP 1.2 3.2.1: identifiers carry no space, comma, < or &

# Free-text categories of older incidents, read for a CAP category: first match wins.
_CATEGORY_WORDS = (
    ("CBRNE", ("chemical", "nuclear", "radiation", "explosi", "化学", "核", "辐射", "爆炸", "危化")),
    ("Fire", ("fire", "blaze", "火")),
    ("Geo", ("earthquake", "landslide", "subsidence", "地震", "滑坡", "塌陷", "地质")),
    ("Met", ("weather", "storm", "rain", "snow", "typhoon", "flood",
             "气象", "暴雨", "台风", "暴雪", "洪", "内涝")),
    ("Health", ("health", "disease", "epidemic", "hospital", "卫生", "疫", "医")),
    ("Env", ("pollution", "environment", "污染", "环境")),
    ("Transport", ("traffic", "road", "bus", "rail", "metro", "flight", "transport", "交通", "道路", "公交",
                   "地铁", "铁路", "航班")),
    ("Infra", ("water", "pipe", "power", "electric", "gas", "outage", "heating", "telecom", "infra",
               "水", "电", "燃气", "供暖", "停", "管", "通信")),
    ("Rescue", ("rescue", "救援")),
    ("Security", ("security", "police", "治安", "警")),
    ("Safety", ("safety", "安全")),
)  # fmt: skip

_LABELS = {
    "zh": {
        "drill": "演练 EXERCISE：这是演练，不是真实紧急情况。",
        "drill_prefix": "【演练 EXERCISE】",
        "corrected_prefix": "【更正】",
        "withdrawn_prefix": "【已撤回】",
        "resolved_prefix": "【已结束】",
        "correction": "更正（原因：{reason}）：",
        "withdrawal": "此前发布的消息已撤回。原因：{reason}",
        "resolved": "事件已结束。",
        "resolved_because": "事件已结束：{reason}",
        "reopened": "事件重新开启。",
        "reopened_because": "事件重新开启：{reason}",
        "area": "区域：{area}",
        "area_unnamed": "受影响区域",
        "restoration": "预计恢复时间：{time}",
        "previously": "（此前预计：{time}）",
        "photo": "照片 {n}",
    },
    "en": {
        "drill": "EXERCISE: this is a drill, not a real emergency.",
        "drill_prefix": "[EXERCISE] ",
        "corrected_prefix": "[Correction] ",
        "withdrawn_prefix": "[Withdrawn] ",
        "resolved_prefix": "[Resolved] ",
        "correction": "Correction (reason: {reason}):",
        "withdrawal": "An earlier message was withdrawn. Reason: {reason}",
        "resolved": "The incident is over.",
        "resolved_because": "The incident is over: {reason}",
        "reopened": "The incident was reopened.",
        "reopened_because": "The incident was reopened: {reason}",
        "area": "Area: {area}",
        "area_unnamed": "Affected area",
        "restoration": "Expected restoration: {time}",
        "previously": " (previously {time})",
        "photo": "Photo {n}",
    },
}


@dataclass(frozen=True, slots=True)
class Source:
    """What a message depends on besides the log: its sender (a host name, say), the
    organisation named to the public, the base URL it is read at, the time zone of ``sent``."""

    sender: str
    organisation: str
    base_url: str
    zone: str


@dataclass(frozen=True, slots=True)
class Stamp:
    """One message in the incident's history: its event's seq and time, its type and,
    for a ``Cancel``, the seqs of the messages it withdraws."""

    seq: int
    at: str
    msg_type: str
    cancels: tuple[int, ...] = ()


# --- names and times ----------------------------------------------------------------


def cap_category(category: str) -> str:
    """The CAP category of an incident's category: itself when it is one (any case),
    else read from its words (``停水`` is ``Infra``), else ``Other``."""
    for name in CATEGORIES:
        if category.strip().lower() == name.lower():
            return name
    words = category.lower()
    return next((name for name, keys in _CATEGORY_WORDS if any(k in words for k in keys)), "Other")


def _choice(value: str, choices: Sequence[str]) -> str:
    return next((c for c in choices if c.lower() == value.lower()), "Unknown")


def sent_time(at: str, zone: str) -> str:
    """An event's UTC time as CAP writes it: whole seconds, the zone's offset, never ``Z``."""
    moment = parse_time(at).astimezone(ZoneInfo(zone)).replace(microsecond=0)
    return moment.isoformat()


def _readable_time(value: str, zone: str) -> str:
    moment = parse_time(value).astimezone(ZoneInfo(zone))
    return f"{moment:%Y-%m-%d %H:%M} (UTC{moment.isoformat()[-6:]})"


def sender(source: Source) -> str:
    return _NOT_IN_IDS.sub("_", source.sender)


def identifier(source: Source, incident_id: str, seq: int) -> str:
    return f"{sender(source)}-{incident_id}-{seq}"


def message_url(base_url: str, incident_id: str, seq: int) -> str:
    """Where one message stays readable: ``/incidents/{id}/cap/{seq}.xml``."""
    return f"{base_url}/incidents/{incident_id}/cap/{seq}.xml"


# --- the history: which events are messages -------------------------------------------


def history(events: Iterable[JSON]) -> list[Stamp]:
    """The incident's messages, oldest first, from its events (ascending seq)."""
    stamps: list[Stamp] = []
    by_update: dict[str, list[int]] = {}
    answers: set[str] = set()  # readers' questions answered in public: not alerts
    for event in events:
        kind, seq, at, data = event["type"], event["seq"], event["at"], event["data"]
        if kind == T.QUESTION_ANSWERED or data.get("id") in answers:
            answers.add(data["id"])
        elif kind == T.UPDATE_POSTED:
            stamps.append(Stamp(seq, at, "Update" if stamps else "Alert"))
            by_update[data["id"]] = [seq]
        elif not stamps:
            continue  # nothing was broadcast yet
        elif kind == T.UPDATE_RETRACTED:
            stamps.append(Stamp(seq, at, "Cancel", tuple(by_update.get(data["id"], ()))))
        elif kind in _CHANGES:
            stamps.append(Stamp(seq, at, "Update"))
            if kind == T.UPDATE_CORRECTED:
                by_update.setdefault(data["id"], []).append(seq)
    return stamps


def _references(source: Source, incident_id: str, stamps: Sequence[Stamp], index: int) -> str | None:
    stamp = stamps[index]
    if stamp.msg_type == "Alert":
        return None
    earlier = stamps[:index]
    if stamp.msg_type == "Cancel":
        earlier = [s for s in earlier if s.seq in stamp.cancels]
    return " ".join(
        f"{sender(source)},{identifier(source, incident_id, s.seq)},{sent_time(s.at, source.zone)}"
        for s in earlier
    )


# --- what a message says --------------------------------------------------------------


def _labels(lang: str) -> dict[str, str]:
    return _LABELS["zh" if tl.same_language(lang, "zh") else "en"]


def _text_of(html: str) -> str:
    lines = (" ".join(line.split()) for line in plain_text(html).splitlines())
    return "\n".join(line for line in lines if line)


def subject(inc: Incident, event: JSON) -> Update | None:
    """The update whose text the message carries: the event's own, else the latest shown."""
    if event["type"] in (T.UPDATE_POSTED, T.UPDATE_CORRECTED, T.UPDATE_RETRACTED):
        return inc.updates[event["data"]["id"]]
    return next((u for u in inc.updates_newest_first() if u.retracted_at is None and not u.question), None)


def _languages(inc: Incident, update: Update | None) -> list[str]:
    return [inc.lang, *(update.translations if update else ())]


def headline(inc: Incident, event: JSON, lang: str) -> str:
    """The incident's title, marked as a drill, a correction, a withdrawal or the end."""
    labels = _labels(lang)
    kind = event["type"]
    prefix = labels["drill_prefix"] if inc.exercise else ""
    prefix += {
        T.UPDATE_CORRECTED: labels["corrected_prefix"],
        T.UPDATE_RETRACTED: labels["withdrawn_prefix"],
        T.INCIDENT_RESOLVED: labels["resolved_prefix"],
    }.get(kind, "")
    text = xml_text(prefix + inc.title)
    return text if len(text) <= HEADLINE_CHARS else text[: HEADLINE_CHARS - 1].rstrip() + "…"


def lead(inc: Incident, event: JSON, update: Update | None, lang: str) -> list[str]:
    """What the message says first: why it was sent, then the update's text in ``lang``."""
    labels, kind, data = _labels(lang), event["type"], event["data"]
    reason = data.get("reason")
    lines = [labels["drill"]] if inc.exercise else []
    if kind == T.UPDATE_RETRACTED:
        return [*lines, labels["withdrawal"].format(reason=reason or "")]
    if kind == T.INCIDENT_RESOLVED:
        return [*lines, labels["resolved_because"].format(reason=reason) if reason else labels["resolved"]]
    if kind == T.UPDATE_CORRECTED:
        lines.append(labels["correction"].format(reason=reason or ""))
    elif kind == T.INCIDENT_REOPENED:
        lines.append(labels["reopened_because"].format(reason=reason) if reason else labels["reopened"])
    if update is not None:
        translated = update.translation(lang) if lang != inc.lang else None
        lines.append(_text_of(translated[1]["html"] if translated else update.html))
    return lines


def description(inc: Incident, event: JSON, update: Update | None, lang: str, zone: str) -> str:
    """The lead, then what stays true of the incident: summary, area, key facts, and
    while it is live the expected restoration (with the estimate it replaced)."""
    labels = _labels(lang)
    context = [inc.summary] if inc.summary else []
    if inc.area:
        context.append(labels["area"].format(area=inc.area))
    context.extend(
        f"{fact.get('label', '')}: {fact.get('value', '')}" for fact in inc.facts if fact.get("value")
    )
    if inc.expected_restoration and inc.state == tl.LIVE:
        line = labels["restoration"].format(time=_readable_time(inc.expected_restoration, zone))
        if inc.restoration_changes and inc.restoration_changes[-1].after == inc.expected_restoration:
            line += labels["previously"].format(time=_readable_time(inc.restoration_changes[-1].before, zone))
        context.append(line)
    first = "\n".join(lead(inc, event, update, lang))
    return first + ("\n\n" + "\n".join(context) if context else "")


# --- XML ----------------------------------------------------------------------------


def add(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    """A child element whose text and attributes hold only characters XML can carry."""
    child = ET.SubElement(parent, tag, {name: xml_text(value) for name, value in attrs.items()})
    if text is not None:
        child.text = xml_text(text)
    return child


def _info(
    alert: ET.Element, inc: Incident, event: JSON, update: Update | None, lang: str, source: Source
) -> None:
    """One ``info`` block, in the order the CAP 1.2 schema requires."""
    resolved = event["type"] == T.INCIDENT_RESOLVED
    page = f"{source.base_url}/incidents/{inc.id}"
    info = add(alert, "info")
    add(info, "language", lang if _LANGUAGE.match(lang) else "und")
    add(info, "category", cap_category(inc.category))
    event_name = (_labels(lang)["drill_prefix"] if inc.exercise else "") + inc.title
    add(info, "event", event_name[:EVENT_CHARS])
    if resolved:
        add(info, "responseType", "AllClear")
    # Once it is over, it is over: "Past", whatever urgency the incident had.
    add(info, "urgency", "Past" if resolved else _choice(inc.urgency, URGENCIES))
    add(info, "severity", "Minor" if resolved else _choice(inc.severity, SEVERITIES))
    add(info, "certainty", "Observed" if resolved else _choice(inc.certainty, CERTAINTIES))
    add(info, "senderName", source.organisation)
    add(info, "headline", headline(inc, event, lang))
    add(info, "description", description(inc, event, update, lang, source.zone))
    if inc.instruction and not resolved:
        add(info, "instruction", inc.instruction)
    add(info, "web", page if lang == inc.lang else f"{page}?lang={lang}")
    if inc.expected_restoration and inc.state == tl.LIVE:
        parameter = add(info, "parameter")
        add(parameter, "valueName", "expectedRestoration")
        add(parameter, "value", sent_time(inc.expected_restoration, source.zone))
    if update is not None and update.retracted_at is None and event["type"] != T.INCIDENT_RESOLVED:
        for n, photo in enumerate(update.photos, 1):
            resource = add(info, "resource")
            add(resource, "resourceDesc", _labels(lang)["photo"].format(n=n))
            add(resource, "mimeType", PHOTO_TYPES.get(str(photo["url"]).rpartition(".")[2], "image/jpeg"))
            add(resource, "uri", source.base_url + str(photo["url"]))
    if inc.area or inc.area_shape:
        area = add(info, "area")
        add(area, "areaDesc", inc.area or _labels(lang)["area_unnamed"])
        if inc.area_shape:
            element, text = shapes.cap_text(inc.area_shape)
            add(area, element, text)


def _alert(inc: Incident, event: JSON, stamps: Sequence[Stamp], index: int, source: Source) -> bytes:
    stamp = stamps[index]
    alert = ET.Element("alert", {"xmlns": CAP_NS})
    add(alert, "identifier", identifier(source, inc.id, stamp.seq))
    add(alert, "sender", sender(source))
    add(alert, "sent", sent_time(stamp.at, source.zone))
    add(alert, "status", "Exercise" if inc.exercise else "Actual")
    add(alert, "msgType", stamp.msg_type)
    add(alert, "scope", "Public")
    notes = [_labels(inc.lang)["drill"]] if inc.exercise else []
    if event["type"] in (T.UPDATE_CORRECTED, T.UPDATE_RETRACTED):
        notes.append(str(event["data"].get("reason") or ""))
    if notes:
        add(alert, "note", "\n".join(notes))
    references = _references(source, inc.id, stamps, index)
    if references:
        add(alert, "references", references)
    add(alert, "incidents", inc.id)
    update = subject(inc, event)
    for lang in _languages(inc, update):
        _info(alert, inc, event, update, lang, source)
    document: bytes = ET.tostring(alert, encoding="utf-8", xml_declaration=True)
    return document


def alert(events: Sequence[JSON], seq: int, source: Source) -> bytes:
    """The message of the event ``seq`` as a CAP 1.2 XML document (UTF-8 bytes).

    Raises:
        LookupError: that event is not a message (see :func:`history`).
    """
    stamps = history(events)
    index = next((i for i, stamp in enumerate(stamps) if stamp.seq == seq), None)
    if index is None:
        raise LookupError(f"event {seq} is not a CAP message")
    incident: Incident | None = None
    for event in events:
        incident = tl.apply(incident, event)
        if event["seq"] == seq:
            return _alert(incident, event, stamps, index, source)
    raise LookupError(f"event {seq} is not in the log")  # pragma: no cover (history found it)


def current(events: Sequence[JSON], source: Source) -> bytes | None:
    """The incident's latest message, or None before its first update."""
    stamps = history(events)
    return alert(events, stamps[-1].seq, source) if stamps else None
