"""The embedded default: one SQLite file, WAL mode, one transaction per event.

All database work runs on one dedicated thread, so writes are serialised without
locks in Python and the event loop never blocks on disk. Fan-out is in-process:
after an append commits, the event is handed to the listener on the event loop.

Several processes may share the file (the web server and its notifier process do): WAL lets
readers go on while one writes; every write is one statement or a ``BEGIN IMMEDIATE``
transaction (so it takes the write lock before it reads: the seq after the head, a document's
version for a compare-and-set, an idempotency key are read and written under one lock, never
upgraded from a read, which could fail at once with SQLITE_BUSY); a process waits up to
:data:`BUSY_TIMEOUT_MS` for another's lock (set before anything else, also before WAL is
switched on). They do not see each other's events live: a process learns of another's events by
reading (the relay polls the heads), and ``incidents serve`` refuses ``--workers`` > 1 here.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from broadcaster.core.events import Event, encode_parts, format_time, join_parts, split_log, utc_now
from broadcaster.core.types import JSON
from broadcaster.stores.base import Also, Appended, BackendError, Doc, Listener, SeqConflict, check_trim

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS logs (
    log TEXT PRIMARY KEY, kind TEXT NOT NULL, created REAL NOT NULL, head INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS logs_kind ON logs (kind, created);
CREATE TABLE IF NOT EXISTS events (
    log TEXT NOT NULL, seq INTEGER NOT NULL, text TEXT NOT NULL, PRIMARY KEY (log, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS idem (
    log TEXT NOT NULL, key TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (log, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS docs (key TEXT PRIMARY KEY, version INTEGER NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS claims (key TEXT PRIMARY KEY, owner TEXT NOT NULL, expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS blobs (key TEXT PRIMARY KEY, type TEXT NOT NULL, data BLOB NOT NULL);
"""
TRIM_CHUNK = 10_000
"""Events one trimming transaction deletes at most (~20 ms): a log trimmed for the first time
after months is trimmed in many, so appends are not held up behind one long DELETE."""
BUSY_TIMEOUT_MS = 5000
"""How long a write waits for another process's transaction (the notifier process shares the file)."""
FIND_IDEM = "SELECT e.seq, e.text FROM idem i JOIN events e USING (log, seq) WHERE i.log = ? AND i.key = ?"


def sqlite_path(url: str) -> Path:
    """``sqlite:///./data/incidents.db`` -> ``./data/incidents.db``; ``sqlite:////abs`` -> ``/abs``."""
    if not url.startswith("sqlite:///"):
        raise ValueError(f"not a sqlite URL: {url!r} (expected sqlite:///path/to/file.db)")
    return Path(url[len("sqlite:///") :])


def _head(db: sqlite3.Connection, log: str) -> int:
    found = db.execute("SELECT head FROM logs WHERE log = ?", (log,)).fetchone()
    return int(found[0]) if found else 0


def _insert(db: sqlite3.Connection, log: str, head: int, head_part: str, tail_part: str) -> Event:
    """Store the event after ``head`` (inside the caller's transaction)."""
    seq = head + 1
    text = join_parts(head_part, seq, tail_part)
    if head:
        db.execute("UPDATE logs SET head = ? WHERE log = ?", (seq, log))
    else:
        db.execute("INSERT INTO logs VALUES (?, ?, ?, ?)", (log, split_log(log)[0], time.time(), seq))
    db.execute("INSERT INTO events VALUES (?, ?, ?)", (log, seq, text))
    return Event(log, seq, text)


def _wal(db: sqlite3.Connection) -> None:
    """Switch to WAL. A connection holding a read lock that needs the write lock another one
    holds is refused at once (SQLite's deadlock rule, no busy handler): so try again until
    the busy timeout is spent."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            mode = str(db.execute("PRAGMA journal_mode=WAL").fetchone()[0]).lower()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)
            continue
        if mode == "wal":
            return
        if time.monotonic() > deadline:
            raise sqlite3.OperationalError(f"cannot switch to WAL (journal mode {mode})")
        time.sleep(0.02)


class SQLiteBackend:
    def __init__(self, url: str) -> None:
        self.url = url
        self.path = sqlite_path(url)
        self._db: sqlite3.Connection | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self._listener: Listener | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def call() -> T:
            if self._db is None:
                raise BackendError("the SQLite store is not open")
            try:
                return fn(self._db)
            except sqlite3.Error as exc:
                if self._db.in_transaction:
                    self._db.rollback()
                raise BackendError(f"SQLite error: {exc}") from exc

        return await asyncio.get_running_loop().run_in_executor(self._thread, call)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()

        def open_db() -> sqlite3.Connection:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            # First: another process (the notifier) may be opening or writing the same file,
            # and everything below waits for its lock instead of failing at once.
            db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            try:
                _wal(db)
            except sqlite3.Error:
                db.close()
                raise
            # FULL: an acknowledged event survives power loss too, not only a killed process.
            db.execute("PRAGMA synchronous=FULL")
            db.executescript(SCHEMA)
            return db

        try:
            self._db = await self._loop.run_in_executor(self._thread, open_db)
        except (sqlite3.Error, OSError) as exc:
            raise BackendError(f"cannot open SQLite store {self.path}: {exc}") from exc

    async def close(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            await asyncio.get_running_loop().run_in_executor(self._thread, db.close)
        self._thread.shutdown(wait=True)

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
        moment = format_time(utc_now())
        head_part, tail_part = encode_parts(log, type_, moment, data)
        extra = None if also is None else encode_parts(also.log, also.type_, moment, also.data)

        def txn(db: sqlite3.Connection) -> tuple[list[Event], bool]:
            db.execute("BEGIN IMMEDIATE")
            if idem_key is not None:
                row = db.execute(
                    FIND_IDEM,
                    (log, idem_key),
                ).fetchone()
                if row is not None:
                    db.rollback()
                    return [Event(log, row[0], row[1])], False
            head = _head(db, log)
            if expect_seq is not None and expect_seq != head:
                db.rollback()
                raise SeqConflict(head)
            written = [_insert(db, log, head, head_part, tail_part)]
            if idem_key is not None:
                db.execute("INSERT INTO idem VALUES (?, ?, ?)", (log, idem_key, written[0].seq))
            if also is not None and extra is not None:
                written.append(_insert(db, also.log, _head(db, also.log), *extra))
            db.commit()
            return written, True

        written, created = await self._run(txn)
        if created and self._listener is not None:
            # Back on the event loop, after the commit: publish exactly what was stored.
            for event in written:
                self._listener.on_event(event)
        return Appended(written[0], created)

    async def read(self, log: str, since: int = 0, limit: int | None = None) -> list[Event]:
        def query(db: sqlite3.Connection) -> list[Event]:
            rows = db.execute(
                "SELECT seq, text FROM events WHERE log = ? AND seq > ? ORDER BY seq LIMIT ?",
                (log, since, -1 if limit is None else limit),
            ).fetchall()
            return [Event(log, seq, text) for seq, text in rows]

        return await self._run(query)

    async def head(self, log: str) -> int:
        def query(db: sqlite3.Connection) -> int:
            row = db.execute("SELECT head FROM logs WHERE log = ?", (log,)).fetchone()
            return int(row[0]) if row else 0

        return await self._run(query)

    async def find_idem(self, log: str, idem_key: str) -> Event | None:
        def query(db: sqlite3.Connection) -> Event | None:
            row = db.execute(
                FIND_IDEM,
                (log, idem_key),
            ).fetchone()
            return Event(log, row[0], row[1]) if row else None

        return await self._run(query)

    async def trim(self, log: str, keep: int) -> int:
        """DELETE the events (and idempotency keys) at or below head - ``keep``, oldest first,
        at most :data:`TRIM_CHUNK` per transaction so that other work runs in between."""
        check_trim(log, keep)

        def chunk(db: sqlite3.Connection) -> tuple[int, bool]:
            db.execute("BEGIN IMMEDIATE")
            last = _head(db, log) - keep
            oldest = db.execute("SELECT MIN(seq) FROM events WHERE log = ?", (log,)).fetchone()[0]
            upto = min(last, (oldest or 1) + TRIM_CHUNK - 1)
            removed = db.execute("DELETE FROM events WHERE log = ? AND seq <= ?", (log, upto)).rowcount
            db.execute("DELETE FROM idem WHERE log = ? AND seq <= ?", (log, upto))
            db.commit()
            return int(removed), upto >= last

        total, done = 0, False
        while not done:
            removed, done = await self._run(chunk)
            total += removed
        return total

    async def logs(self, kind: str) -> list[str]:
        def query(db: sqlite3.Connection) -> list[str]:
            rows = db.execute("SELECT log FROM logs WHERE kind = ? ORDER BY created", (kind,))
            return [row[0] for row in rows]

        return await self._run(query)

    async def heads(self, kind: str) -> dict[str, int]:
        def query(db: sqlite3.Connection) -> dict[str, int]:
            rows = db.execute("SELECT log, head FROM logs WHERE kind = ? ORDER BY created", (kind,))
            return {str(row[0]): int(row[1]) for row in rows}

        return await self._run(query)

    def set_listener(self, listener: Listener) -> None:
        self._listener = listener

    async def subscribe(self, log: str) -> None:
        """Nothing to do: every append in this process reaches the listener."""

    async def unsubscribe(self, log: str) -> None:
        """Nothing to do (see :meth:`subscribe`)."""

    async def get_doc(self, key: str) -> Doc | None:
        def query(db: sqlite3.Connection) -> Doc | None:
            row = db.execute("SELECT version, body FROM docs WHERE key = ?", (key,)).fetchone()
            return Doc(json.loads(row[1]), row[0]) if row else None

        return await self._run(query)

    async def put_doc(self, key: str, value: JSON, *, expect_version: int) -> Doc | None:
        body = json.dumps(value, ensure_ascii=False)

        def txn(db: sqlite3.Connection) -> Doc | None:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute("SELECT version FROM docs WHERE key = ?", (key,)).fetchone()
            if (row[0] if row else 0) != expect_version:
                db.rollback()
                return None
            db.execute(
                "INSERT INTO docs VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE"
                " SET version = excluded.version, body = excluded.body",
                (key, expect_version + 1, body),
            )
            db.commit()
            return Doc(value, expect_version + 1)

        return await self._run(txn)

    async def claim(self, key: str, owner: str, ttl: float) -> bool:
        def txn(db: sqlite3.Connection) -> bool:
            now = time.time()
            cur = db.execute(
                "INSERT INTO claims VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE"
                " SET owner = excluded.owner, expires = excluded.expires"
                " WHERE claims.owner = excluded.owner OR claims.expires <= ?",
                (key, owner, now + ttl, now),
            )
            return cur.rowcount == 1

        return await self._run(txn)

    async def release(self, key: str, owner: str) -> None:
        def txn(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM claims WHERE key = ? AND owner = ?", (key, owner))

        await self._run(txn)

    async def put_blob(self, key: str, data: bytes, content_type: str) -> None:
        def txn(db: sqlite3.Connection) -> None:
            # One statement in autocommit mode: type and bytes are replaced together.
            db.execute(
                "INSERT INTO blobs VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE"
                " SET type = excluded.type, data = excluded.data",
                (key, content_type, data),
            )

        await self._run(txn)

    async def get_blob(self, key: str) -> tuple[bytes, str] | None:
        def query(db: sqlite3.Connection) -> tuple[bytes, str] | None:
            row = db.execute("SELECT data, type FROM blobs WHERE key = ?", (key,)).fetchone()
            return (bytes(row[0]), str(row[1])) if row else None

        return await self._run(query)

    async def ping(self) -> None:
        await self._run(lambda db: db.execute("SELECT 1").fetchone())

    async def warnings(self) -> list[str]:
        return []
