"""Dependencies of the routes, as ``Annotated`` aliases.

All ``async``: FastAPI would run plain functions in a thread pool, per request.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import Depends, Header, HTTPException
from starlette.requests import HTTPConnection

from broadcaster.accounts.audit import Actor
from broadcaster.accounts.operators import Operator, authenticate
from broadcaster.config import Settings
from broadcaster.incidents.publishing import Publisher
from broadcaster.live.hub import Hub
from broadcaster.stores.base import Backend


async def _settings(request: HTTPConnection) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _backend(request: HTTPConnection) -> Backend:
    backend: Backend = request.app.state.backend
    return backend


async def _publisher(request: HTTPConnection) -> Publisher:
    publisher: Publisher = request.app.state.publisher
    return publisher


async def _hub(request: HTTPConnection) -> Hub:
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


async def _idempotency_key(
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> str | None:
    if idempotency_key is not None and not idempotency_key.strip():
        raise HTTPException(422, "Idempotency-Key must not be blank")
    return idempotency_key


async def _actor(request: HTTPConnection, operator: Annotated[Operator, Depends(_operator)]) -> Actor:
    return Actor(operator, request.client.host if request.client else None)


async def _admin_actor(actor: Annotated[Actor, Depends(_actor)]) -> Actor:
    if not actor.operator.admin:
        raise HTTPException(403, "this needs an administrator's token")
    return actor


SettingsDep = Annotated[Settings, Depends(_settings)]
BackendDep = Annotated[Backend, Depends(_backend)]
PublisherDep = Annotated[Publisher, Depends(_publisher)]
HubDep = Annotated[Hub, Depends(_hub)]
OperatorDep = Annotated[Operator, Depends(_operator)]
ActorDep = Annotated[Actor, Depends(_actor)]
"""The authenticated operator and where the request came from (for the audit log)."""
AdminDep = Annotated[Actor, Depends(_admin_actor)]
"""As ActorDep, and the operator must be an administrator (else 403)."""
IdempotencyKey = Annotated[str | None, Depends(_idempotency_key)]


@contextmanager
def bad_fields() -> Iterator[None]:
    """The rules' ValueError is a bad field: 422 with its message."""
    try:
        yield
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
