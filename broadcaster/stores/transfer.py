"""Moving and keeping data: ``incidents export``, ``incidents import``, ``incidents migrate``.

An export is JSON Lines (UTF-8), one object per line, in this order:

* a header: ``{"format": "incidents-export", "version": 1, "source": URL, "exported_at": T,
  "kinds": [...], "not_carried": [...]}`` (a password in the URL is masked);
* every document: ``{"doc": KEY, "value": {...}}``;
* every blob: ``{"blob": KEY, "type": MIME, "sha256": HEX, "data": BASE64}``;
* every log: ``{"log": "KIND:ID", "kind": KIND, "created": UNIX, "head": N, "count": N,
  "sha256": HEX, "idem": {KEY: SEQ}}`` followed by its events, ascending:
  ``{"event": "KIND:ID", "seq": N, "text": TEXT}`` where TEXT is the event exactly as stored
  (seq and ``at`` included), so an import stores the same bytes; a log trimmed by
  :meth:`~broadcaster.stores.base.Backend.trim` (a webhook's delivery log) starts above
  seq 1, so its ``count`` is below its ``head``;
* an end line with the totals: ``{"end": {"logs": N, "events": N, "docs": N, "blobs": N}}``.
  A file without it was cut short and is refused.

A log's ``sha256`` is taken over its events' texts in seq order, each followed by a newline
(:func:`log_digest`); ``import`` and ``migrate`` verify the copy with it, per log.

What is carried: every log of every kind (incidents, audit, schedules, reports, and any other
kind found in the store) with each event's text, seq and the log's idempotency keys; every
document (operators and their hashed tokens and passwords, ``server:secret``, photo entries,
setup links, login-limit counters); every blob (photos and thumbnails). What is not: claims
(short-lived locks, taken again by whoever needs them) and documents' version numbers (a CAS
token only: an imported document starts at version 1).

The backend interface can append events (which stamps a new ``at``) but cannot store one as
given, nor list kinds, documents, blobs or idempotency keys. So this module knows how each
backend lays its data out, in one small adapter per backend (:class:`SQLiteLayout`,
:class:`RedisLayout`): they list what is stored and write logs as they were; documents and
blobs are read and written through the normal backend. A change to a backend's layout must be
mirrored in its adapter here (``tests/test_transfer.py`` round-trips both).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from broadcaster.config import Settings
from broadcaster.core.events import Event, format_time, split_log, utc_now
from broadcaster.core.types import JSON
from broadcaster.stores import open_backend
from broadcaster.stores.base import Backend, BackendError
from broadcaster.stores.redis import index_score, index_time
from broadcaster.stores.sqlite import sqlite_path

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


class Layout(Protocol):
    """What the backend interface does not offer: listing everything, writing logs as given."""

    async def list_logs(self) -> list[tuple[str, float]]:
        """Every log with its creation time (Unix seconds)."""
        ...

    async def doc_keys(self) -> list[str]: ...

    async def blob_keys(self) -> list[str]: ...

    async def idem(self, log: str) -> dict[str, int]: ...

    async def begin(self) -> None:
        """Start writing logs (one transaction where the store has them)."""

    async def write_log(self, record: LogRecord) -> None: ...

    async def commit(self) -> None: ...

    async def rollback(self) -> bool:
        """Undo the logs written since :meth:`begin`; False if the store cannot."""
        ...

    async def close(self) -> None: ...


class SQLiteLayout:
    """The tables of :mod:`broadcaster.stores.sqlite`: ``logs``, ``events``, ``idem``,
    ``docs``, ``blobs``. Logs are written in one transaction: all of them or none."""

    def __init__(self, url: str) -> None:
        self.path = sqlite_path(url)
        self._db = sqlite3.connect(self.path, isolation_level=None)
        self._db.execute("PRAGMA busy_timeout=5000")

    async def list_logs(self) -> list[tuple[str, float]]:
        rows = self._db.execute("SELECT log, created FROM logs ORDER BY created, log").fetchall()
        return [(str(log), float(created)) for log, created in rows]

    async def doc_keys(self) -> list[str]:
        return [str(row[0]) for row in self._db.execute("SELECT key FROM docs ORDER BY key")]

    async def blob_keys(self) -> list[str]:
        return [str(row[0]) for row in self._db.execute("SELECT key FROM blobs ORDER BY key")]

    async def idem(self, log: str) -> dict[str, int]:
        rows = self._db.execute("SELECT key, seq FROM idem WHERE log = ? ORDER BY seq, key", (log,))
        return {str(key): int(seq) for key, seq in rows}

    async def begin(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    async def write_log(self, record: LogRecord) -> None:
        kind, _ = split_log(record.log)
        db = self._db
        db.execute("INSERT INTO logs VALUES (?, ?, ?, ?)", (record.log, kind, record.created, record.head))
        db.executemany("INSERT INTO events VALUES (?, ?, ?)", [(e.log, e.seq, e.text) for e in record.events])
        db.executemany(
            "INSERT INTO idem VALUES (?, ?, ?)", [(record.log, k, s) for k, s in record.idem.items()]
        )

    async def commit(self) -> None:
        self._db.execute("COMMIT")

    async def rollback(self) -> bool:
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")
        return True

    async def close(self) -> None:
        self._db.close()


class RedisLayout:
    """The keys of :mod:`broadcaster.stores.redis`: ``{LOG}:meta`` (hash, ``seq``),
    ``{LOG}:stream`` (entry ``SEQ-0``, field ``e``), ``{LOG}:idem`` (hash key -> seq),
    ``logs:{KIND}`` (sorted set, creation time in microseconds; older stores: ms),
    ``doc:{KEY}``, ``blob:{KEY}``.

    Listing uses SCAN (on every node of a Cluster: ``redis+cluster://``). Each log is written
    by pipelines of REDIS_CHUNK events (MULTI/EXEC on a single Redis; a log's keys share one
    slot), its head last; there is no rollback."""

    def __init__(self, url: str) -> None:
        scheme, _, rest = url.partition("://")
        self._cluster = scheme.lower().endswith("+cluster")
        if self._cluster:
            from redis.asyncio.cluster import RedisCluster

            plain = f"{scheme[: -len('+cluster')]}://{rest}"
            self._redis: Any = RedisCluster.from_url(plain, decode_responses=True)
        else:
            from redis.asyncio import Redis

            self._redis = Redis.from_url(url, decode_responses=True)

    async def _scan(self, pattern: str) -> list[str]:
        return sorted({str(key) async for key in self._redis.scan_iter(match=pattern, count=1000)})

    async def list_logs(self) -> list[tuple[str, float]]:
        found: dict[str, float] = {}
        for index in await self._scan("logs:{*}"):
            for log, score in await self._redis.zrange(index, 0, -1, withscores=True):
                found[str(log)] = index_time(float(score))
        # A log whose first append was cut short before it was indexed is still a log.
        for meta in await self._scan("{*}:meta"):
            log = meta[1 : -len("}:meta")]
            if log not in found:
                first = await self._redis.xrange(f"{{{log}}}:stream", "-", "+", count=1)
                found[log] = _event_time(first[0][1]["e"]) if first else 0.0
        return sorted(found.items(), key=lambda item: (item[1], item[0]))

    async def doc_keys(self) -> list[str]:
        return [key[len("doc:{") : -1] for key in await self._scan("doc:{*}")]

    async def blob_keys(self) -> list[str]:
        return [key[len("blob:{") : -1] for key in await self._scan("blob:{*}")]

    async def idem(self, log: str) -> dict[str, int]:
        found = await self._redis.hgetall(f"{{{log}}}:idem")
        return {str(key): int(seq) for key, seq in sorted(found.items(), key=lambda kv: (int(kv[1]), kv[0]))}

    async def begin(self) -> None:
        """Nothing: Redis has no transaction spanning many keys' slots."""

    async def write_log(self, record: LogRecord) -> None:
        meta, stream, idem = (f"{{{record.log}}}:{part}" for part in ("meta", "stream", "idem"))
        events = record.events
        chunks = [events[i : i + REDIS_CHUNK] for i in range(0, len(events), REDIS_CHUNK)] or [[]]
        for number, chunk in enumerate(chunks, start=1):
            async with self._redis.pipeline(transaction=not self._cluster) as pipe:
                for event in chunk:
                    pipe.xadd(stream, {"e": event.text}, id=f"{event.seq}-0")
                if number == len(chunks):  # the head last: a log cut short has none
                    if record.idem:
                        pipe.hset(idem, mapping={k: str(s) for k, s in record.idem.items()})
                    pipe.hset(meta, "seq", str(record.head))
                await pipe.execute()
        kind, _ = split_log(record.log)
        await self._redis.zadd(f"logs:{{{kind}}}", {record.log: index_score(record.created)}, nx=True)

    async def commit(self) -> None:
        """Nothing: every log was written as it came."""

    async def rollback(self) -> bool:
        return False

    async def close(self) -> None:
        await self._redis.aclose()


def _event_time(text: str) -> float:
    from broadcaster.core.events import parse_time

    try:
        return parse_time(str(json.loads(text)["at"])).timestamp()
    except (ValueError, KeyError, TypeError):
        return 0.0


def layout_for(url: str) -> Layout:
    if url.startswith("sqlite:///"):
        return SQLiteLayout(url)
    return RedisLayout(url)


@contextlib.asynccontextmanager
async def opened(url: str, *, must_exist: bool) -> AsyncIterator[tuple[Backend, Layout]]:
    """The backend at ``url`` (started) and its layout adapter."""
    if must_exist and url.startswith("sqlite:///") and not sqlite_path(url).is_file():
        raise TransferError(f"no SQLite store at {sqlite_path(url)}")
    backend = open_backend(url)
    try:
        await backend.start()
        layout = layout_for(url)
        try:
            yield backend, layout
        finally:
            await layout.close()
    finally:
        await backend.close()


# --- what a store holds, and comparing two -----------------------------------------------------------


@dataclass(slots=True)
class Inventory:
    """Fingerprints: per log (event count, SHA-256 of texts), per document, per blob."""

    logs: dict[str, tuple[int, str]] = field(default_factory=dict)
    docs: dict[str, str] = field(default_factory=dict)
    blobs: dict[str, str] = field(default_factory=dict)

    @property
    def events(self) -> int:
        return sum(count for count, _ in self.logs.values())


async def read_inventory(backend: Backend, like: Inventory, progress: Progress | None = None) -> Inventory:
    """Fingerprints, read from ``backend``, of the logs, documents and blobs named in ``like``."""
    found = Inventory()
    for log in like.logs:
        events = await backend.read(log)
        found.logs[log] = (len(events), log_digest(e.text for e in events))
        if progress:
            progress.advance(len(events))
    for key in like.docs:
        doc = await backend.get_doc(key)
        found.docs[key] = "missing" if doc is None else doc_digest(doc.value)
    for key in like.blobs:
        blob = await backend.get_blob(key)
        found.blobs[key] = "missing" if blob is None else blob_digest(*blob)
    return found


async def take_inventory(backend: Backend, layout: Layout) -> Inventory:
    """Names of everything in the store (fingerprints are filled in by :func:`read_inventory`)."""
    names = Inventory()
    for log, _created in await list_logs(backend, layout):
        names.logs[log] = (0, "")
    names.docs = dict.fromkeys(await layout.doc_keys(), "")
    names.blobs = dict.fromkeys(await layout.blob_keys(), "")
    return names


async def list_logs(backend: Backend, layout: Layout) -> list[tuple[str, float]]:
    """Every log: those the backend lists for the known kinds, and any other the layout finds."""
    found = dict(await layout.list_logs())
    for kind in KNOWN_KINDS:
        for log in await backend.logs(kind):
            found.setdefault(log, 0.0)
    return sorted(found.items(), key=lambda item: (item[1], item[0]))


def compare(expected: Inventory, actual: Inventory) -> tuple[list[list[str]], list[str]]:
    """A per-kind summary table and the list of mismatches (empty: identical)."""
    problems: list[str] = []
    kinds: dict[str, list[int]] = {}
    for log, (count, digest) in expected.logs.items():
        row = kinds.setdefault(split_log(log)[0], [0, 0, 0])
        row[0] += 1
        row[1] += count
        got = actual.logs.get(log, (0, "missing"))
        if got != (count, digest):
            row[2] += 1
            problems.append(
                f"log {log}: expected {count} events (sha256 {digest[:12]}), "
                f"found {got[0]} (sha256 {got[1][:12]})"
            )
    table = [["kind", "logs", "events", "check"]]
    for kind, (logs, events, wrong) in sorted(kinds.items()):
        table.append([kind, str(logs), str(events), "ok" if not wrong else f"{wrong} MISMATCHED"])
    for what, want, have in (
        ("documents", expected.docs, actual.docs),
        ("blobs", expected.blobs, actual.blobs),
    ):
        bad = [key for key, digest in want.items() if have.get(key) != digest]
        problems += [f"{what[:-1]} {key}: differs or is missing" for key in bad]
        table.append([what, str(len(want)), "", "ok" if not bad else f"{len(bad)} MISMATCHED"])
    return table, problems


def format_table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(
            cell.ljust(w) if i in (0, 3) else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    )


# --- export -------------------------------------------------------------------------------------------


async def export_store(backend: Backend, layout: Layout, out: IO[bytes]) -> Inventory:
    """Write everything in the store to ``out`` as JSON Lines; returns what was written.

    Each log is read once, so its events, head, count and checksum agree even while a
    server keeps appending (events appended after a log was read are not in the export).
    """
    logs = await list_logs(backend, layout)
    doc_keys, blob_keys = await layout.doc_keys(), await layout.blob_keys()
    kinds = sorted({split_log(log)[0] for log, _ in logs} | set(KNOWN_KINDS))
    total = sum([await backend.head(log) for log, _ in logs])
    progress = Progress("export", total, "events")
    written = Inventory()
    out.write(
        dumps_line(
            {
                "format": FORMAT,
                "version": VERSION,
                "source": mask_url(backend.url),
                "exported_at": format_time(utc_now()),
                "kinds": kinds,
                "not_carried": NOT_CARRIED,
            }
        )
    )
    for key in doc_keys:
        doc = await backend.get_doc(key)
        if doc is not None:  # deleted since it was listed
            out.write(dumps_line({"doc": key, "value": doc.value}))
            written.docs[key] = doc_digest(doc.value)
    for key in blob_keys:
        blob = await backend.get_blob(key)
        if blob is not None:
            data, content_type = blob
            sha = hashlib.sha256(data).hexdigest()
            encoded = base64.b64encode(data).decode()
            out.write(dumps_line({"blob": key, "type": content_type, "sha256": sha, "data": encoded}))
            written.blobs[key] = blob_digest(data, content_type)
    for log, created in logs:
        events = await backend.read(log)
        head = events[-1].seq if events else 0
        idem = {key: seq for key, seq in (await layout.idem(log)).items() if seq <= head}
        digest = log_digest(e.text for e in events)
        kind, _ = split_log(log)
        if not created and events:
            created = _event_time(events[0].text)
        line = {"log": log, "kind": kind, "created": created, "head": head, "count": len(events)}
        out.write(dumps_line({**line, "sha256": digest, "idem": idem}))
        for event in events:
            out.write(dumps_line({"event": log, "seq": event.seq, "text": event.text}))
        written.logs[log] = (len(events), digest)
        progress.advance(len(events))
    totals = {"logs": len(written.logs), "events": written.events, "docs": len(written.docs)}
    out.write(dumps_line({"end": {**totals, "blobs": len(written.blobs)}}))
    progress.finish(
        f"{written.events} events in {len(written.logs)} logs, "
        f"{len(written.docs)} documents, {len(written.blobs)} blobs"
    )
    return written


# --- reading and checking an export ------------------------------------------------------------------


def lines(path: Path) -> Iterator[tuple[int, JSON]]:
    """(line number, object) for each line; TransferError naming the line for anything else."""
    with path.open("rb") as file:
        for number, raw in enumerate(file, start=1):
            try:
                value = json.loads(raw.decode())
            except UnicodeDecodeError:
                raise TransferError(f"line {number}: not UTF-8") from None
            except json.JSONDecodeError as exc:
                raise TransferError(f"line {number}: not JSON ({exc.msg}, column {exc.colno})") from None
            if not isinstance(value, dict):
                raise TransferError(f"line {number}: not a JSON object")
            yield number, value


@dataclass(slots=True)
class Checked:
    """What a valid export holds (pass 1 of an import)."""

    header: JSON
    inventory: Inventory


def check_export(path: Path) -> Checked:
    """Read the whole export and check every line before anything is written.

    Raises:
        TransferError: naming the first bad line and what is wrong with it.
    """
    found = Inventory()
    header: JSON | None = None
    ended = False
    current: JSON | None = None  # the log line whose events follow
    last_seq, texts = 0, hashlib.sha256()

    def close_log(number: int) -> None:
        if current is None:
            return
        name, count, head = current["log"], current["count"], current["head"]
        seen, _ = found.logs[name]
        if seen != count or last_seq != head or texts.hexdigest() != current["sha256"]:
            raise TransferError(
                f"line {number}: log {name} (line {current['_line']}) announced {count} events up to seq "
                f"{head}, but {seen} events up to seq {last_seq} follow, or they were altered (sha256)"
            )
        found.logs[name] = (seen, texts.hexdigest())

    number = 0
    for number, record in lines(path):
        if ended:
            raise TransferError(f"line {number}: data after the end line")
        if number == 1:
            if record.get("format") != FORMAT:
                raise TransferError("line 1: not an incidents export (no header)")
            if record.get("version") != VERSION:
                raise TransferError(f"line 1: export format version {record.get('version')!r}, not {VERSION}")
            header = record
            continue
        try:
            if "event" in record:
                if current is None or record["event"] != current["log"]:
                    raise ValueError(f"an event of {record['event']!r} outside its log")
                seq, text = record["seq"], record["text"]
                if not isinstance(seq, int) or not isinstance(text, str) or seq <= last_seq:
                    raise ValueError(f"seq must be an integer above {last_seq}, text a string")
                kind, ident = split_log(current["log"])
                decoded = json.loads(text)
                if decoded.get(kind) != ident or decoded.get("seq") != seq:
                    raise ValueError(f"the event's text is not seq {seq} of {current['log']}")
                last_seq = seq
                texts.update(text.encode() + b"\n")
                count, _ = found.logs[current["log"]]
                found.logs[current["log"]] = (count + 1, "")
            elif "log" in record:
                close_log(number)
                name = record["log"]
                kind, _ = split_log(name)
                if record.get("kind") != kind or name in found.logs:
                    raise ValueError(f"log {name!r}: wrong kind, or listed twice")
                for key in ("head", "count"):
                    if not isinstance(record.get(key), int) or record[key] < 0:
                        raise ValueError(f"log {name}: {key} must be an integer >= 0")
                if not isinstance(record.get("created"), int | float) or not isinstance(
                    record.get("sha256"), str
                ):
                    raise ValueError(f"log {name}: created must be a number, sha256 a string")
                idem = record.get("idem")
                if not isinstance(idem, dict) or not all(
                    isinstance(s, int) and 0 < s <= record["head"] for s in idem.values()
                ):
                    raise ValueError(f"log {name}: idem must map keys to seqs within the log")
                current, last_seq, texts = {**record, "_line": number}, 0, hashlib.sha256()
                found.logs[name] = (0, "")
            elif "doc" in record:
                if current is not None:
                    raise ValueError("documents must come before the logs")
                key = record["doc"]
                if not isinstance(key, str) or not key or "value" not in record or key in found.docs:
                    raise ValueError("a document needs a key (once) and a value")
                found.docs[key] = doc_digest(record["value"])
            elif "blob" in record:
                if current is not None:
                    raise ValueError("blobs must come before the logs")
                key, content_type = record["blob"], record["type"]
                if (
                    not isinstance(key, str)
                    or not key
                    or not isinstance(content_type, str)
                    or key in found.blobs
                ):
                    raise ValueError("a blob needs a key (once) and a content type")
                data = base64.b64decode(record["data"], validate=True)
                if hashlib.sha256(data).hexdigest() != record["sha256"]:
                    raise ValueError(f"blob {key}: its data does not match its sha256")
                found.blobs[key] = blob_digest(data, content_type)
            elif "end" in record:
                close_log(number)
                current, ended = None, True
                end = record["end"]
                have = {"logs": len(found.logs), "events": found.events}
                have |= {"docs": len(found.docs), "blobs": len(found.blobs)}
                if end != have:
                    raise ValueError(f"the end line counts {end}, the file holds {have}")
            else:
                raise ValueError("not a header, document, blob, log, event or end line")
        except TransferError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
            problem = str(exc) if isinstance(exc, ValueError) else f"bad or missing field {exc}"
            raise TransferError(f"line {number}: {problem}") from None
    if header is None:
        raise TransferError("the file is empty: not an incidents export")
    if not ended:
        raise TransferError(f"no end line after line {number}: the export was cut short")
    return Checked(header, found)


# --- import -------------------------------------------------------------------------------------------


async def refuse_unless_empty(layout: Layout, checked: Checked, force: bool) -> None:
    """Refuse a target holding any data (unless ``force``) or any log of the export (always)."""
    logs = dict(await layout.list_logs())
    docs, blobs = await layout.doc_keys(), await layout.blob_keys()
    clashes = [log for log in checked.inventory.logs if log in logs]
    if clashes:
        more = f" and {len(clashes) - 3} more" if len(clashes) > 3 else ""
        raise TransferError(
            f"the target already has {len(logs)} logs, including {', '.join(clashes[:3])}{more} from this "
            "export: import only into an empty store (nothing was written)"
        )
    if (logs or docs or blobs) and not force:
        incidents = sum(1 for log in logs if split_log(log)[0] == "incident")
        raise TransferError(
            f"the target is not empty ({incidents} incidents, {len(logs)} logs, {len(docs)} documents, "
            f"{len(blobs)} blobs): import only into an empty store, or pass --force to add to it "
            "(documents and blobs of the export replace the target's) - nothing was written"
        )


async def import_checked(backend: Backend, layout: Layout, path: Path, checked: Checked) -> None:
    """Write a checked export (pass 2): documents and blobs, then every log as it was."""
    progress = Progress("import", checked.inventory.events, "events")
    for _number, record in lines(path):
        if "doc" in record:
            key, value = record["doc"], record["value"]
            for _ in range(5):
                doc = await backend.get_doc(key)
                if await backend.put_doc(key, value, expect_version=doc.version if doc else 0):
                    break
            else:
                raise TransferError(f"document {key} kept changing in the target while it was imported")
        elif "blob" in record:
            await backend.put_blob(record["blob"], base64.b64decode(record["data"]), record["type"])
    written = 0
    await layout.begin()
    try:
        record_of: LogRecord | None = None
        for _number, record in lines(path):
            if "log" in record or "end" in record:
                if record_of is not None:
                    await layout.write_log(record_of)
                    written += 1
                    progress.advance(len(record_of.events))
                if "log" in record:
                    idem = {str(k): int(v) for k, v in record["idem"].items()}
                    record_of = LogRecord(record["log"], float(record["created"]), int(record["head"]), idem)
            elif "event" in record and record_of is not None:
                record_of.events.append(Event(record_of.log, int(record["seq"]), str(record["text"])))
        await layout.commit()
    except Exception as exc:  # undo what can be undone, then say what is left
        undone = await layout.rollback()
        where = mask_url(backend.url)
        if undone:
            raise TransferError(
                f"writing the logs into {where} failed ({type(exc).__name__}: {exc}): no log was written "
                "(documents and blobs were: pass --force to import again)"
            ) from exc
        raise TransferError(
            f"writing the logs into {where} failed after {written} of {len(checked.inventory.logs)} logs "
            f"({type(exc).__name__}: {exc}): the target is partly written; empty it and import again"
        ) from exc
    progress.finish(
        f"{checked.inventory.events} events in {written} logs, "
        f"{len(checked.inventory.docs)} documents, {len(checked.inventory.blobs)} blobs"
    )


async def verify(label: str, expected: Inventory, target: Backend) -> bool:
    """Read back everything in ``expected`` from ``target``; print the per-kind table."""
    progress = Progress("verify", expected.events, "events")
    actual = await read_inventory(target, expected, progress)
    table, problems = compare(expected, actual)
    progress.finish("read back" if not problems else f"{len(problems)} mismatches")
    print(format_table(table))
    for problem in problems:
        print(f"MISMATCH {problem}")
    if problems:
        print(f"{label}: the copy does NOT match ({len(problems)} mismatches)", file=sys.stderr)
        return False
    print(f"{label}: verified: every log (event count and sha256), document and blob matches")
    return True


async def import_file(url: str, path: Path, force: bool, *, check_copy: bool = True) -> Inventory:
    """Check ``path`` completely, then write it into the store at ``url`` and read it back."""
    checked = check_export(path)
    async with opened(url, must_exist=False) as (backend, layout):
        await refuse_unless_empty(layout, checked, force)
        await import_checked(backend, layout, path, checked)
        if check_copy and not await verify("import", checked.inventory, backend):
            raise TransferError("the imported copy does not match the export (see above)")
    return checked.inventory


# --- the commands ----------------------------------------------------------------------------------------


def _configured(url: str | None) -> str:
    return url or Settings().backend


async def export_command(args: argparse.Namespace) -> int:
    url = _configured(args.backend)
    if args.output == "-":
        async with opened(url, must_exist=True) as (backend, layout):
            await export_store(backend, layout, sys.stdout.buffer)
        sys.stdout.flush()
        return 0
    target = Path(args.output)
    partial = target.with_name(target.name + ".partial")
    try:
        with partial.open("wb") as out:
            async with opened(url, must_exist=True) as (backend, layout):
                await export_store(backend, layout, out)
            out.flush()
            os.fsync(out.fileno())
        partial.replace(target)  # a file under the given name is always a complete export
    finally:
        partial.unlink(missing_ok=True)
    return 0


async def import_command(args: argparse.Namespace) -> int:
    url = _configured(args.backend)
    if args.input != "-":
        path = Path(args.input)
        if not await asyncio.to_thread(path.is_file):
            raise TransferError(f"no such file: {path}")
        await import_file(url, path, args.force)
        return 0
    with tempfile.NamedTemporaryFile(prefix="incidents-import-", suffix=".jsonl") as spool:
        shutil.copyfileobj(sys.stdin.buffer, spool)  # checked completely before anything is written
        spool.flush()
        await import_file(url, Path(spool.name), args.force)
    return 0


async def migrate_command(args: argparse.Namespace) -> int:
    source, target = _configured(args.from_url), args.to_url
    if source == target:
        raise TransferError("--from and --to name the same store")
    print(f"migrate: {mask_url(source)} -> {mask_url(target)}", file=sys.stderr)
    # The export is spooled to a file in TMPDIR (photos included), checked, then imported.
    with tempfile.NamedTemporaryFile(prefix="incidents-migrate-", suffix=".jsonl") as spool:
        async with opened(source, must_exist=True) as (backend, layout):
            exported = await export_store(backend, layout, spool)
        spool.flush()
        await import_file(target, Path(spool.name), args.force, check_copy=False)
    # Compare the source as it is now with the target, read back again.
    async with opened(source, must_exist=True) as (backend, layout):
        names = await take_inventory(backend, layout)
        progress = Progress("verify source", exported.events, "events")
        expected = await read_inventory(backend, names, progress)
        progress.finish(f"{expected.events} events in {len(expected.logs)} logs")
    async with opened(target, must_exist=False) as (backend, _layout):
        ok = await verify("migrate", expected, backend)
    if not ok:
        print(
            "migrate: did the source change during the migration? stop its servers and retry", file=sys.stderr
        )
    return 0 if ok else 1


COMMANDS = {"export": export_command, "import": import_command, "migrate": migrate_command}


def main(args: argparse.Namespace) -> int:
    """Run ``incidents export|import|migrate``: 0 done, 1 refused or failed (said on stderr)."""
    try:
        return asyncio.run(COMMANDS[args.command](args))
    except (TransferError, BackendError) as exc:
        print(f"incidents {args.command}: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 1


def add_parsers(commands: Any, backend_help: str) -> None:
    """The subcommands' arguments, added to the ``incidents`` parser by :mod:`broadcaster.cli`."""
    export = commands.add_parser("export", help="write every log, document and photo as JSON Lines")
    export.add_argument("--backend", help=backend_help)
    export.add_argument("--output", "-o", default="-", help="file to write (default -: stdout)")
    imp = commands.add_parser("import", help="load an export into an empty store, then verify it")
    imp.add_argument("--backend", help=backend_help)
    imp.add_argument("--input", "-i", default="-", help="export file to read (default -: stdin)")
    imp.add_argument(
        "--force", action="store_true", help="allow a target holding other data (never a log twice)"
    )
    migrate = commands.add_parser("migrate", help="copy one store into another (empty) one and verify it")
    migrate.add_argument("--from", dest="from_url", help=f"source: {backend_help}")
    migrate.add_argument(
        "--to", dest="to_url", required=True, help="target: sqlite:///path.db or redis://..."
    )
    migrate.add_argument("--force", action="store_true", help="allow a target holding other data")
