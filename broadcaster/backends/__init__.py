"""Stores behind one interface (:mod:`broadcaster.backends.base`), chosen by URL."""

from __future__ import annotations

from broadcaster.backends.base import Backend


def open_backend(url: str) -> Backend:
    """A backend for ``sqlite:///path`` or ``redis://host:port/db`` (not yet started).

    Raises:
        ValueError: the URL names no known backend.
    """
    if url.startswith("sqlite:///"):
        from broadcaster.backends.sqlite import SQLiteBackend

        return SQLiteBackend(url)
    if url.startswith(("redis://", "rediss://", "unix://")):
        from broadcaster.backends.redis import RedisBackend

        return RedisBackend(url)
    raise ValueError(f"unknown backend URL {url!r}: use sqlite:///path.db or redis://host:port/db")
