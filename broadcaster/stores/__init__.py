"""Stores behind one interface (:mod:`broadcaster.stores.base`), chosen by URL."""

from __future__ import annotations

from broadcaster.stores.base import Backend


def open_backend(url: str) -> Backend:
    """A backend for ``sqlite:///path``, ``redis://host:port/db`` or, for a Redis Cluster,
    ``redis+cluster://host:port/`` (a seed node; see :mod:`broadcaster.stores.redis`).
    Not yet started.

    Raises:
        ValueError: the URL names no known backend.
    """
    if url.startswith("sqlite:///"):
        from broadcaster.stores.sqlite import SQLiteBackend

        return SQLiteBackend(url)
    if url.startswith(("redis://", "rediss://", "unix://", "redis+cluster://", "rediss+cluster://")):
        from broadcaster.stores.redis import RedisBackend

        return RedisBackend(url)
    raise ValueError(
        f"unknown backend URL {url!r}: use sqlite:///path.db, redis://host:port/db"
        " or redis+cluster://host:port/"
    )
