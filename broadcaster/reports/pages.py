"""Citizens' report pages: the form, a report's status, the lookup and the public record.

Complete without JavaScript; ``static/reports.js`` keeps a report's page current
(``broadcaster.reports.live``). The form posts ``multipart/form-data`` to
``/reports/new`` and is answered with a 303 to the report's page.

The honeypot: the form has a field ``website`` that people never see (hidden by the
stylesheet, out of the tab order, ignored by autofill). A submission that fills it
is refused with a bland 400 ("could not be accepted, try again"), not silently
dropped: should a person ever trip it, they are told and can send again, which a
fake "thank you" with a dead tracking code would never let them do.
"""

from __future__ import annotations

import secrets
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from broadcaster import media
from broadcaster.accounts import RateLimited
from broadcaster.core.timeline import NotFound
from broadcaster.incidents import IdempotencyMismatch, PublisherDep
from broadcaster.reports import rules as rp
from broadcaster.reports.api import ReportsDep, Submission, address_of, file_report, summary
from broadcaster.reports.chart import chart
from broadcaster.reports.rules import Report
from broadcaster.reports.text import _, gettext, helpers, translate
from broadcaster.web.deps import SettingsDep
from broadcaster.web.rendering import language, render

router = APIRouter(include_in_schema=False)
HONEYPOT = "website"
FORM_FIELDS = ("title", "body", "location", "contact")
STEPS = ("received", "assigned", "replied", "resolved")


def _page(
    request: Request, settings: Any, name: str, context: dict[str, Any], status: int = 200
) -> HTMLResponse:
    lang = language(request, settings)
    return render(request, name, {**helpers(lang), "steps": STEPS, **context}, settings, status=status)


# --- the form -------------------------------------------------------------------------------


def _form(
    request: Request,
    settings: Any,
    values: dict[str, str] | None = None,
    error: str | None = None,
    field: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    limits = {"title": rp.MAX_TITLE, "body": rp.MAX_BODY, "location": rp.MAX_LOCATION}
    context = {
        "values": values or {},
        "error": error,
        "field": field,
        "nonce": secrets.token_urlsafe(12),
        "limits": {**limits, "contact": rp.MAX_CONTACT},
        "honeypot": HONEYPOT,
    }
    return _page(request, settings, "reports/new.html", context, status)


@router.get("/reports/new", response_class=HTMLResponse)
async def new_report(request: Request, settings: SettingsDep) -> HTMLResponse:
    return _form(request, settings)


@router.post("/reports/new", response_class=HTMLResponse)
async def file_from_form(request: Request, desk: ReportsDep, settings: SettingsDep) -> Response:
    lang = language(request, settings)
    async with request.form(max_files=1, max_fields=20) as form:
        values = {name: str(form.get(name) or "") for name in FORM_FIELDS}
        if form.get(HONEYPOT):
            bland = _("Your report could not be accepted. Please check it and send it again.")
            message = gettext(lang, bland)
            return _form(request, settings, values, message, status=400)
        upload = form.get("photo")
        photo = None
        if isinstance(upload, UploadFile) and upload.filename:
            photo = await upload.read(media.MAX_BYTES + 1) or None
        nonce = str(form.get("nonce") or "")[:100] or None
    # A file input cannot be filled in again: whoever sent a photo is asked to choose it again.
    again = " " + gettext(lang, _("Please choose the photo again.")) if photo else ""
    try:
        report, _created = await file_report(
            desk, settings, Submission(values, photo), address_of(request), nonce
        )
    except rp.FieldProblem as exc:
        return _form(request, settings, values, translate(exc, lang) + again, exc.field, 422)
    except RateLimited as exc:
        minutes = exc.retry_after // 60 + 1
        wait = _("You have sent several reports in a short time. Please try again in %(n)s minutes.")
        message = gettext(lang, wait, n=minutes) + again
        page = _form(request, settings, values, message, status=429)
        page.headers["Retry-After"] = str(exc.retry_after)
        return page
    except media.PhotoRejected as exc:
        too_large = isinstance(exc, media.PhotoTooLarge)
        message = (
            gettext(lang, _("The photo is too large: at most 10 MB."))
            if too_large
            else gettext(lang, _("The photo must be a JPEG, PNG or WebP image."))
        )
        return _form(request, settings, values, message, "photo", 413 if too_large else 415)
    except IdempotencyMismatch:
        message = gettext(lang, _("Please send the form again.")) + again
        return _form(request, settings, values, message, status=422)
    return RedirectResponse(f"/reports/{report.code}?filed=1&lang={lang}", status_code=303)


# --- looking a report up ------------------------------------------------------------------------


@router.get("/reports", response_class=HTMLResponse)
async def reports_home(
    request: Request,
    desk: ReportsDep,
    settings: SettingsDep,
    code: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    """The citizens' entry: file a report, look one up by its code, the public record."""
    lang = language(request, settings)
    if code:
        try:
            report = await desk.public(code)
        except NotFound:
            message = gettext(
                lang, _("No report has the tracking code %(code)s. Please check it."), code=code
            )
            return _page(request, settings, "reports/home.html", {"error": message, "code": code}, 404)
        return RedirectResponse(f"/reports/{report.code}?lang={lang}", status_code=303)
    return _page(request, settings, "reports/home.html", {"code": ""})


# --- the public record --------------------------------------------------------------------------


def _day(value: str | None) -> date | None:
    """Raises ValueError for anything but YYYY-MM-DD."""
    return date.fromisoformat(value) if value else None


@router.get("/reports/stats", response_class=HTMLResponse)
async def stats_page(
    request: Request,
    desk: ReportsDep,
    settings: SettingsDep,
    start: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    end: Annotated[str | None, Query(alias="to", max_length=10)] = None,
) -> HTMLResponse:
    lang = language(request, settings)
    error = None
    try:
        first, last = _day(start), _day(end)
        if first and last and first > last:
            raise ValueError
    except ValueError:
        error = gettext(lang, _("Give the dates as YYYY-MM-DD, the first one not after the second."))
        first = last = None
    found = await summary(desk, settings.timezone, first, last)
    context = {
        "summary": found,
        "chart": chart(found.months),
        "start": start or "",
        "end": end or "",
        "error": error,
        "query": request.url.query,
    }
    return _page(request, settings, "reports/stats.html", context, 422 if error else 200)


# --- a report -----------------------------------------------------------------------------------


async def _status_context(report: Report, publisher: Any, settings: Any) -> dict[str, Any]:
    incident_title = None
    if report.incident:
        try:
            incident_title = (await publisher.get(report.incident)).title
        except NotFound:
            incident_title = report.incident
    return {
        "report": report,
        "incident_title": incident_title,
        "view": report.public_json(settings.organisation),
    }


@router.get("/reports/{code}", response_class=HTMLResponse)
async def report_page(
    request: Request, code: str, desk: ReportsDep, publisher: PublisherDep, settings: SettingsDep
) -> Response:
    try:
        report = await desk.public(code)
    except NotFound:
        lang = language(request, settings)
        message = gettext(
            lang, _("No report has the tracking code %(code)s. Please check it."), code=code[:40]
        )
        return _page(request, settings, "reports/home.html", {"error": message, "code": code[:40]}, 404)
    if report.kind == "question":  # a reader's question has its own page
        return RedirectResponse(f"/questions/{report.code}", status_code=303)
    if report.code != code:  # typed in lower case, without dashes, with O for 0: the one address
        return RedirectResponse(f"/reports/{report.code}?{request.url.query}".rstrip("?"), status_code=301)
    context = await _status_context(report, publisher, settings)
    context["filed"] = request.query_params.get("filed") == "1"
    return _page(request, settings, "reports/report.html", context)


@router.get("/reports/{code}/status", response_class=HTMLResponse)
async def report_status(
    request: Request, code: str, desk: ReportsDep, publisher: PublisherDep, settings: SettingsDep
) -> HTMLResponse:
    """The report page's changing part alone, as ``static/reports.js`` swaps it in."""
    report = await desk.public(code)
    context = await _status_context(report, publisher, settings)
    return _page(request, settings, "reports/_status.html", context)
