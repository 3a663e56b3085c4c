"""Redis backend: logs as Streams, fan-out over one Pub/Sub link per process.

All keys of one log share the hash tag ``{LOG}`` (``{LOG}:meta``, ``{LOG}:stream``,
``{LOG}:idem``), so the append script touches a single slot and works on Redis Cluster.
An event's stream entry ID is ``SEQ-0``; the script stores and publishes it in one
atomic step, and the publish carries the encoded event so no process encodes it again.

URLs:

* ``redis://[user:password@]host:port/db``, ``rediss://...`` (TLS), ``unix:///path``:
  one standalone Redis.
* ``redis+cluster://[user:password@]host:port/`` (``rediss+cluster://`` for TLS): a
  Redis Cluster, reached through that seed node; the client discovers the other nodes
  and routes every command and script to the master of its keys' slot. Each command
  or script touches one slot (a log's keys share ``{LOG}``; the index ``logs:{KIND}``,
  ``doc:{KEY}``, ``claim:{KEY}`` and ``blob:{KEY}`` are one key each). Cluster mode
  has database 0 only. A ``redis://`` URL naming a cluster node is refused at start,
  with a hint to use ``redis+cluster://`` (a plain client would hit MOVED errors).

Pub/Sub on a cluster uses classic PUBLISH, which the cluster bus forwards to every
node, so the one pub/sub link per process is a SUBSCRIBE on any single node; when
it drops, the next attempt goes to the next node the client knows (a dead node is
skipped), and the usual resync refills every subscribed log from the streams.
``warnings()`` checks the persistence settings of every master.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisClusterException, RedisError, ResponseError
from redis.maint_notifications import MaintNotificationsConfig

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

logger = logging.getLogger(__name__)

SOCKET_TIMEOUT = 2.0  # connect and per-reply; with no retries a dead Redis fails fast
POOL_SIZE = 64  # connections per client per process
POOL_WAIT = 3.0  # seconds a command waits for a free pooled connection
OP_TIMEOUT = 4.5  # hard cap on one operation, so a write during an outage fails within 5 s
PAGE = 1000  # XRANGE page size for long reads
SUBSCRIBE_TIMEOUT = 5.0
# A pub/sub link silent this long is PINGed, and dropped if the PONG takes longer than
# SOCKET_TIMEOUT: a black-holed link (no RST, no FIN) is replaced within ~7 s.
KEEPALIVE = 5.0
BACKOFF_START, BACKOFF_MAX = 0.1, 2.0
# Scores of the ``logs:{KIND}`` index at or above this are microseconds; below it, the
# milliseconds earlier versions wrote (10**14 ms is the year 5138, 10**14 us is 1973).
MICROSECOND_SCORES = 10**14


def index_score(created: float) -> int:
    """The ``logs:{KIND}`` score of a log created at ``created`` (Unix seconds): microseconds,
    so two logs opened in the same millisecond keep their order."""
    return round(created * 1_000_000)


def index_time(score: float) -> float:
    """The creation time (Unix seconds) of an index score, in either unit ever written."""
    return score / 1_000_000 if score >= MICROSECOND_SCORES else score / 1000


# KEYS: meta, stream, idem. ARGV: idem key ('' = none), expect_seq ('' = none), head,
# tail, channel. XADD goes first: scripts are not rolled back, and it is the only write
# that can fail (OOM), so a failure leaves nothing behind. string.format('%d') keeps
# the seq an integer ("7", not "7.0") in the event text and the entry ID.
APPEND_LUA = """
if ARGV[1] ~= '' then
  local old = redis.call('HGET', KEYS[3], ARGV[1])
  if old then
    local entry = redis.call('XRANGE', KEYS[2], old .. '-0', old .. '-0')[1]
    return {0, tonumber(old), entry and entry[2][2] or false}
  end
end
local current = tonumber(redis.call('HGET', KEYS[1], 'seq') or '0')
if ARGV[2] ~= '' and tonumber(ARGV[2]) ~= current then return {-1, current} end
local seq = string.format('%d', current + 1)
local text = ARGV[3] .. seq .. ARGV[4]
redis.call('XADD', KEYS[2], seq .. '-0', 'e', text)
redis.call('HSET', KEYS[1], 'seq', seq)
if ARGV[1] ~= '' then redis.call('HSET', KEYS[3], ARGV[1], seq) end
redis.call('PUBLISH', ARGV[5], seq .. ' ' .. text)
return {1, current + 1}
"""
# KEYS: meta, stream, idem. ARGV: keep. XTRIM MINID drops entries below (head - keep + 1)-0,
# exactly (no ``~``); idempotency keys of dropped seqs go too. The head (meta) is untouched.
TRIM_LUA = """
local first = tonumber(redis.call('HGET', KEYS[1], 'seq') or '0') - tonumber(ARGV[1]) + 1
if first <= 1 then return 0 end
local removed = redis.call('XTRIM', KEYS[2], 'MINID', string.format('%d', first) .. '-0')
local idem = redis.call('HGETALL', KEYS[3])
for i = 1, #idem, 2 do
  if tonumber(idem[i + 1]) < first then redis.call('HDEL', KEYS[3], idem[i]) end
end
return removed
"""
PUT_DOC_LUA = """
local v = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if v ~= tonumber(ARGV[1]) then return -1 end
redis.call('HSET', KEYS[1], 'v', string.format('%d', v + 1), 'body', ARGV[2])
return v + 1
"""
CLAIM_LUA = """
local owner = redis.call('GET', KEYS[1])
if owner and owner ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""
RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
"""


def log_keys(log: str) -> list[str]:
    """meta, stream and idem keys of a log: one hash tag, so one Cluster slot."""
    return [f"{{{log}}}:meta", f"{{{log}}}:stream", f"{{{log}}}:idem"]


def channel(log: str) -> str:
    return f"ev:{{{log}}}"


CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}


def cluster_url(url: str) -> str | None:
    """The plain ``redis://`` (or ``rediss://``) URL of a ``redis+cluster://`` one, else None."""
    scheme, sep, rest = url.partition("://")
    plain = CLUSTER_SCHEMES.get(scheme.lower()) if sep else None
    return f"{plain}://{rest}" if plain else None


def cluster_url_hint(url: str) -> str:
    """The ``redis+cluster://`` spelling of a standalone URL (credentials redacted)."""
    parts = urlsplit(_redact(url))
    scheme = "rediss+cluster" if parts.scheme == "rediss" else "redis+cluster"
    return urlunsplit(parts._replace(scheme=scheme, path="/"))


def _closed_transport(exc: RuntimeError) -> bool:
    """Whether ``exc`` is uvloop refusing a write on a connection the peer reset.

    After an RST, asyncio's transport drops the write and the next read reports the
    reset (a ConnectionError); uvloop raises ``RuntimeError("unable to perform operation
    on <TCPTransport closed=True ...>; the handler is closed")`` (MagicStack/uvloop#506),
    which redis-py passes on as is. It is a lost connection like any other (503), not
    an internal error.
    """
    return "handler is closed" in str(exc)


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class _Pool(BlockingConnectionPool):
    """Also replaces, before handing it out, a pooled connection the peer reset.

    redis-py's check (``can_read``) sees a connection closed with FIN (end of stream),
    not one reset with RST (the stream holds the error instead): a connection reset
    while idle in the pool, by a NAT or firewall dropping it or a proxy restarting,
    would fail the next command sent on it, seconds or hours after the network is
    fine again. Its transport is already closed, which is what is checked here.
    """

    async def ensure_connection(self, connection: AbstractConnection) -> None:
        writer = getattr(connection, "_writer", None)
        if writer is not None and writer.transport.is_closing():
            await connection.disconnect()
        await super().ensure_connection(connection)


def _client(url: str, *, cluster: bool, decode: bool) -> Redis | RedisCluster:
    # No retries: a retried EVALSHA could append twice, and the pool already replaces
    # connections the server closed (or reset: _Pool) before handing them out. That
    # check is skipped when maintenance notifications (a Redis Enterprise feature) are
    # on, so they are off: otherwise the first command after a restart fails. On a
    # cluster, MOVED and ASK redirects are still followed (they are answers, not
    # retries of a lost reply).
    options: dict[str, Any] = {
        "decode_responses": decode,
        "socket_timeout": SOCKET_TIMEOUT,
        "socket_connect_timeout": SOCKET_TIMEOUT,
        "retry": Retry(NoBackoff(), 0),
        "maint_notifications_config": MaintNotificationsConfig(enabled=False),
    }
    if cluster:
        return RedisCluster.from_url(url, **options)
    # A bounded pool that waits for a free connection: thousands of readers resuming
    # at once must queue here, not open thousands of connections to Redis.
    pool = _Pool.from_url(url, max_connections=POOL_SIZE, timeout=POOL_WAIT, **options)
    return Redis.from_pool(pool)


class RedisBackend:
    """The Backend protocol on one Redis or on a Redis Cluster (``redis+cluster://``)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.pubsub_connected = False
        self._where = _redact(url)
        plain = cluster_url(url)
        self.cluster = plain is not None
        self._redis = _client(plain or url, cluster=self.cluster, decode=True)
        # Blobs are binary: a client that hands bytes back as they are (the one above
        # decodes every reply as UTF-8). Same timeouts and no retries; it connects lazily.
        self._binary = _client(plain or url, cluster=self.cluster, decode=False)
        self._append = self._redis.register_script(APPEND_LUA)
        self._trim = self._redis.register_script(TRIM_LUA)
        self._put_doc = self._redis.register_script(PUT_DOC_LUA)
        self._claim = self._redis.register_script(CLAIM_LUA)
        self._release = self._redis.register_script(RELEASE_LUA)
        self._listener: Listener | None = None
        self._conn: AbstractConnection | None = None  # the one pub/sub link
        self._link_where = self._where  # the node it is connected to (cluster)
        self._next_node = 0  # cluster: where the next link attempt starts
        self._channels: dict[str, asyncio.Future[None]] = {}  # wanted -> confirmed on link
        self._unconfirmed: dict[str, int] = {}  # SUBSCRIBEs sent on this link, not answered
        self._resync_wait: set[str] | None = None  # after a reconnect: on_resync when empty
        self._reader: asyncio.Task[None] | None = None
        self._closing = False

    @contextlib.asynccontextmanager
    async def _guard(self, what: str) -> AsyncIterator[None]:
        try:
            async with asyncio.timeout(OP_TIMEOUT):
                yield
        # OSError includes the timeout above; RedisClusterException: e.g. no node reachable.
        except (RedisError, RedisClusterException, OSError, RuntimeError) as exc:
            if isinstance(exc, RuntimeError) and not _closed_transport(exc):
                raise
            problem = f"{type(exc).__name__}: {exc}"
            raise BackendError(f"Redis at {self._where}: {what} failed: {problem}") from exc

    async def start(self) -> None:
        """Check Redis answers, open the pub/sub link and start reading it."""
        await self.ping()
        if not self.cluster:
            await self._refuse_cluster_node()
        async with self._guard("pub/sub connect"):
            await self._connect_link()
        self._reader = asyncio.create_task(self._run(), name="redis-pubsub-reader")

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
        self._closing = True
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        await self._drop_link()
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

    def set_listener(self, listener: Listener) -> None:
        self._listener = listener

    async def subscribe(self, log: str) -> None:
        """SUBSCRIBE on the shared link; returns once Redis confirmed it.

        Idempotent per log (the hub counts its own sockets). Raises BackendError if
        Redis does not confirm within SUBSCRIBE_TIMEOUT (e.g. during an outage).
        """
        name = channel(log)
        waiter = self._channels.get(name)
        if waiter is None:
            waiter = self._channels[name] = asyncio.get_running_loop().create_future()
            await self._send("SUBSCRIBE", name)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), SUBSCRIBE_TIMEOUT)
        except TimeoutError:
            if self._channels.get(name) is waiter:
                await self.unsubscribe(log)
            raise BackendError(f"Redis at {self._where}: subscribe to {log} timed out") from None

    async def unsubscribe(self, log: str) -> None:
        """Stop receiving this log's events (does not wait for Redis)."""
        waiter = self._channels.pop(channel(log), None)
        if waiter is not None:
            if not waiter.done():
                waiter.set_result(None)  # nobody should wait for a channel no one wants
            await self._send("UNSUBSCRIBE", channel(log))

    async def _send(self, *command: str) -> None:
        conn = self._conn
        if conn is None or not conn.is_connected:
            return  # the reconnect subscribes every wanted channel
        if command[0] == "SUBSCRIBE":
            self._unconfirmed[command[1]] = self._unconfirmed.get(command[1], 0) + 1
        # A failed write means the link is broken: the reader sees it and reconnects.
        try:
            await conn.send_command(*command, check_health=False)
        except (RedisError, OSError, RuntimeError) as exc:
            if isinstance(exc, RuntimeError) and not _closed_transport(exc):
                raise

    def _link_targets(self) -> list[tuple[str, type[AbstractConnection], dict[str, Any]]]:
        """Where the pub/sub link may connect: the one Redis, or every known cluster
        node, starting after the node the last link used."""
        if isinstance(self._redis, RedisCluster):
            nodes: list[ClusterNode] = self._redis.get_nodes()
            start = self._next_node % len(nodes) if nodes else 0
            ordered = nodes[start:] + nodes[:start]
            return [(node.name, node.connection_class, node.connection_kwargs) for node in ordered]
        pool = self._redis.connection_pool
        return [(self._where, pool.connection_class, pool.connection_kwargs)]

    async def _connect_link(self) -> None:
        # A connection of our own, outside the pool: it is in subscribed mode for life.
        # RESP2, so that messages are plain [kind, channel, data] replies to read_response
        # (RESP3 would route them through push handlers). On a cluster any node will do
        # (PUBLISH reaches every node), so each node is tried in turn.
        targets = self._link_targets()
        for tried, (where, connection_class, kwargs) in enumerate(targets, start=1):
            conn = connection_class(**{**kwargs, "protocol": 2})
            try:
                await conn.connect()  # type: ignore[no-untyped-call]  # untyped in redis-py 8.1
            except (RedisError, OSError):
                await conn.disconnect(nowait=True)
                if tried == len(targets):
                    raise
                continue
            self._next_node += tried  # the next link starts at the node after this one
            self._link_where = where
            break
        else:
            raise ConnectionError(f"Redis at {self._where}: no node to subscribe on")
        self._conn = conn
        self._unconfirmed = {name: 1 for name in self._channels}
        if self._channels:
            await conn.send_command("SUBSCRIBE", *self._channels, check_health=False)
        self.pubsub_connected = True

    async def _drop_link(self) -> None:
        conn, self._conn = self._conn, None
        self.pubsub_connected = False
        self._unconfirmed.clear()
        # Every channel is unconfirmed until the next link confirms it again.
        for name, waiter in self._channels.items():
            if waiter.done():
                self._channels[name] = asyncio.get_running_loop().create_future()
        if conn is not None:
            await conn.disconnect(nowait=True)

    async def _run(self) -> None:
        # Reconnects forever (until close) with backoff; a reconnect resubscribes
        # everything and asks the listener to refill from the streams.
        delay = BACKOFF_START
        while not self._closing:
            try:
                if self._conn is None:
                    await self._connect_link()
                    self._resync_wait = set(self._channels)
                    self._maybe_resync()
                    logger.warning("Redis pub/sub link to %s is back", self._link_where)
                    delay = BACKOFF_START
                await self._read_link(cast(AbstractConnection, self._conn))
            except Exception as exc:  # any failure of the link means: reconnect
                if self._conn is not None:
                    problem = f"{type(exc).__name__}: {exc}"
                    logger.warning("Redis pub/sub link to %s lost: %s", self._link_where, problem)
                await self._drop_link()
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX)

    async def _read_link(self, conn: AbstractConnection) -> None:
        pinged = False
        while True:
            reply = await conn.read_response(timeout=SOCKET_TIMEOUT if pinged else KEEPALIVE)
            if reply is None:  # silent for KEEPALIVE: a PING tells dead from idle
                if pinged:
                    raise ConnectionError("pub/sub link did not answer PING")
                await conn.send_command("PING", check_health=False)
                pinged = True
                continue
            pinged = False
            if isinstance(reply, list) and len(reply) == 3:
                self._on_reply(str(reply[0]), str(reply[1]), reply[2])

    def _on_reply(self, kind: str, name: str, payload: Any) -> None:
        if kind == "message":
            seq, _, text = str(payload).partition(" ")
            # The channel is ev:{LOG}; the event is forwarded as published, never decoded.
            event = Event(name[4:-1], int(seq), text)
            if self._listener is not None and name in self._channels:
                self._call(self._listener.on_event, event)
        elif kind == "subscribe":
            left = self._unconfirmed.get(name, 0) - 1
            if left > 0:
                self._unconfirmed[name] = left
                return  # a later SUBSCRIBE of the same channel is still in flight
            self._unconfirmed.pop(name, None)
            waiter = self._channels.get(name)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
            if self._resync_wait is not None:
                self._resync_wait.discard(name)
                self._maybe_resync()

    def _maybe_resync(self) -> None:
        if self._resync_wait is not None and not self._resync_wait:
            self._resync_wait = None
            if self._listener is not None:
                self._call(self._listener.on_resync)

    def _call(self, callback: Callable[..., None], *args: Any) -> None:
        # A failing listener must not take the shared link down with it.
        try:
            callback(*args)
        except Exception:
            logger.exception("Redis backend listener failed")

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
