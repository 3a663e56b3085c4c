"""The one pub/sub link of a process: SUBSCRIBE on a connection of its own, read forever,
reconnect (to the next cluster node) with backoff, and ask the listener to refill after."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, cast

from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import RedisError

from broadcaster.core.events import Event
from broadcaster.stores.base import BackendError, Listener
from broadcaster.stores.redis.clients import SOCKET_TIMEOUT, closed_transport
from broadcaster.stores.redis.keys import channel

logger = logging.getLogger("broadcaster.stores.redis")

SUBSCRIBE_TIMEOUT = 5.0
# A pub/sub link silent this long is PINGed, and dropped if the PONG takes longer than
# SOCKET_TIMEOUT: a black-holed link (no RST, no FIN) is replaced within ~7 s.
KEEPALIVE = 5.0
BACKOFF_START, BACKOFF_MAX = 0.1, 2.0


class PubSubLink:
    """SUBSCRIBEs for every log the hub follows, on one connection outside the pool."""

    def __init__(self, redis: Redis | RedisCluster, where: str) -> None:
        self._redis = redis
        self._where = where
        self.connected = False
        self._listener: Listener | None = None
        self._conn: AbstractConnection | None = None
        self._link_where = where  # the node it is connected to (cluster)
        self._next_node = 0  # cluster: where the next link attempt starts
        self._channels: dict[str, asyncio.Future[None]] = {}  # wanted -> confirmed on link
        self._unconfirmed: dict[str, int] = {}  # SUBSCRIBEs sent on this link, not answered
        self._resync_wait: set[str] | None = None  # after a reconnect: on_resync when empty
        self._reader: asyncio.Task[None] | None = None
        self._closing = False

    async def connect(self) -> None:
        """Open the link (raises what the connection raises)."""
        await self._connect_link()

    def start_reading(self) -> None:
        self._reader = asyncio.create_task(self._run(), name="redis-pubsub-reader")

    async def close(self) -> None:
        """Stop the reader and drop the link."""
        self._closing = True
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        await self._drop_link()

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
            if isinstance(exc, RuntimeError) and not closed_transport(exc):
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
        self.connected = True

    async def _drop_link(self) -> None:
        conn, self._conn = self._conn, None
        self.connected = False
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
