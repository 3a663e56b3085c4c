"""The backend interface: a handful of primitives every store provides.

Everything the product keeps (incidents, operators, idempotency keys, later reports,
schedules and webhooks) is built on these, so each backend stays small and the one
contract test suite (``tests/stores/test_backend_contract.py``) runs against all of them.

Primitives:

* **logs**: :meth:`Backend.append` assigns the next seq, stores the event and
  publishes it, as one atomic step; :meth:`Backend.read` reads a log since N;
  :meth:`Backend.head` gives the last seq; :meth:`Backend.logs` lists the logs of a kind
  and :meth:`Backend.heads` their heads; :meth:`Backend.trim` drops the oldest events
  of a bounded operational log (:data:`TRIMMABLE_KINDS`), never of the record.
* **fan-out**: :meth:`Backend.subscribe` / :meth:`Backend.unsubscribe` tell the
  backend which logs this process listens to; published events reach the one
  :class:`Listener` set with :meth:`Backend.set_listener`.
* **documents**: small JSON values by key with a version for compare-and-set.
* **claims**: a key held by one owner until it expires (once-only jobs).
* **blobs**: opaque bytes by key with their content type (photos).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from broadcaster.core.events import Event, split_log
from broadcaster.core.types import JSON

TRIMMABLE_KINDS = frozenset({"webhook-deliveries"})
"""The kinds of log :meth:`Backend.trim` may shorten: bounded operational logs (a webhook
endpoint's delivery attempts). Never incidents, audit, reports or schedules: they are the record."""


def check_trim(log: str, keep: int) -> None:
    """Raise ValueError unless ``log`` may be trimmed to its newest ``keep`` events."""
    kind, _ = split_log(log)
    if kind not in TRIMMABLE_KINDS:
        allowed = ", ".join(sorted(TRIMMABLE_KINDS))
        raise ValueError(f"{log}: a {kind!r} log is never trimmed (only: {allowed})")
    if keep < 1:
        raise ValueError(f"{log}: keep must be at least 1, not {keep}")


class BackendError(Exception):
    """The store cannot be reached or failed; the caller should answer 503."""


class SeqConflict(Exception):
    """An append's ``expect_seq`` did not match the log's head (someone wrote first)."""

    def __init__(self, head: int) -> None:
        super().__init__(f"log head is {head}")
        self.head = head


@dataclass(frozen=True, slots=True)
class Appended:
    """What :meth:`Backend.append` did: the stored event, and whether it is new.

    ``created`` is False when the idempotency key had been used before: ``event``
    is then the event that key first appended, and nothing was written.
    """

    event: Event
    created: bool


@dataclass(frozen=True, slots=True)
class Also:
    """An event for another log that goes with an append (the audit entry of an update):
    written only if the append creates its event, see :meth:`Backend.append`."""

    log: str
    type_: str
    data: JSON


@dataclass(frozen=True, slots=True)
class Doc:
    value: JSON
    version: int


class Listener(Protocol):
    """Receives what the backend publishes (one per process: the hub)."""

    def on_event(self, event: Event) -> None:
        """An event was published on a subscribed log (in seq order per log)."""

    def on_resync(self) -> None:
        """Events may have been missed (the upstream link dropped and came back):
        every subscribed log must be refilled from the store."""


class Backend(Protocol):
    url: str

    async def start(self) -> None:
        """Open connections, create schema. Raises BackendError if unreachable."""

    async def close(self) -> None: ...

    async def append(
        self,
        log: str,
        type_: str,
        data: JSON,
        *,
        expect_seq: int | None = None,
        idem_key: str | None = None,
        also: Also | None = None,
    ) -> Appended:
        """Atomically assign seq = head + 1, store the event and publish it.

        ``expect_seq``: append only if the head is exactly this (0 = the log must
        not exist yet); otherwise raise :class:`SeqConflict`.
        ``idem_key``: if this key was used on this log before, return that event
        with ``created=False`` and write nothing (checked before ``expect_seq``).
        A new log (seq 1) is added to the index :meth:`logs` lists.
        ``also``: if the event is created, append this one to its own log too: in the
        same transaction where the store has one (SQLite: one commit, one fsync), else
        right after (Redis: its logs live in other slots), where a failure is logged and
        not raised, since the event itself is stored. Never written on a replay or conflict.
        """
        ...

    async def read(self, log: str, since: int = 0, limit: int | None = None) -> list[Event]:
        """Events with seq > since, ascending, at most ``limit``."""
        ...

    async def head(self, log: str) -> int:
        """The last seq of the log, 0 if it has no events."""
        ...

    async def find_idem(self, log: str, idem_key: str) -> Event | None:
        """The event an idempotency key appended on this log, if any."""
        ...

    async def trim(self, log: str, keep: int) -> int:
        """Drop all but the newest ``keep`` events (those with seq <= head - ``keep``);
        returns how many were removed (0 when it holds ``keep`` or fewer).

        The head does not change: the next append is still head + 1, and :meth:`read`
        starts at the oldest kept event. Events go oldest first (a backend may remove a long
        run in several steps): a reader never sees a gap. Idempotency keys of removed
        events are forgotten.
        For bounded operational logs only (:data:`TRIMMABLE_KINDS`, e.g. a webhook's
        delivery log), never an incident's timeline or another part of the record.

        Raises:
            ValueError: the log's kind is not in :data:`TRIMMABLE_KINDS`, or ``keep`` < 1.
        """
        ...

    async def logs(self, kind: str) -> list[str]:
        """Names of all logs of a kind (``"incident"``), oldest first."""
        ...

    async def heads(self, kind: str) -> dict[str, int]:
        """The head of every log of a kind, oldest log first: what :meth:`logs` and
        :meth:`head` per log would give, in one query or a few pipelined round trips."""
        ...

    def set_listener(self, listener: Listener) -> None: ...

    async def subscribe(self, log: str) -> None:
        """Receive this log's published events from now on. Returns once the
        subscription is in effect, so a read after it misses nothing."""

    async def unsubscribe(self, log: str) -> None: ...

    async def get_doc(self, key: str) -> Doc | None: ...

    async def put_doc(self, key: str, value: JSON, *, expect_version: int) -> Doc | None:
        """Store ``value`` if the doc's version is ``expect_version`` (0 = absent).

        Returns the new doc (version + 1), or None if the version did not match.
        """
        ...

    async def claim(self, key: str, owner: str, ttl: float) -> bool:
        """Hold ``key`` for ``ttl`` seconds if free, expired or already ours."""
        ...

    async def release(self, key: str, owner: str) -> None: ...

    async def put_blob(self, key: str, data: bytes, content_type: str) -> None:
        """Store ``data`` (any bytes) with its content type under ``key``, replacing
        whatever was there; bytes and type change together."""
        ...

    async def get_blob(self, key: str) -> tuple[bytes, str] | None:
        """The bytes stored under ``key`` and their content type, or None."""
        ...

    async def ping(self) -> None:
        """Raise BackendError unless the store answers."""

    async def warnings(self) -> list[str]:
        """Deployment problems to log at start-up (e.g. Redis without persistence)."""
        ...
