"""The one wire format: an event in a log, encoded once.

A log is named ``"KIND:ID"`` (``incident:20261122-ab12cd``). Its events encode as
``{"KIND": "ID", "seq": N, "type": "...", "at": "...", "data": {...}}``. The seq is
assigned by the backend inside its atomic append, so an event is encoded in two
halves around the seq (:func:`encode_parts`) and joined there (:func:`join_parts`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from broadcaster.core.types import JSON


class EventType(StrEnum):
    INCIDENT_OPENED = "incident.opened"
    INCIDENT_EDITED = "incident.edited"
    UPDATE_POSTED = "update.posted"
    UPDATE_CORRECTED = "update.corrected"
    UPDATE_RETRACTED = "update.retracted"
    UPDATE_PINNED = "update.pinned"
    UPDATE_UNPINNED = "update.unpinned"
    FACTS_CHANGED = "facts.changed"
    INCIDENT_RESOLVED = "incident.resolved"
    INCIDENT_REOPENED = "incident.reopened"
    QUESTION_ANSWERED = "question.answered"


def utc_now() -> datetime:
    return datetime.now(UTC)


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with milliseconds: ``2026-11-22T07:15:00.123Z``."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_time(text: str) -> datetime:
    """Parse an RFC 3339 time that carries an offset.

    Raises:
        ValueError: the text is not a time, or has no offset.
    """
    moment = datetime.fromisoformat(text.replace("z", "Z"))
    if moment.tzinfo is None:
        raise ValueError("time needs an offset, e.g. 2026-11-22T21:00:00+08:00")
    return moment


def dumps(value: object) -> str:
    """Compact JSON, UTF-8 kept as is (Chinese text stays readable and small)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def split_log(log: str) -> tuple[str, str]:
    kind, _, ident = log.partition(":")
    if not kind or not ident:
        raise ValueError(f"log name must be KIND:ID, not {log!r}")
    return kind, ident


def encode_parts(log: str, type_: str, at: str, data: JSON) -> tuple[str, str]:
    """The encoded event without its seq: ``head + str(seq) + tail`` is the event."""
    kind, ident = split_log(log)
    head = "{" + dumps(kind) + ":" + dumps(ident) + ',"seq":'
    tail = ',"type":' + dumps(type_) + ',"at":' + dumps(at) + ',"data":' + dumps(data) + "}"
    return head, tail


def join_parts(head: str, seq: int, tail: str) -> str:
    return f"{head}{seq}{tail}"


def text_frame(payload: bytes) -> bytes:
    """A complete, unmasked WebSocket text frame (RFC 6455 5.2): what a server sends.

    Built once per event; the same bytes are then written to every connection.
    """
    size = len(payload)
    if size < 126:
        return bytes((0x81, size)) + payload
    if size < 1 << 16:
        return bytes((0x81, 126)) + size.to_bytes(2, "big") + payload
    return bytes((0x81, 127)) + size.to_bytes(8, "big") + payload


@dataclass(frozen=True, slots=True)
class Event:
    """An event as stored: its log, its seq and its encodings, made once and shared.

    ``text`` is what a WebSocket text message carries; ``payload`` the same as UTF-8
    bytes and ``frame`` as a WebSocket frame, computed once so that no connection
    encodes it again.
    """

    log: str
    seq: int
    text: str
    payload: bytes = field(init=False, repr=False, compare=False)
    frame: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        payload = self.text.encode()
        object.__setattr__(self, "payload", payload)
        object.__setattr__(self, "frame", text_frame(payload))

    def decode(self) -> JSON:
        value: JSON = json.loads(self.text)
        return value

    @property
    def type(self) -> str:
        return str(self.decode()["type"])
