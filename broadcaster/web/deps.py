"""Dependencies of the routes, as ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request

from broadcaster.backends.base import Backend
from broadcaster.config import Settings
from broadcaster.hub import Hub
from broadcaster.operators import Operator, authenticate
from broadcaster.publishing import Publisher


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _backend(request: Request) -> Backend:
    backend: Backend = request.app.state.backend
    return backend


def _publisher(request: Request) -> Publisher:
    publisher: Publisher = request.app.state.publisher
    return publisher


def _hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


UNAUTHORIZED = {"WWW-Authenticate": "Bearer"}


async def _operator(
    backend: Annotated[Backend, Depends(_backend)],
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Operator:
    if not authorization:
        raise HTTPException(401, "this needs an operator's token: Authorization: Bearer TOKEN", UNAUTHORIZED)
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(401, "the Authorization header must read: Bearer TOKEN", UNAUTHORIZED)
    operator = await authenticate(backend, token.strip())
    if operator is None:
        raise HTTPException(401, "the token is not valid (revoked, mistyped or unknown)", UNAUTHORIZED)
    return operator


def _idempotency_key(
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> str | None:
    if idempotency_key is not None and not idempotency_key.strip():
        raise HTTPException(422, "Idempotency-Key must not be blank")
    return idempotency_key


SettingsDep = Annotated[Settings, Depends(_settings)]
BackendDep = Annotated[Backend, Depends(_backend)]
PublisherDep = Annotated[Publisher, Depends(_publisher)]
HubDep = Annotated[Hub, Depends(_hub)]
OperatorDep = Annotated[Operator, Depends(_operator)]
IdempotencyKey = Annotated[str | None, Depends(_idempotency_key)]
