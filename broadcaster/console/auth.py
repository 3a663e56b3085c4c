"""Logging in and out of the console, and setting a password from a one-time link."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from broadcaster import accounts
from broadcaster.accounts import (
    PRE_COOKIE,
    Actor,
    UserDep,
    audit,
    checked_form,
    clear_session_cookie,
    secret_key,
    set_session_cookie,
)
from broadcaster.web.deps import BackendDep, SettingsDep
from broadcaster.web.rendering import render

router = APIRouter(prefix="/console", include_in_schema=False)


def safe_next(target: str | None) -> str:
    """Only a path inside the console: never an open redirect to another site."""
    if target and target.startswith("/console") and not target.startswith("//") and "\\" not in target:
        return target
    return "/console"


def _pre_token(request: Request) -> str:
    return request.cookies.get(PRE_COOKIE) or secrets.token_urlsafe(16)


def _with_pre_cookie(request: Request, response: Response, token: str) -> Response:
    response.set_cookie(
        PRE_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        path="/console",
        secure=request.url.scheme == "https",
    )
    return response


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.get("/login", response_class=HTMLResponse)
async def login_page(
    request: Request, settings: SettingsDep, next: Annotated[str | None, Query(max_length=500)] = None
) -> Response:
    token = _pre_token(request)
    page = render(request, "console/login.html", {"csrf": token, "next": safe_next(next)}, settings)
    return _with_pre_cookie(request, page, token)


@router.post("/login", response_class=HTMLResponse)
async def login(
    request: Request,
    backend: BackendDep,
    settings: SettingsDep,
    name: Annotated[str, Form(max_length=100)],
    password: Annotated[str, Form(max_length=1000)],
    csrf: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=500)] = "/console",
) -> Response:
    token = request.cookies.get(PRE_COOKIE)
    context: dict[str, object] = {"csrf": _pre_token(request), "next": safe_next(next), "name": name}
    if not token or not secrets.compare_digest(token, csrf):
        context["error"] = "expired"
        return render(request, "console/login.html", context, settings, status=403)
    try:
        operator = await accounts.login(backend, name, password, _address(request))
    except accounts.LoginLimited as exc:
        context.update(error="limited", minutes=exc.retry_after // 60 + 1)
        page = render(request, "console/login.html", context, settings, status=429)
        page.headers["Retry-After"] = str(exc.retry_after)
        return page
    except accounts.AccountError:
        context["error"] = "wrong"
        return render(request, "console/login.html", context, settings, status=401)
    value, _ = accounts.make_cookie(
        secret_key(request), operator.id, await accounts.generation(backend, operator.id)
    )
    await audit.record(backend, Actor(operator, _address(request)), "login")
    response = RedirectResponse(safe_next(next), status_code=303)
    set_session_cookie(request, response, value)
    return response


@router.post("/logout")
async def logout(request: Request, user: UserDep, backend: BackendDep) -> Response:
    form = await checked_form(request, user)
    if form.get("everywhere"):
        await accounts.logout_everywhere(backend, user.operator.id)
        await audit.record(backend, user.actor, "logout.everywhere")
    else:
        await audit.record(backend, user.actor, "logout")
    response = RedirectResponse("/console/login", status_code=303)
    clear_session_cookie(response)
    return response


@router.get("/setup/{secret}", response_class=HTMLResponse)
async def setup_page(request: Request, secret: str, backend: BackendDep, settings: SettingsDep) -> Response:
    token = _pre_token(request)
    try:
        doc = await accounts.setup_operator(backend, secret)
    except accounts.AccountError:
        return render(request, "console/setup.html", {"invalid": True}, settings, status=404)
    context = {"csrf": token, "name": doc.value["name"], "secret": secret}
    return _with_pre_cookie(request, render(request, "console/setup.html", context, settings), token)


@router.post("/setup/{secret}", response_class=HTMLResponse)
async def setup(
    request: Request,
    secret: str,
    backend: BackendDep,
    settings: SettingsDep,
    password: Annotated[str, Form(max_length=1000)],
    repeat: Annotated[str, Form(max_length=1000)],
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    token = request.cookies.get(PRE_COOKIE)
    context: dict[str, object] = {"csrf": _pre_token(request), "secret": secret}
    try:
        doc = await accounts.setup_operator(backend, secret)
        context["name"] = doc.value["name"]
        if not token or not secrets.compare_digest(token, csrf):
            context["error"] = "expired"
            return render(request, "console/setup.html", context, settings, status=403)
        if password != repeat:
            context["error"] = "mismatch"
            return render(request, "console/setup.html", context, settings, status=422)
        operator = await accounts.set_password_with_link(backend, secret, password)
    except accounts.AccountError:
        short = len(password) < accounts.MIN_PASSWORD
        context.update(
            error="short" if short else "invalid", invalid=not short, minimum=accounts.MIN_PASSWORD
        )
        return render(request, "console/setup.html", context, settings, status=422 if short else 404)
    await audit.record(backend, Actor(operator, _address(request)), "password.set")
    value, _ = accounts.make_cookie(
        secret_key(request), operator.id, await accounts.generation(backend, operator.id)
    )
    response = RedirectResponse("/console", status_code=303)
    set_session_cookie(request, response, value)
    return response
