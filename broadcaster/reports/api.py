"""The JSON API of citizens' reports: filing one (public), its status, the statistics,
and the operators' commands (token).

``POST /api/reports`` takes ``application/json`` or, to attach a photo,
``multipart/form-data`` with the same fields and a file field ``photo``. It needs no
account; each address may file ``INCIDENTS_REPORT_LIMIT`` reports per
``INCIDENTS_REPORT_WINDOW`` seconds (429 with ``Retry-After`` beyond). The honeypot is
the HTML form's (``broadcaster.reports.pages``): programs have no use for it.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import Field, ValidationError
from starlette.requests import HTTPConnection

from broadcaster import accounts, media
from broadcaster.accounts import ActorDep
from broadcaster.core.timeline import NotFound
from broadcaster.core.types import JSON
from broadcaster.incidents import PublisherDep
from broadcaster.media import MAX_UPLOAD_BODY, store_photo
from broadcaster.reports import listing
from broadcaster.reports import rules as rp
from broadcaster.reports.desk import ReportDesk
from broadcaster.reports.rules import Report
from broadcaster.reports.stats import Summary, summarise
from broadcaster.web.deps import BackendDep, IdempotencyKey, SettingsDep, public_url
from broadcaster.web.models import Strict

router = APIRouter(prefix="/api/reports", tags=["reports"])

SUBMIT_FIELDS = ("title", "body", "location", "contact")
REPLAYED = {"Idempotent-Replayed": "true"}


async def _desk(request: HTTPConnection) -> ReportDesk:
    desk: ReportDesk = request.app.state.reports
    return desk


ReportsDep = Annotated[ReportDesk, Depends(_desk)]


class ReportIn(Strict):
    title: str = Field(max_length=rp.MAX_TITLE, description="what it is about, in a line")
    body: str = Field(max_length=rp.MAX_BODY, description="what happened")
    location: str = Field(max_length=rp.MAX_LOCATION, description="where: street, crossing, landmark")
    contact: str = Field(
        "", max_length=rp.MAX_CONTACT, description="phone or e-mail; only operators ever see it"
    )


SUBMIT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": ReportIn.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    **ReportIn.model_json_schema(),
                    "properties": {
                        **ReportIn.model_json_schema()["properties"],
                        "photo": {
                            "type": "string",
                            "format": "binary",
                            "description": f"optional: {media.ACCEPTED}, {media.MAX_BYTES} bytes at most",
                        },
                    },
                }
            },
        },
    }
}


class Submission:
    """What one filing carries, however it came (JSON, multipart, the HTML form)."""

    def __init__(self, fields: dict[str, str], photo: bytes | None) -> None:
        self.fields = fields
        self.photo = photo


async def read_submission(request: Request) -> Submission:
    """The fields (checked by ReportIn: lengths, unknown fields, control characters)
    and the photo's bytes (at most one past the limit).

    Raises:
        HTTPException: 415 another content type; 422 not JSON, or not an object.
        RequestValidationError: bad fields (422).
    """
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    photo: bytes | None = None
    if kind == "application/json":
        try:
            payload = json.loads(await request.body())
        except ValueError:
            raise HTTPException(422, "the body is not valid JSON") from None
        if not isinstance(payload, dict):
            raise HTTPException(422, "send a JSON object: {title, body, location, contact}")
    elif kind == "multipart/form-data":
        async with request.form(max_files=1, max_fields=10) as form:
            payload = {k: v for k, v in form.multi_items() if isinstance(v, str)}
            upload = form.get("photo")
            if upload is not None and not isinstance(upload, str) and upload.filename:
                photo = await upload.read(media.MAX_BYTES + 1)
            extra = [k for k, v in form.multi_items() if not isinstance(v, str) and k != "photo"]
            if extra:
                raise HTTPException(422, f"unexpected file field {extra[0]!r}: the photo goes in `photo`")
    else:
        raise HTTPException(415, "send application/json, or multipart/form-data with a photo")
    try:
        checked = ReportIn.model_validate(payload)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False, include_context=False)) from None
    return Submission({name: getattr(checked, name) for name in SUBMIT_FIELDS}, photo or None)


async def file_report(
    desk: ReportDesk, settings: Any, submission: Submission, address: str | None, key: str | None
) -> tuple[Report, bool]:
    """Check, count against the address's limit, store the photo, file.

    Raises:
        reports.FieldProblem (422), RateLimited (429), media.PhotoTooLarge (413),
        media.PhotoUnsupported (415), IdempotencyMismatch (422), BackendError (503).
    """
    fields = rp.check_submission(**submission.fields)
    scoped = None if key is None else desk.submission_key(address, key)
    first = await desk.replayed(scoped, fields)
    if first is not None:
        return first, False
    await desk.limit(address, settings.report_limit, settings.report_window)
    photo = None if submission.photo is None else await store_photo(desk.backend, submission.photo)
    return await desk.submit(fields, photo, address, scoped)


def address_of(request: HTTPConnection) -> str | None:
    return request.client.host if request.client else None


def photo_refusal(exc: media.PhotoRejected) -> HTTPException:
    return HTTPException(413 if isinstance(exc, media.PhotoTooLarge) else 415, f"photo: {exc}")


@router.post(
    "",
    status_code=201,
    summary="File a report (no account): JSON, or multipart/form-data with a photo",
    openapi_extra=SUBMIT_BODY,
    responses={
        201: {"description": '`{"code": "ZZ-7K4M-Q2PD", "status": "received", "url": ...}`'},
        413: {"description": f"the photo is over {media.MAX_BYTES} bytes or the body over {MAX_UPLOAD_BODY}"},
        415: {"description": "another content type, or the photo is not a JPEG, PNG or WebP image"},
        429: {"description": "too many reports from this address lately (see Retry-After)"},
    },
)
async def submit(
    request: Request, desk: ReportsDep, settings: SettingsDep, key: IdempotencyKey
) -> JSONResponse:
    """Answers 201 ``{"code", "status", "url"}`` (and ``Location``). A repeated
    ``Idempotency-Key`` from the same address answers the first report (header
    ``Idempotent-Replayed: true``) and files nothing."""
    submission = await read_submission(request)
    try:
        report, created = await file_report(desk, settings, submission, address_of(request), key)
    except media.PhotoRejected as exc:
        raise photo_refusal(exc) from None
    url = f"{public_url(request)}/reports/{report.code}"
    headers = {"Location": url, **({} if created else REPLAYED)}
    return JSONResponse({"code": report.code, "status": str(report.status), "url": url}, 201, headers)


# --- the public record ------------------------------------------------------------------------


class StatsCache:
    """Summaries by (seq of the log, range): computed once per change of the reports."""

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._found: dict[tuple[int, int, date | None, date | None, str], Summary] = {}

    async def get(self, desk: ReportDesk, zone: str, start: date | None, end: date | None) -> Summary:
        index = await desk.refresh()
        key = (id(desk), desk.seq, start, end, zone)
        found = self._found.get(key)
        if found is None:
            if len(self._found) >= self.size:
                self._found.clear()
            found = self._found[key] = summarise(index.values(), zone, start, end)
        return found


stats_cache = StatsCache()
FromDate = Annotated[date | None, Query(alias="from", description="first day (YYYY-MM-DD), included")]
ToDate = Annotated[date | None, Query(alias="to", description="last day (YYYY-MM-DD), included")]


async def summary(desk: ReportDesk, zone: str, start: date | None, end: date | None) -> Summary:
    try:
        return await stats_cache.get(desk, zone, start, end)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None


@router.get("/stats", summary="Received, replied, resolved, reply rate, time to first reply: per month")
async def stats(
    desk: ReportsDep, settings: SettingsDep, start: FromDate = None, end: ToDate = None
) -> dict[str, Any]:
    """Reports received in the range (days in ``INCIDENTS_TIMEZONE``), counted in the month
    they were received; hidden reports and merged duplicates are not counted."""
    return (await summary(desk, settings.timezone, start, end)).to_json()


# --- the operators' inbox ---------------------------------------------------------------------

StatusFilter = Literal["received", "assigned", "replied", "resolved", "open"]


@router.get("/inbox", summary="Operators: reports newest first, filtered")
async def inbox(
    desk: ReportsDep,
    actor: ActorDep,
    status: StatusFilter | None = None,
    q: Annotated[str | None, Query(max_length=200, description="text in the location, title or body")] = None,
    show: Literal["visible", "hidden", "merged", "all"] = "visible",
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    found = list(listing.inbox(await desk.refresh(), status=status, text=q, show=show))
    return {"reports": [r.inbox_json() for r in found[offset : offset + limit]], "total": len(found)}


@router.get("/inbox/{code}", summary="Operators: one report, with the citizen's contact")
async def inbox_report(code: str, desk: ReportsDep, actor: ActorDep) -> dict[str, Any]:
    report = await desk.get(code)
    return {**report.inbox_json(), "contact": await desk.contact(report.code)}


@router.delete("/inbox/{code}/contact", summary="Operators: erase the citizen's contact (audited)")
async def erase_contact(code: str, desk: ReportsDep, actor: ActorDep) -> dict[str, Any]:
    """``{"erased": true}`` if a contact was erased now, false if there was none (any more)."""
    return {"code": (await desk.get(code)).code, "erased": await desk.erase_contact(code, actor)}


@router.get("/{code}", summary="A report's public status and reply (no contact)")
async def public_report(code: str, desk: ReportsDep, settings: SettingsDep) -> JSONResponse:
    report = await desk.public(code)
    return JSONResponse(report.public_json(settings.organisation))


# --- the operators' commands --------------------------------------------------------------------


class AssignIn(Strict):
    department: str | None = Field(None, min_length=1, max_length=rp.MAX_DEPARTMENT)
    operator: str | None = Field(None, min_length=1, max_length=64, description="an operator's id")


class ReplyIn(Strict):
    text: str = Field(min_length=1, max_length=rp.MAX_REPLY, description="shown to the public")


class NoteIn(Strict):
    note: str | None = Field(None, max_length=rp.MAX_NOTE)


class ReasonIn(Strict):
    reason: str | None = Field(None, max_length=rp.MAX_NOTE, description="for operators only")


class MergeIn(Strict):
    into: str = Field(min_length=1, max_length=40, description="the original report's code")


class LinkIn(Strict):
    incident: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")


def _answer(report: Report) -> JSON:
    return {"report": report.inbox_json()}


async def operator_named(backend: Any, operator_id: str) -> tuple[str, str]:
    """(id, name) of an operator. Raises FieldProblem when there is none."""
    doc = await accounts.operator_doc(backend, operator_id)
    if doc is None or doc.value.get("disabled"):
        raise rp.FieldProblem("operator", "no operator %(id)s", id=operator_id)
    return str(doc.value["id"]), str(doc.value["name"])


@router.post("/{code}/assign", summary="Assign to a department or an operator (已交办)")
async def assign(
    code: str, body: AssignIn, desk: ReportsDep, backend: BackendDep, actor: ActorDep, key: IdempotencyKey
) -> JSON:
    operator = None if body.operator is None else await operator_named(backend, body.operator)
    return _answer(await desk.assign(code, actor, department=body.department, operator=operator, key=key))


@router.post("/{code}/reply", summary="Reply in public (已回复)")
async def reply(code: str, body: ReplyIn, desk: ReportsDep, actor: ActorDep, key: IdempotencyKey) -> JSON:
    return _answer(await desk.reply(code, body.text, actor, key))


@router.post("/{code}/resolve", summary="Mark resolved (after a public reply)")
async def resolve(
    code: str, desk: ReportsDep, actor: ActorDep, key: IdempotencyKey, body: NoteIn | None = None
) -> JSON:
    return _answer(await desk.resolve(code, body.note if body else None, actor, key))


@router.post("/{code}/hide", summary="Hide abuse from the public (the record stays)")
async def hide(
    code: str, desk: ReportsDep, actor: ActorDep, key: IdempotencyKey, body: ReasonIn | None = None
) -> JSON:
    return _answer(await desk.hide(code, body.reason if body else None, actor, key))


@router.post("/{code}/unhide", summary="Show a hidden report again")
async def unhide(code: str, desk: ReportsDep, actor: ActorDep, key: IdempotencyKey) -> JSON:
    return _answer(await desk.unhide(code, actor, key))


@router.post("/{code}/merge", summary="Merge a duplicate into the original report")
async def merge(code: str, body: MergeIn, desk: ReportsDep, actor: ActorDep, key: IdempotencyKey) -> JSON:
    return _answer(await desk.merge(code, body.into, actor, key))


@router.post("/{code}/link", summary="Link to an incident (the report's page then points to its timeline)")
async def link(
    code: str, body: LinkIn, desk: ReportsDep, publisher: PublisherDep, actor: ActorDep, key: IdempotencyKey
) -> JSON:
    try:
        await publisher.get(body.incident)
    except NotFound:
        raise HTTPException(422, f"incident: no incident {body.incident}") from None
    return _answer(await desk.link(code, body.incident, actor, key=key))
