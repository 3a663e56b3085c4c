"""The export format's constants, digests and progress lines (shared by export, import and verify)."""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import IO
from urllib.parse import urlsplit, urlunsplit

from broadcaster.core.events import Event

FORMAT = "incidents-export"
VERSION = 1
KNOWN_KINDS = ("incident", "audit", "schedules", "report")
NOT_CARRIED = [
    "claims (short-lived locks of scheduled jobs; taken again when needed)",
    "document version numbers (imported documents start at version 1)",
]
REDIS_CHUNK = 1000  # events per Redis pipeline when writing a log


class TransferError(Exception):
    """Export, import or migration cannot go on; the message says why and what was written."""


def mask_url(url: str) -> str:
    """The URL with its password (if any) replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = f"{parts.username}:" if parts.username else ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=f"{user}***@{parts.hostname}{port}"))


def dumps_line(value: object) -> bytes:
    return (json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def log_digest(texts: Iterable[str]) -> str:
    """SHA-256 over the events' texts in seq order, each followed by a newline."""
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode())
        digest.update(b"\n")
    return digest.hexdigest()


def doc_digest(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def blob_digest(data: bytes, content_type: str) -> str:
    return f"{content_type}:{hashlib.sha256(data).hexdigest()}"


# --- progress on stderr ------------------------------------------------------------------------


class Progress:
    """A one-line progress bar on stderr (redrawn in place on a terminal), then a summary line."""

    WIDTH = 30

    def __init__(self, label: str, total: int, unit: str, stream: IO[str] | None = None) -> None:
        self.label, self.total, self.unit = label, total, unit
        self.stream = stream or sys.stderr
        self.count = 0
        self.live = self.stream.isatty()
        self._drawn = 0.0

    def advance(self, n: int = 1) -> None:
        self.count += n
        now = time.monotonic()
        if self.live and (now - self._drawn > 0.1 or self.count >= self.total):
            self._drawn = now
            share = self.count / self.total if self.total else 1.0
            filled = round(self.WIDTH * min(share, 1.0))
            bar = "#" * filled + "-" * (self.WIDTH - filled)
            self.stream.write(f"\r{self.label} [{bar}] {self.count}/{self.total} {self.unit}")
            self.stream.flush()

    def finish(self, summary: str) -> None:
        prefix = "\r\x1b[K" if self.live else ""
        self.stream.write(f"{prefix}{self.label}: {summary}\n")
        self.stream.flush()


# --- one adapter per backend layout ----------------------------------------------------------------


@dataclass(slots=True)
class LogRecord:
    """One log as carried: its events (exact texts) and idempotency keys."""

    log: str
    created: float
    head: int
    idem: dict[str, int]
    events: list[Event] = field(default_factory=list)
