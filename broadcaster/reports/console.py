"""The console's reports inbox: triage, assign, reply, resolve, hide, merge, link, convert.

Plain forms, each with the session's CSRF token and a one-time nonce used as the
command's idempotency key (a double submit acts once). A refused command shows the
report again with the reason, in the operator's language, and the text they typed.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from broadcaster import accounts
from broadcaster.accounts import ConsoleUser, UserDep, checked_form
from broadcaster.console import FormProblem, choices, text
from broadcaster.core.timeline import NotFound, RuleViolation
from broadcaster.incidents import MAX_TITLE, Category, IdempotencyMismatch, Publisher, PublisherDep, Severity
from broadcaster.reports import listing
from broadcaster.reports import rules as rp
from broadcaster.reports.api import ReportsDep, operator_named
from broadcaster.reports.desk import ReportDesk
from broadcaster.reports.text import helpers, translate
from broadcaster.web.deps import BackendDep, SettingsDep
from broadcaster.web.rendering import language, render

router = APIRouter(prefix="/console/reports", include_in_schema=False)
PAGE = 50
STATUSES = ("open", "received", "assigned", "replied", "resolved")


def _render(
    request: Request, settings: Any, name: str, context: dict[str, Any], status: int = 200
) -> HTMLResponse:
    lang = language(request, settings)
    return render(request, name, {**helpers(lang), **context}, settings, status=status)


@router.get("", response_class=HTMLResponse)
async def inbox_page(
    request: Request,
    user: UserDep,
    desk: ReportsDep,
    settings: SettingsDep,
    status: Annotated[str | None, Query(max_length=20)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    show: Annotated[str, Query(max_length=20)] = "visible",
    page: Annotated[int, Query(ge=1, le=10**6)] = 1,
) -> HTMLResponse:
    status = status if status in STATUSES else None
    show = show if show in listing.SHOW else "visible"
    index = await desk.refresh()
    found = list(listing.inbox(index, status=status, text=q, show=show))
    counts = {s: sum(1 for _ in listing.inbox(index, status=s)) for s in STATUSES}
    context = {
        "user": user,
        "reports": found[(page - 1) * PAGE : page * PAGE],
        "total": len(found),
        "page": page,
        "pages": max(1, -(-len(found) // PAGE)),
        "filters": {"status": status or "", "q": q or "", "show": show},
        "statuses": STATUSES,
        "shows": listing.SHOW,
        "counts": counts,
        "zone": settings.timezone,
    }
    return _render(request, settings, "console/reports.html", context)


async def _incident_title(publisher: Publisher, incident: str | None) -> str | None:
    if incident is None:
        return None
    try:
        return (await publisher.get(incident)).title
    except NotFound:
        return None


async def _report_page(
    request: Request,
    user: ConsoleUser,
    desk: ReportDesk,
    backend: Any,
    settings: Any,
    code: str,
    *,
    error: str | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    report = await desk.get(code)
    if report.code != code:
        raise NotFound(f"no report {code}")
    context = {
        "user": user,
        "report": report,
        "contact": await desk.contact(report.code),
        "contact_erased": await desk.contact_erased(report.code),
        "original": desk.index.get(report.merged_into) if report.merged_into else None,
        "incident_title": await _incident_title(request.app.state.publisher, report.incident),
        "operators": [o for o in await accounts.list_operators(backend) if not o.get("disabled")],
        "departments": listing.departments(desk.index),
        "nonce": secrets.token_urlsafe(12),
        "error": error,
        "values": values or {},
        "done": request.query_params.get("done"),
        "zone": settings.timezone,
    }
    return _render(request, settings, "console/report.html", context, status)


@router.get("/{code}", response_class=HTMLResponse)
async def report_page(
    request: Request, code: str, user: UserDep, desk: ReportsDep, backend: BackendDep, settings: SettingsDep
) -> Response:
    found = await desk.get(code)
    if found.code != code:
        return RedirectResponse(f"/console/reports/{found.code}", status_code=303)
    return await _report_page(request, user, desk, backend, settings, code)


async def _act(
    request: Request, user: ConsoleUser, desk: ReportDesk, backend: Any, settings: Any, code: str,
    action: Any, done: str,
) -> Response:  # fmt: skip
    """Run one command; on a refusal show the report again with the reason and the input."""
    form = await checked_form(request, user)
    try:
        target = await action(form, str(form.get("nonce") or "")[:100] or None)
    except (FormProblem, RuleViolation, NotFound, IdempotencyMismatch, ValueError) as exc:
        status = 409 if isinstance(exc, RuleViolation) else 404 if isinstance(exc, NotFound) else 422
        values = {k: v for k, v in form.items() if isinstance(v, str) and k not in ("csrf", "nonce")}
        lang = language(request, settings)
        return await _report_page(request, user, desk, backend, settings, code,
                                  error=translate(exc, lang), values=values, status=status)  # fmt: skip
    return RedirectResponse(target or f"/console/reports/{code}?done={done}", status_code=303)


@router.post("/{code}/assign", response_class=HTMLResponse)
async def assign(
    request: Request, code: str, user: UserDep, desk: ReportsDep, backend: BackendDep, settings: SettingsDep
) -> Response:
    async def action(form: FormData, key: str | None) -> None:
        chosen = str(form.get("to") or "")
        if chosen.startswith("operator:"):
            operator = await operator_named(backend, chosen.removeprefix("operator:"))
            await desk.assign(code, user.actor, operator=operator, key=key)
        else:
            department = str(form.get("department") or "")
            await desk.assign(code, user.actor, department=department, key=key)

    return await _act(request, user, desk, backend, settings, code, action, "assigned")


@router.post("/{code}/reply", response_class=HTMLResponse)
async def reply(
    request: Request, code: str, user: UserDep, desk: ReportsDep, backend: BackendDep, settings: SettingsDep
) -> Response:
    async def action(form: FormData, key: str | None) -> None:
        await desk.reply(code, str(form.get("text") or ""), user.actor, key)
        if form.get("resolve") == "on":
            await desk.resolve(code, None, user.actor, None if key is None else f"{key}-resolve")

    return await _act(request, user, desk, backend, settings, code, action, "replied")


@router.post("/{code}/resolve", response_class=HTMLResponse)
async def resolve(
    request: Request, code: str, user: UserDep, desk: ReportsDep, backend: BackendDep, settings: SettingsDep
) -> Response:
    async def action(form: FormData, key: str | None) -> None:
        await desk.resolve(code, str(form.get("note") or ""), user.actor, key)

    return await _act(request, user, desk, backend, settings, code, action, "resolved")


@router.post("/{code}/hide", response_class=HTMLResponse)
async def hide(
    request: Request, code: str, user: UserDep, desk: ReportsDep, backend: BackendDep, settings: SettingsDep
) -> Response:
    async def action(form: FormData, key: str | None) -> None:
        if form.get("unhide"):
            await desk.unhide(code, user.actor, key)
        else:
            await desk.hide(code, str(form.get("reason") or ""), user.actor, key)

    done = "shown" if (await request.form()).get("unhide") else "hidden"
    return await _act(request, user, desk, backend, settings, code, action, done)


@router.post("/{code}/erase-contact", response_class=HTMLResponse)
async def erase_contact(
    request: Request, code: str, user: UserDep, desk: ReportsDep, backend: BackendDep, settings: SettingsDep
) -> Response:
    async def action(form: FormData, key: str | None) -> None:
        await desk.erase_contact(code, user.actor)

    return await _act(request, user, desk, backend, settings, code, action, "contact-erased")


@router.post("/{code}/merge", response_class=HTMLResponse)
async def merge(
    request: Request, code: str, user: UserDep, desk: ReportsDep, backend: BackendDep, settings: SettingsDep
) -> Response:
    async def action(form: FormData, key: str | None) -> None:
        into = str(form.get("into") or "").strip()
        if not into:
            raise rp.FieldProblem("into", rp._("enter the tracking code of the original report"))
        await desk.merge(code, into, user.actor, key)

    return await _act(request, user, desk, backend, settings, code, action, "merged")


@router.post("/{code}/link", response_class=HTMLResponse)
async def link(
    request: Request, code: str, user: UserDep, desk: ReportsDep, backend: BackendDep,
    publisher: PublisherDep, settings: SettingsDep,
) -> Response:  # fmt: skip
    async def action(form: FormData, key: str | None) -> None:
        incident = str(form.get("incident") or "").strip().rstrip("/").rpartition("/")[2]
        try:
            await publisher.get(incident) if incident else None
        except NotFound:
            incident = ""
        if not incident:
            raise rp.FieldProblem("incident", rp._("no such incident: give its id or its page's address"))
        await desk.link(code, incident, user.actor, key=key)

    return await _act(request, user, desk, backend, settings, code, action, "linked")


# --- a new incident from a report -------------------------------------------------------------


@router.get("/{code}/incident", response_class=HTMLResponse)
async def new_incident_page(
    request: Request, code: str, user: UserDep, desk: ReportsDep, settings: SettingsDep
) -> Response:
    report = await desk.get(code)
    values = {"title": report.title[:MAX_TITLE], "summary": report.body[:2000], "area": report.location}
    context = {
        "user": user,
        "report": report,
        "values": values,
        "nonce": secrets.token_urlsafe(12),
        **choices(),
    }
    return _render(request, settings, "console/report_incident.html", context)


@router.post("/{code}/incident", response_class=HTMLResponse)
async def create_incident(
    request: Request, code: str, user: UserDep, desk: ReportsDep, backend: BackendDep,
    publisher: PublisherDep, settings: SettingsDep,
) -> Response:  # fmt: skip
    """Open an incident from the form (prefilled from the report) and link the report to it."""
    report = await desk.get(code)
    form = await checked_form(request, user)
    lang = language(request, settings)
    nonce = str(form.get("nonce") or "")[:100] or None
    try:
        rp.check_workable(report)  # refused now (hidden, merged) rather than after the incident opened
        severity, category = str(form.get("severity") or "unknown"), str(form.get("category") or "Other")
        if severity not in {s.value for s in Severity} or category not in {c.value for c in Category}:
            raise FormProblem("severity or category: not one of the choices")
        fields = {
            "title": text(form, "title", MAX_TITLE, required=True, label="title").strip(),
            "summary": text(form, "summary", 2000),
            "area": text(form, "area", 200),
            "severity": severity,
            "category": category,
            "lang": "en" if form.get("lang") == "en" else "zh-CN",
            "exercise": form.get("exercise") == "on",
        }
        done = await publisher.create(fields, user.actor, nonce)
        incident = done.event.decode()["incident"]
        if report.incident != incident:
            await desk.link(report.code, incident, user.actor, created=True, key=nonce)
    except (FormProblem, RuleViolation, IdempotencyMismatch, ValueError) as exc:
        values = {k: v for k, v in form.items() if isinstance(v, str)}
        context = {
            "user": user, "report": report, "values": values, "nonce": nonce, "error": translate(exc, lang),
            **choices(),
        }  # fmt: skip
        status = 409 if isinstance(exc, RuleViolation) else 422
        return _render(request, settings, "console/report_incident.html", context, status)
    return RedirectResponse(f"/console/incidents/{incident}?done=created", status_code=303)
