"""The pure half of relaying: how far a follower got (:class:`Progress`) and retry timing.

A follower reads every incident log in order; its progress document holds a cursor per log
(the last seq it is done with) and the current failure streak. No I/O here:
:mod:`broadcaster.relay.follower` reads and writes the document.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Self

from broadcaster.core.events import parse_time
from broadcaster.core.types import JSON

MAX_REASON = 500
"""Characters of an error kept in a progress document."""


@dataclass
class Progress:
    """How far a follower got: per incident log, the last seq it is done with; and the
    current failure streak. Subclasses add fields (with defaults) of their own; they are
    kept in the same document."""

    cursors: dict[str, int] = field(default_factory=dict)
    failures: int = 0
    failing_since: str | None = None
    retry_at: str | None = None
    last_error: str | None = None
    last_success_at: str | None = None

    @classmethod
    def from_json(cls, value: JSON) -> Self:
        known = {f.name: value[f.name] for f in fields(cls) if f.name != "cursors" and f.name in value}
        return cls(cursors={str(k): int(v) for k, v in value.get("cursors", {}).items()}, **known)

    def to_json(self) -> JSON:
        return asdict(self)

    def status(self) -> JSON:
        """What a listing shows (the cursors are internal)."""
        return {k: v for k, v in self.to_json().items() if k != "cursors"}

    def succeeded(self, log: str, seq: int, now: str) -> None:
        self.cursors[log] = seq
        self.failures, self.failing_since, self.retry_at, self.last_error = 0, None, None, None
        self.last_success_at = now

    def failed(self, error: str, now: str, retry_at: str) -> None:
        self.failures += 1
        self.failing_since = self.failing_since or now
        self.last_error, self.retry_at = error[:MAX_REASON], retry_at


def backoff(failures: int, first: float, cap: float, rand: float) -> float:
    """Seconds before the next attempt after ``failures`` failures in a row: ``first``
    doubling each time, at most ``cap``, with "equal jitter" (``rand`` in [0, 1): a half
    of the delay is random) so that many endpoints failing together spread out."""
    exponent = min(max(failures - 1, 0), 64)
    delay = min(cap, first * math.pow(2, exponent))
    return delay / 2 + delay / 2 * rand


def gives_up(progress: Progress, now: datetime, give_up_seconds: float) -> bool:
    """Whether a follower failing since ``progress.failing_since`` must give up."""
    if progress.failing_since is None:
        return False
    return (now - parse_time(progress.failing_since)).total_seconds() >= give_up_seconds
