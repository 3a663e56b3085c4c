"""API tokens (every operator's own), operators and the audit log (administrators)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import Field

from broadcaster import accounts
from broadcaster.accounts import AdminDep, ConsoleAdminDep, UserDep, audit, checked_form
from broadcaster.core import text as written
from broadcaster.web.deps import BackendDep, SettingsDep, public_url
from broadcaster.web.models import MAX_SEQ, Strict
from broadcaster.web.rendering import render

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api", tags=["administration"])


# --- API tokens --------------------------------------------------------------------------


@router.get("/console/tokens", response_class=HTMLResponse)
async def tokens_page(
    request: Request, user: UserDep, backend: BackendDep, settings: SettingsDep
) -> Response:
    tokens = await accounts.list_tokens(backend, user.operator.id)
    return render(request, "console/tokens.html", {"user": user, "tokens": tokens}, settings)


@router.post("/console/tokens", response_class=HTMLResponse)
async def create_token(
    request: Request, user: UserDep, backend: BackendDep, settings: SettingsDep
) -> Response:
    form = await checked_form(request, user)
    try:
        label = written.check(str(form.get("label") or ""), "label").strip() or "token"
    except written.ControlCharacters as exc:
        tokens = await accounts.list_tokens(backend, user.operator.id)
        context = {"user": user, "tokens": tokens, "error": str(exc)}
        return render(request, "console/tokens.html", context, settings, status=422)
    token = await accounts.create_token(backend, user.operator.id, label)
    await audit.record(backend, user.actor, "token.created", detail={"label": label})
    tokens = await accounts.list_tokens(backend, user.operator.id)
    context = {"user": user, "tokens": tokens, "new_token": token}
    return render(request, "console/tokens.html", context, settings, status=201)


@router.post("/console/tokens/{token_id}/revoke")
async def revoke_token(request: Request, token_id: str, user: UserDep, backend: BackendDep) -> Response:
    await checked_form(request, user)
    if await accounts.revoke_token(backend, user.operator.id, token_id):
        await audit.record(backend, user.actor, "token.revoked", target=token_id)
    return RedirectResponse("/console/tokens?done=revoked", status_code=303)


# --- operators (administrators) -------------------------------------------------------------


@router.get("/console/admin/operators", response_class=HTMLResponse)
async def operators_page(
    request: Request, user: ConsoleAdminDep, backend: BackendDep, settings: SettingsDep
) -> Response:
    operators = await accounts.list_operators(backend)
    return render(request, "console/operators.html", {"user": user, "operators": operators}, settings)


@router.post("/console/admin/operators", response_class=HTMLResponse)
async def add_operator(
    request: Request, user: ConsoleAdminDep, backend: BackendDep, settings: SettingsDep
) -> Response:
    form = await checked_form(request, user)
    context: dict[str, Any] = {"user": user}
    try:
        operator, secret = await accounts.invite(
            backend, str(form.get("name") or ""), form.get("admin") == "on"
        )
    except ValueError as exc:
        context.update(error=str(exc), operators=await accounts.list_operators(backend))
        return render(request, "console/operators.html", context, settings, status=422)
    await audit.record(
        backend, user.actor, "operator.invited", target=operator.id, detail={"name": operator.name}
    )
    context.update(
        operators=await accounts.list_operators(backend),
        invited=operator.name,
        link=f"{public_url(request)}/console/setup/{secret}",
    )
    return render(request, "console/operators.html", context, settings, status=201)


@router.get("/console/admin/audit", response_class=HTMLResponse)
async def audit_page(
    request: Request,
    user: ConsoleAdminDep,
    backend: BackendDep,
    settings: SettingsDep,
    operator: Annotated[str | None, Query(max_length=100)] = None,
    action: Annotated[str | None, Query(max_length=100)] = None,
    incident: Annotated[str | None, Query(max_length=64)] = None,
    before: Annotated[int | None, Query(ge=1, le=MAX_SEQ)] = None,
) -> Response:
    filters = {"operator": operator or None, "action": action or None, "incident": incident or None}
    found = await audit.entries(backend, before=before, limit=100, **filters)
    context = {"user": user, "entries": found, "filters": filters, "zone": settings.timezone}
    return render(request, "console/audit.html", context, settings)


# --- the same for scripts (administrator tokens) --------------------------------------------


class InviteIn(Strict):
    name: str = Field(min_length=1, max_length=100)
    admin: bool = False


@api.get("/operators", summary="Operators (administrators only)")
async def api_operators(actor: AdminDep, backend: BackendDep) -> dict[str, Any]:
    return {"operators": await accounts.list_operators(backend)}


@api.post("/operators", status_code=201, summary="Invite an operator: a one-time link to set a password")
async def api_invite(body: InviteIn, request: Request, actor: AdminDep, backend: BackendDep) -> JSONResponse:
    try:
        operator, secret = await accounts.invite(backend, body.name, body.admin)
    except ValueError as exc:
        return JSONResponse({"detail": str(exc)}, 409)
    await audit.record(backend, actor, "operator.invited", target=operator.id, detail={"name": operator.name})
    link = f"{public_url(request)}/console/setup/{secret}"
    return JSONResponse(
        {"operator": {"id": operator.id, "name": operator.name, "admin": operator.admin}, "setup_link": link},
        201,
    )


@api.get("/audit", summary="The audit log, newest first (administrators only)")
async def api_audit(
    actor: AdminDep,
    backend: BackendDep,
    operator: Annotated[str | None, Query(max_length=100)] = None,
    action: Annotated[str | None, Query(max_length=100)] = None,
    incident: Annotated[str | None, Query(max_length=64)] = None,
    before: Annotated[int | None, Query(ge=1, le=MAX_SEQ)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    found = await audit.entries(
        backend, operator=operator, action=action, incident=incident, before=before, limit=limit
    )
    return {"entries": found}
