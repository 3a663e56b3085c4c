"""How each backend lays its data out: one adapter per backend lists what is stored
and writes logs as they were."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import AsyncIterator
from typing import Any, Protocol

from broadcaster.core.events import split_log
from broadcaster.stores import open_backend
from broadcaster.stores.base import Backend
from broadcaster.stores.redis import index_score, index_time
from broadcaster.stores.sqlite import sqlite_path
from broadcaster.stores.transfer.format import REDIS_CHUNK, LogRecord, TransferError


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
