"""The Backend protocol on Redis: logs as Streams (entry ID = seq), documents, claims and blobs.

Appends go through one Lua script each (seq, stream entry, idempotency key and publish
together); events arrive over :class:`~broadcaster.stores.redis.link.PubSubLink`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any, cast

from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.exceptions import RedisClusterException, RedisError, ResponseError

from broadcaster.core.events import (
    Event,
    dumps,
    encode_parts,
    format_time,
    join_parts,
    split_log,
    utc_now,
)
from broadcaster.core.types import JSON
from broadcaster.stores.base import Also, Appended, BackendError, Doc, Listener, SeqConflict, check_trim
from broadcaster.stores.redis.clients import client, closed_transport, cluster_url, cluster_url_hint, redact
from broadcaster.stores.redis.keys import (
    APPEND_LUA,
    CLAIM_LUA,
    PUT_DOC_LUA,
    RELEASE_LUA,
    TRIM_LUA,
    channel,
    index_score,
    log_keys,
)
from broadcaster.stores.redis.link import PubSubLink

logger = logging.getLogger("broadcaster.stores.redis")

OP_TIMEOUT = 4.5  # hard cap on one operation, so a write during an outage fails within 5 s
PAGE = 1000  # XRANGE page size for long reads


class RedisBackend:
    """The Backend protocol on one Redis or on a Redis Cluster (``redis+cluster://``)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._where = redact(url)
        plain = cluster_url(url)
        self.cluster = plain is not None
        self._redis = client(plain or url, cluster=self.cluster, decode=True)
        # Blobs are binary: a client that hands bytes back as they are (the one above
        # decodes every reply as UTF-8). Same timeouts and no retries; it connects lazily.
        self._binary = client(plain or url, cluster=self.cluster, decode=False)
        self._append = self._redis.register_script(APPEND_LUA)
        self._trim = self._redis.register_script(TRIM_LUA)
        self._put_doc = self._redis.register_script(PUT_DOC_LUA)
        self._claim = self._redis.register_script(CLAIM_LUA)
        self._release = self._redis.register_script(RELEASE_LUA)
        self._link = PubSubLink(self._redis, self._where)

    @contextlib.asynccontextmanager
    async def _guard(self, what: str) -> AsyncIterator[None]:
        try:
            async with asyncio.timeout(OP_TIMEOUT):
                yield
        # OSError includes the timeout above; RedisClusterException: e.g. no node reachable.
        except (RedisError, RedisClusterException, OSError, RuntimeError) as exc:
            if isinstance(exc, RuntimeError) and not closed_transport(exc):
                raise
            problem = f"{type(exc).__name__}: {exc}"
            raise BackendError(f"Redis at {self._where}: {what} failed: {problem}") from exc

    async def start(self) -> None:
        """Check Redis answers, open the pub/sub link and start reading it."""
        await self.ping()
        if not self.cluster:
            await self._refuse_cluster_node()
        async with self._guard("pub/sub connect"):
            await self._link.connect()
        self._link.start_reading()

    async def _refuse_cluster_node(self) -> None:
        # A plain client on a cluster node works until a key hashes elsewhere (MOVED).
        try:
            async with self._guard("INFO cluster"):
                info = await self._redis.info("cluster")
        except BackendError as exc:
            if isinstance(exc.__cause__, ResponseError):
                return  # INFO not allowed (ACL): nothing to tell
            raise
        if str(info.get("cluster_enabled", "0")) == "1":
            hint = cluster_url_hint(self.url)
            raise BackendError(f"Redis at {self._where} is a Redis Cluster node: use {hint}")

    async def close(self) -> None:
        """Stop the reader and close every connection."""
        await self._link.close()
        await self._redis.aclose()
        await self._binary.aclose()

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
        """Assign the next seq, XADD and PUBLISH in one Lua script (see APPEND_LUA);
        ``also`` follows in its own script (another slot)."""
        moment = utc_now()
        head, tail = encode_parts(log, type_, format_time(moment), data)
        expect = "" if expect_seq is None else str(expect_seq)
        args = [idem_key or "", expect, head, tail, channel(log)]
        async with self._guard(f"append to {log}"):
            reply = cast(list[Any], await self._append(keys=log_keys(log), args=args))
        status, seq = int(reply[0]), int(reply[1])
        if status == -1:
            raise SeqConflict(seq)
        if status == 0:
            if not reply[2]:
                raise BackendError(f"{log}: idempotency key points at missing seq {seq}")
            appended = Appended(Event(log, seq, str(reply[2])), created=False)
        else:
            appended = Appended(Event(log, seq, join_parts(head, seq, tail)), created=True)
        if seq == 1:
            # The index is written outside the script: in Redis Cluster it lives in
            # another slot, and a script may only touch one slot. Done again on an
            # idempotent retry too, which repairs a crash between the two steps.
            kind, _ = split_log(log)
            async with self._guard(f"index {log}"):
                # Scores written in milliseconds by earlier versions are smaller: older.
                score = index_score(moment.timestamp())
                await self._redis.zadd(f"logs:{{{kind}}}", {log: score}, nx=True)
        if also is not None and appended.created:
            try:
                await self.append(also.log, also.type_, also.data)
            except BackendError as exc:
                logger.error("%s: the event was stored, its companion was lost (%s): %s", log, exc, also)
        return appended

    async def read(self, log: str, since: int = 0, limit: int | None = None) -> list[Event]:
        """Events with seq > since, ascending, at most ``limit`` (paged XRANGE)."""
        stream = log_keys(log)[1]
        events: list[Event] = []
        start = max(since, 0) + 1
        while limit is None or len(events) < limit:
            count = PAGE if limit is None else min(PAGE, limit - len(events))
            async with self._guard(f"read {log}"):
                page = cast(
                    list[tuple[str, dict[str, str]]],
                    await self._redis.xrange(stream, f"{start}-0", "+", count=count),
                )
            for entry_id, fields in page:
                events.append(Event(log, int(entry_id.partition("-")[0]), fields["e"]))
            if len(page) < count:
                break
            start = events[-1].seq + 1
        return events

    async def head(self, log: str) -> int:
        """The last seq of the log, 0 if it has none."""
        async with self._guard(f"head of {log}"):
            seq = await self._redis.hget(log_keys(log)[0], "seq")
        return int(seq) if seq else 0

    async def find_idem(self, log: str, idem_key: str) -> Event | None:
        """The event ``idem_key`` appended on ``log``, if any."""
        _, stream, idem = log_keys(log)
        async with self._guard(f"idempotency lookup on {log}"):
            seq = cast(str | None, await self._redis.hget(idem, idem_key))
            if seq is None:
                return None
            entries = cast(
                list[tuple[str, dict[str, str]]],
                await self._redis.xrange(stream, f"{seq}-0", f"{seq}-0"),
            )
        return Event(log, int(seq), entries[0][1]["e"]) if entries else None

    async def trim(self, log: str, keep: int) -> int:
        """XTRIM MINID (head - ``keep`` + 1)-0 in one script (see TRIM_LUA): one slot, so it
        works on Redis Cluster too."""
        check_trim(log, keep)
        async with self._guard(f"trim {log}"):
            return int(await self._trim(keys=log_keys(log), args=[str(keep)]))

    async def logs(self, kind: str) -> list[str]:
        """Logs of a kind, oldest first (index scored by creation time)."""
        async with self._guard(f"list {kind} logs"):
            return cast(list[str], await self._redis.zrange(f"logs:{{{kind}}}", 0, -1))

    async def heads(self, kind: str) -> dict[str, int]:
        """Heads of a kind's logs: the index, then HGETs pipelined by :data:`PAGE`."""
        names = await self.logs(kind)
        found: dict[str, int] = {}
        for start in range(0, len(names), PAGE):
            chunk = names[start : start + PAGE]
            async with self._guard(f"heads of {kind} logs"):
                pipe = self._redis.pipeline(transaction=False)
                for name in chunk:
                    pipe.hget(log_keys(name)[0], "seq")
                seqs = cast(list[str | None], await pipe.execute())
            found.update((name, int(seq) if seq else 0) for name, seq in zip(chunk, seqs, strict=True))
        return found

    @property
    def pubsub_connected(self) -> bool:
        return self._link.connected

    def set_listener(self, listener: Listener) -> None:
        self._link.set_listener(listener)

    async def subscribe(self, log: str) -> None:
        """SUBSCRIBE on the shared link; returns once Redis confirmed it.

        Idempotent per log (the hub counts its own sockets). Raises BackendError if
        Redis does not confirm in time (e.g. during an outage).
        """
        await self._link.subscribe(log)

    async def unsubscribe(self, log: str) -> None:
        """Stop receiving this log's events (does not wait for Redis)."""
        await self._link.unsubscribe(log)

    async def get_doc(self, key: str) -> Doc | None:
        """The document at ``key`` with its version, or None."""
        async with self._guard(f"get doc {key}"):
            version, body = await self._redis.hmget(f"doc:{{{key}}}", ["v", "body"])
        if version is None or body is None:
            return None
        return Doc(json.loads(body), int(version))

    async def put_doc(self, key: str, value: JSON, *, expect_version: int) -> Doc | None:
        """Compare-and-set on the version (0 = must be absent); None on mismatch."""
        async with self._guard(f"put doc {key}"):
            args = [str(expect_version), dumps(value)]
            version = int(await self._put_doc(keys=[f"doc:{{{key}}}"], args=args))
        return None if version < 0 else Doc(value, version)

    async def claim(self, key: str, owner: str, ttl: float) -> bool:
        """Hold ``key`` for ``ttl`` s if free, expired or already ours."""
        ttl_ms = str(max(1, int(ttl * 1000)))
        async with self._guard(f"claim {key}"):
            return bool(await self._claim(keys=[f"claim:{{{key}}}"], args=[owner, ttl_ms]))

    async def release(self, key: str, owner: str) -> None:
        """Drop the claim if ``owner`` still holds it."""
        async with self._guard(f"release {key}"):
            await self._release(keys=[f"claim:{{{key}}}"], args=[owner])

    async def put_blob(self, key: str, data: bytes, content_type: str) -> None:
        """HSET ``blob:{KEY}`` type and data in one command (replaced together)."""
        async with self._guard(f"put blob {key}"):
            await self._binary.hset(f"blob:{{{key}}}", mapping={"type": content_type, "data": data})

    async def get_blob(self, key: str) -> tuple[bytes, str] | None:
        """The bytes at ``blob:{KEY}`` and their content type, or None."""
        async with self._guard(f"get blob {key}"):
            reply = await self._binary.hmget(f"blob:{{{key}}}", ["type", "data"])
        content_type, data = cast(list[bytes | None], reply)
        if content_type is None or data is None:
            return None
        return data, content_type.decode()

    async def ping(self) -> None:
        """Raise BackendError unless Redis answers."""
        async with self._guard("ping"):
            await self._redis.ping()

    async def warnings(self) -> list[str]:
        """Persistence and eviction settings that can lose acknowledged data (on a
        cluster: of every master, each named by its address)."""
        if not isinstance(self._redis, RedisCluster):
            return await self._check_config(self._where, None)
        async with self._guard("cluster nodes"):
            await self._redis.initialize()
        found: list[str] = []
        for node in self._redis.get_primaries():
            found += await self._check_config(f"{node.name} (cluster {self._where})", node)
        return found

    async def _check_config(self, where: str, node: ClusterNode | None) -> list[str]:
        try:
            async with self._guard("CONFIG GET"):
                if node is None:
                    config = await self._redis.config_get("*")
                else:
                    config = await self._redis.config_get("*", target_nodes=node)
        except BackendError as exc:
            if not isinstance(exc.__cause__, ResponseError):
                raise
            return [f"Redis at {where}: could not check persistence ({exc.__cause__})"]
        found = []
        if config.get("appendonly") == "no":
            lost = "no AOF, no RDB" if not config.get("save") else "RDB snapshots only"
            found.append(
                f"Redis at {where} does not persist every write ({lost}): acknowledged"
                " updates are lost if it restarts; enable appendonly yes"
            )
        policy = str(config.get("maxmemory-policy", "noeviction"))
        if policy.startswith("allkeys"):  # would evict logs, not just expiring claims
            found.append(f"Redis at {where} has maxmemory-policy {policy}: use noeviction")
        return found
