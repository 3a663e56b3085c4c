"""Connections to one Redis or to a Redis Cluster: URLs, a bounded pool, no retries."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.maint_notifications import MaintNotificationsConfig

SOCKET_TIMEOUT = 2.0  # connect and per-reply; with no retries a dead Redis fails fast
POOL_SIZE = 64  # connections per client per process
POOL_WAIT = 3.0  # seconds a command waits for a free pooled connection


CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}


def cluster_url(url: str) -> str | None:
    """The plain ``redis://`` (or ``rediss://``) URL of a ``redis+cluster://`` one, else None."""
    scheme, sep, rest = url.partition("://")
    plain = CLUSTER_SCHEMES.get(scheme.lower()) if sep else None
    return f"{plain}://{rest}" if plain else None


def cluster_url_hint(url: str) -> str:
    """The ``redis+cluster://`` spelling of a standalone URL (credentials redacted)."""
    parts = urlsplit(redact(url))
    scheme = "rediss+cluster" if parts.scheme == "rediss" else "redis+cluster"
    return urlunsplit(parts._replace(scheme=scheme, path="/"))


def closed_transport(exc: RuntimeError) -> bool:
    """Whether ``exc`` is uvloop refusing a write on a connection the peer reset.

    After an RST, asyncio's transport drops the write and the next read reports the
    reset (a ConnectionError); uvloop raises ``RuntimeError("unable to perform operation
    on <TCPTransport closed=True ...>; the handler is closed")`` (MagicStack/uvloop#506),
    which redis-py passes on as is. It is a lost connection like any other (503), not
    an internal error.
    """
    return "handler is closed" in str(exc)


def redact(url: str) -> str:
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


def client(url: str, *, cluster: bool, decode: bool) -> Redis | RedisCluster:
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
