"""Dependencies every capability's routes share, as ``Annotated`` aliases: the settings, the store,
the Idempotency-Key header, and 422 for a rule's ValueError; and the public URL of absolute links.

All ``async``: FastAPI would run plain functions in a thread pool, per request. Each capability
keeps its own (``accounts`` the operator's token, ``incidents`` the publisher, ``live`` the hub).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import Depends, Header, HTTPException
from starlette.requests import HTTPConnection

from broadcaster.config import Settings
from broadcaster.stores.base import Backend


async def _settings(request: HTTPConnection) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def public_url(request: HTTPConnection) -> str:
    """The absolute base URL readers use (``INCIDENTS_PUBLIC_URL``, no trailing slash), which every
    absolute link is made of. Never the request's ``Host``: anyone can send another, and a cache in
    front that keys by path would hand the links it made to everyone (docs/operations.md)."""
    settings: Settings = request.app.state.settings
    return settings.public_url


async def _backend(request: HTTPConnection) -> Backend:
    backend: Backend = request.app.state.backend
    return backend


async def _idempotency_key(
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> str | None:
    if idempotency_key is not None and not idempotency_key.strip():
        raise HTTPException(422, "Idempotency-Key must not be blank")
    return idempotency_key


SettingsDep = Annotated[Settings, Depends(_settings)]
BackendDep = Annotated[Backend, Depends(_backend)]
IdempotencyKey = Annotated[str | None, Depends(_idempotency_key)]


@contextmanager
def bad_fields() -> Iterator[None]:
    """The rules' ValueError is a bad field: 422 with its message."""
    try:
        yield
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
