"""The console's session: a signed cookie, CSRF tokens on every form, role checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from broadcaster.accounts import credentials as accounts
from broadcaster.accounts.audit import Actor
from broadcaster.accounts.operators import Operator
from broadcaster.web.deps import BackendDep

COOKIE = "incidents_session"
PRE_COOKIE = "incidents_csrf"  # before logging in: a double-submit token for the login form


class LoginRequired(Exception):
    """Answered with a redirect to the login page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class Forbidden(Exception):
    """The operator's role does not allow this (HTTP 403)."""


class CsrfFailed(Exception):
    """A form arrived without this session's token (HTTP 403)."""


@dataclass(frozen=True, slots=True)
class ConsoleUser:
    """The logged-in operator, their session, and what their forms must carry."""

    operator: Operator
    session: accounts.Session
    csrf: str
    address: str | None

    @property
    def actor(self) -> Actor:
        return Actor(self.operator, self.address)


def secret_key(request: Request) -> bytes:
    key: bytes = request.app.state.secret
    return key


async def _user(request: Request, backend: BackendDep) -> ConsoleUser:
    key = secret_key(request)
    session = accounts.read_cookie(key, request.cookies.get(COOKIE, ""))
    operator = await accounts.session_operator(backend, session) if session else None
    if session is None or operator is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target)
    address = request.client.host if request.client else None
    return ConsoleUser(operator, session, session.csrf_token(key), address)


async def _admin(user: Annotated[ConsoleUser, Depends(_user)]) -> ConsoleUser:
    if not user.operator.admin:
        raise Forbidden("this page is for administrators")
    return user


UserDep = Annotated[ConsoleUser, Depends(_user)]
ConsoleAdminDep = Annotated[ConsoleUser, Depends(_admin)]


async def checked_form(request: Request, user: ConsoleUser) -> FormData:
    """The posted form, once its CSRF token matches the session's.

    Raises:
        CsrfFailed: missing or wrong token.
    """
    form = await request.form()
    if form.get("csrf") != user.csrf:
        raise CsrfFailed("the form has expired or did not come from this console: reload and try again")
    return form


def set_session_cookie(request: Request, response: Response, value: str) -> None:
    response.set_cookie(
        COOKIE,
        value,
        max_age=accounts.SESSION_SECONDS,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/")
