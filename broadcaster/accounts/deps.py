"""The JSON API's sign-in: an operator's bearer token, as ``Annotated`` dependency aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, HTTPException
from starlette.requests import HTTPConnection

from broadcaster.accounts.audit import Actor
from broadcaster.accounts.operators import Operator, authenticate
from broadcaster.web.deps import BackendDep

UNAUTHORIZED = {"WWW-Authenticate": "Bearer"}


async def _operator(
    backend: BackendDep,
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


async def _actor(request: HTTPConnection, operator: Annotated[Operator, Depends(_operator)]) -> Actor:
    return Actor(operator, request.client.host if request.client else None)


async def _admin_actor(actor: Annotated[Actor, Depends(_actor)]) -> Actor:
    if not actor.operator.admin:
        raise HTTPException(403, "this needs an administrator's token")
    return actor


OperatorDep = Annotated[Operator, Depends(_operator)]
ActorDep = Annotated[Actor, Depends(_actor)]
"""The authenticated operator and where the request came from (for the audit log)."""
AdminDep = Annotated[Actor, Depends(_admin_actor)]
"""As ActorDep, and the operator must be an administrator (else 403)."""
