"""The rules of notifications, pure (no I/O): which events wake whom (:func:`importance`),
what a notification says (:func:`notice`), and what a subscription request must be
(:func:`check_request`).

What is important (issue 14, section 4; docs/notifications.md):

* a new incident, its first update, resolved, reopened, a changed (or withdrawn) expected
  restoration, a pinned update, a withdrawn (retracted) update, and any update posted with
  ``"notify": true`` (the default for the first update and for updates that promise the
  next one, ``next_update_at``; an update posted before the flag existed gets that default);
* every other update (``"notify": false``), an answered reader's question and a change of
  the key facts reach only those who asked for every update (:attr:`Level.ALL`);
* a correction, an unpin and any other edit of the incident (title, area, severity...) wake
  nobody: they fix what was said, they do not say something new.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from broadcaster.core.events import EventType as T
from broadcaster.core.events import parse_time
from broadcaster.core.timeline import Incident, same_language
from broadcaster.core.types import JSON
from broadcaster.notify.types import ChannelName, Level, Notice
from broadcaster.web.targets import address_problem

LANGS = ("zh-CN", "en")
MIN_RADIUS_KM, MAX_RADIUS_KM = 0.5, 20.0
MAX_EMAIL = 254
MAX_ENDPOINT = 2048
HEADLINE_CHARS = 140
DEFAULT_ZONE = "Asia/Shanghai"

_WORDS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "new": "新事件：{what}",
        "resolved": "已结束：{what}",
        "reopened": "重新开启：{what}",
        "restoration": "预计恢复时间改为 {when}",
        "restoration_set": "预计恢复时间：{when}",
        "restoration_gone": "预计恢复时间已撤回",
        "pinned": "置顶：{what}",
        "retracted": "一条更新已撤回：{what}",
        "retracted_plain": "一条更新已撤回",
        "facts": "关键信息已更新",
        "drill": "【演练】",
    },
    "en": {
        "new": "New incident: {what}",
        "resolved": "Resolved: {what}",
        "reopened": "Reopened: {what}",
        "restoration": "Expected restoration revised to {when}",
        "restoration_set": "Expected restoration: {when}",
        "restoration_gone": "Expected restoration withdrawn",
        "pinned": "Pinned: {what}",
        "retracted": "An update was withdrawn: {what}",
        "retracted_plain": "An update was withdrawn",
        "facts": "Key facts updated",
        "drill": "[Drill] ",
    },
}


# --- importance ----------------------------------------------------------------------------------


def notify_default(first: bool, next_update_at: str | None) -> bool:
    """Whether an update notifies when the operator did not say: the first update of an
    incident, and an update promising the next one."""
    return first or next_update_at is not None


def importance(before: Incident | None, event: JSON) -> Level | None:
    """Who an event wakes: those following important events (and everyone following all),
    those following every update only, or nobody (None). ``before`` is the incident as it
    was before the event (None for ``incident.opened``)."""
    kind, data = event["type"], event.get("data", {})
    if kind == T.INCIDENT_OPENED:
        return Level.IMPORTANT
    if before is None:
        return None
    if kind == T.UPDATE_POSTED:
        flag = data.get("notify")
        if not isinstance(flag, bool):
            flag = notify_default(not before.updates, data.get("next_update_at"))
        return Level.IMPORTANT if flag else Level.ALL
    if kind in (T.INCIDENT_RESOLVED, T.INCIDENT_REOPENED, T.UPDATE_PINNED, T.UPDATE_RETRACTED):
        return Level.IMPORTANT
    if kind == T.INCIDENT_EDITED:
        if "expected_restoration" in data and data["expected_restoration"] != before.expected_restoration:
            return Level.IMPORTANT
        return None
    if kind in (T.QUESTION_ANSWERED, T.FACTS_CHANGED):
        return Level.ALL
    return None  # update.corrected, update.unpinned, anything new


def wants(sub_level: Level, event_level: Level) -> bool:
    """Whether a subscription at ``sub_level`` hears an event of ``event_level``."""
    return sub_level == Level.ALL or event_level == Level.IMPORTANT


# --- the notice ----------------------------------------------------------------------------------


def first_line(markdown: str, limit: int = HEADLINE_CHARS) -> str:
    """The first non-empty line of an update, without its Markdown marks, at most ``limit``
    characters (cut with an ellipsis)."""
    for line in markdown.splitlines():
        line = re.sub(r"^\s*(#{1,6}\s+|>\s*|[-*+]\s+|\d+[.)]\s+)*", "", line)
        line = re.sub(r"(\*\*|__|`|~~)", "", line).strip()
        if line:
            return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"
    return ""


def local_time(value: str, lang: str, zone: str = DEFAULT_ZONE) -> str:
    """An RFC 3339 time as the incident's readers say it, in the incident's zone:
    ``5月1日 02:00`` / ``1 May 02:00 CST``."""
    moment: datetime = parse_time(value).astimezone(ZoneInfo(zone))
    if lang == "zh-CN":
        return f"{moment.month}月{moment.day}日 {moment:%H:%M}"
    return f"{moment.day} {moment:%b %H:%M} {moment.tzname() or ''}".rstrip()


def _body_in(update: Any, lang: str, incident_lang: str) -> str:
    if not same_language(lang, incident_lang):
        found = update.translation(lang)
        if found is not None:
            return str(found[1]["body"])
    return str(update.body)


def notice(after: Incident, event: JSON, lang: str, public_url: str, *, zone: str = DEFAULT_ZONE) -> Notice:
    """What ``event`` tells a subscriber reading ``lang`` (``zh-CN`` or ``en``); ``after`` is
    the incident with the event applied. ``zone``: the incident pages' time zone
    (``INCIDENTS_TIMEZONE``), for times said in the headline."""
    lang = lang if lang in LANGS else "zh-CN"
    words, kind, data = _WORDS[lang], event["type"], event.get("data", {})
    update_id: str | None = None
    text = ""
    if kind == T.INCIDENT_OPENED:
        headline = words["new"].format(what=first_line(after.summary) or after.title)
        text = after.summary
    elif (
        kind in (T.UPDATE_POSTED, T.QUESTION_ANSWERED, T.UPDATE_CORRECTED) and data.get("id") in after.updates
    ):
        update_id = str(data["id"])
        text = _body_in(after.updates[update_id], lang, after.lang)
        headline = first_line(text)
    elif kind == T.UPDATE_PINNED and data.get("id") in after.updates:
        update_id = str(data["id"])
        text = _body_in(after.updates[update_id], lang, after.lang)
        headline = words["pinned"].format(what=first_line(text))
    elif kind == T.UPDATE_RETRACTED:
        update_id = str(data.get("id") or "") or None
        reason = first_line(str(data.get("reason") or ""))
        headline = words["retracted"].format(what=reason) if reason else words["retracted_plain"]
    elif kind == T.INCIDENT_RESOLVED:
        headline = words["resolved"].format(what=first_line(str(data.get("reason") or "")) or after.title)
    elif kind == T.INCIDENT_REOPENED:
        headline = words["reopened"].format(what=first_line(str(data.get("reason") or "")) or after.title)
    elif kind == T.INCIDENT_EDITED and "expected_restoration" in data:
        when = data["expected_restoration"]
        if when is None:
            headline = words["restoration_gone"]
        else:
            key = "restoration" if after.restoration_changes else "restoration_set"
            headline = words[key].format(when=local_time(str(when), lang, zone))
    elif kind == T.FACTS_CHANGED:
        headline = words["facts"]
    else:
        headline = after.title
    if after.exercise:
        headline = words["drill"] + headline
    url = f"{public_url.rstrip('/')}/incidents/{after.id}?lang={lang}"
    if update_id and kind != T.UPDATE_RETRACTED:
        url += f"#u-{update_id}"
    return Notice(
        incident=after.id, seq=int(event["seq"]), event_type=str(kind), at=str(event["at"]),
        title=after.title, headline=headline, text=text, url=url, exercise=after.exercise,
        lang=lang, update_id=update_id,
    )  # fmt: skip


# --- subscription requests -----------------------------------------------------------------------

_EMAIL = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@"
    r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+"
)
_UPDATES = (T.UPDATE_POSTED, T.QUESTION_ANSWERED, T.UPDATE_CORRECTED)
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_FIELDS = {"channel", "incident", "area", "level", "lang", "drills", "email", "push"}


@dataclass(frozen=True)
class SubscriptionRequest:
    """A checked ``POST /api/subscriptions`` body."""

    channel: ChannelName
    incident: str | None
    area: JSON | None
    level: Level
    lang: str
    drills: bool
    personal: JSON
    """``{"email": ...}`` or ``{"push": {"endpoint", "keys": {"p256dh", "auth"}}}``."""

    @property
    def address(self) -> str:
        """What identifies the subscriber: the e-mail address (lower case) or the endpoint."""
        if "email" in self.personal:
            return str(self.personal["email"]).lower()
        return str(self.personal["push"]["endpoint"])


def _b64url(value: Any, field: str, size: int) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9_-]+={0,2}", value):
        raise ValueError(f"{field}: must be base64url text")
    try:
        raw = base64.urlsafe_b64decode(value.rstrip("=") + "=" * (-len(value.rstrip("=")) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"{field}: must be base64url text") from exc
    if len(raw) != size or (size == 65 and raw[0] != 4):
        what = "an uncompressed P-256 public key (65 bytes)" if size == 65 else f"{size} bytes"
        raise ValueError(f"{field}: must be {what}")
    return value


def check_email(value: Any) -> str:
    """An e-mail address (``email``): its syntax only; the confirmation mail proves the rest."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("email: required for e-mail subscriptions")
    value = value.strip()
    if len(value) > MAX_EMAIL or not _EMAIL.fullmatch(value):
        raise ValueError("email: not a valid e-mail address")
    local, _, domain = value.rpartition("@")
    return f"{local}@{domain.lower()}"


def check_push(value: Any, allow_private: bool) -> JSON:
    """The browser's ``PushSubscription.toJSON()`` (``push``): an https endpoint on a public
    address (http and private addresses too when ``allow_private``), and its two keys."""
    if not isinstance(value, dict):
        raise ValueError("push: required for Web Push: the browser's PushSubscription.toJSON()")
    if set(value) - {"endpoint", "keys", "expirationTime"}:
        raise ValueError("push: only endpoint, keys and expirationTime")
    endpoint = value.get("endpoint")
    if not isinstance(endpoint, str) or not endpoint:
        raise ValueError("push.endpoint: required")
    if len(endpoint) > MAX_ENDPOINT or any(c.isspace() or ord(c) < 32 for c in endpoint):
        raise ValueError(f"push.endpoint: not a URL (at most {MAX_ENDPOINT} characters, no spaces)")
    try:
        parts = urlsplit(endpoint)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        raise ValueError(f"push.endpoint: not a valid URL ({exc})") from exc
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in schemes or not parts.hostname:
        raise ValueError("push.endpoint: must be an https:// URL")
    if parts.username is not None or parts.password is not None:
        raise ValueError("push.endpoint: must not contain a user name or password")
    if not allow_private and (why := address_problem(parts.hostname)) is not None:
        raise ValueError(f"push.endpoint: {why}; push endpoints must be public")
    keys = value.get("keys")
    if not isinstance(keys, dict) or set(keys) != {"p256dh", "auth"}:
        raise ValueError("push.keys: must hold exactly p256dh and auth")
    return {
        "endpoint": endpoint,
        "keys": {"p256dh": _b64url(keys["p256dh"], "push.keys.p256dh", 65),
                 "auth": _b64url(keys["auth"], "push.keys.auth", 16)},
    }  # fmt: skip


def check_area(value: Any) -> JSON:
    """A circle of 0.5 to 20 km (``area``)."""
    if not isinstance(value, dict) or value.get("type") != "circle":
        raise ValueError('area: must be {"type": "circle", "center": [lat, lon], "radius_km": r}')
    if set(value) != {"type", "center", "radius_km"}:
        raise ValueError("area: a circle has exactly: type, center, radius_km")
    center, radius = value["center"], value["radius_km"]
    if not isinstance(center, list) or len(center) != 2:
        raise ValueError("area.center: must be [latitude, longitude]")
    lat, lon = center
    for number in (lat, lon, radius):
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise ValueError("area: latitude, longitude and radius_km must be numbers")
    if not -90.0 <= lat <= 90.0:
        raise ValueError("area.center: latitude must be between -90 and 90")
    if not -180.0 <= lon <= 180.0:
        raise ValueError("area.center: longitude must be between -180 and 180")
    if not MIN_RADIUS_KM <= radius <= MAX_RADIUS_KM:
        raise ValueError(f"area.radius_km: must be between {MIN_RADIUS_KM:g} and {MAX_RADIUS_KM:g} km")
    return {"type": "circle", "center": [float(lat), float(lon)], "radius_km": float(radius)}


def _choice(body: JSON, field: str, choices: tuple[str, ...], default: str | None = None) -> str:
    value = body.get(field, default)
    if value not in choices:
        raise ValueError(f"{field}: must be one of {', '.join(choices)}")
    return str(value)


def check_request(body: Any, allow_private: bool = False) -> SubscriptionRequest:
    """A ``POST /api/subscriptions`` body, checked.

    Raises:
        ValueError: ``"field: what is wrong"`` (HTTP 422); the incident's existence and the
            endpoint's resolved addresses are checked by the caller.
    """
    if not isinstance(body, dict):
        raise ValueError("body: must be a JSON object")
    if unknown := sorted(set(body) - _FIELDS):
        raise ValueError(f"{unknown[0]}: unknown field")
    channel = ChannelName(_choice(body, "channel", tuple(ChannelName)))
    incident, area = body.get("incident"), body.get("area")
    if (incident is None) == (area is None):
        raise ValueError("incident: give exactly one of incident and area")
    if incident is not None and (
        not isinstance(incident, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", incident)
    ):
        raise ValueError("incident: not an incident id")
    level = Level(_choice(body, "level", tuple(Level), Level.IMPORTANT.value))
    lang = _choice(body, "lang", LANGS)
    drills = body.get("drills", True)
    if not isinstance(drills, bool):
        raise ValueError("drills: must be true or false")
    if channel == ChannelName.EMAIL:
        if "push" in body:
            raise ValueError("push: only for Web Push subscriptions")
        personal: JSON = {"email": check_email(body.get("email"))}
    else:
        if "email" in body:
            raise ValueError("email: only for e-mail subscriptions")
        personal = {"push": check_push(body.get("push"), allow_private)}
    return SubscriptionRequest(
        channel, incident, check_area(area) if area is not None else None, level, lang, drills, personal
    )
