"""The operators' console: dashboard, new incident, and the incident workspace.

Plain forms that work without JavaScript (``static/console.js`` adds the preview,
Ctrl+Enter and promise buttons). Every form carries the session's CSRF token and a
one-time nonce used as the ``Idempotency-Key``: a double submit posts once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.datastructures import FormData, UploadFile

from broadcaster import maps, media
from broadcaster.accounts import ConsoleUser, UserDep, checked_form
from broadcaster.config import Settings
from broadcaster.console.alert_form import alert_fields, second_language, shown_values
from broadcaster.console.forms import (
    PROMISES,
    FormProblem,
    choices,
    local_to_utc,
    promise_from,
    severity_and_category,
    storable,
    text,
)
from broadcaster.core import markdown
from broadcaster.core.events import parse_time, utc_now
from broadcaster.core.timeline import Incident, NotFound, RuleViolation
from broadcaster.core.types import JSON
from broadcaster.incidents import (
    MAX_BODY,
    MAX_REASON,
    IdempotencyMismatch,
    IncidentId,
    Publisher,
    PublisherDep,
    UpdateId,
    incident_log,
)
from broadcaster.live import Hub, HubDep
from broadcaster.media import store_photo
from broadcaster.web.deps import SettingsDep, public_url
from broadcaster.web.rendering import language, render
from broadcaster.webhooks import webhook_notices

router = APIRouter(prefix="/console", include_in_schema=False)


@dataclass(frozen=True, slots=True)
class Desk:
    """What every workspace action needs: the request, the operator, the services."""

    request: Request
    user: ConsoleUser
    publisher: Publisher
    hub: Hub
    settings: Settings


async def _desk(
    request: Request, user: UserDep, publisher: PublisherDep, hub: HubDep, settings: SettingsDep
) -> Desk:
    return Desk(request, user, publisher, hub, settings)


DeskDep = Annotated[Desk, Depends(_desk)]


def overdue_minutes(incident: Incident) -> int | None:
    if incident.state != "live" or not incident.next_update_at:
        return None
    late = utc_now() - parse_time(incident.next_update_at)
    return int(late.total_seconds() // 60) if late.total_seconds() > 0 else None


async def workspace(
    desk: Desk,
    incident_id: str,
    *,
    error: str | None = None,
    values: dict[str, Any] | None = None,
    status: int = 200,
) -> HTMLResponse:
    request, publisher, hub, settings, user = desk.request, desk.publisher, desk.hub, desk.settings, desk.user
    incident = await publisher.get(incident_id)
    scheduled = await scheduled_items(request, incident_id)
    context = {
        "user": user,
        "incident": incident,
        "updates": incident.updates_newest_first(),
        "watchers": await watchers(request, hub, incident_log(incident_id)),
        "overdue": overdue_minutes(incident),
        "nonce": secrets.token_urlsafe(12),
        "promises": PROMISES,
        "error": error,
        "values": values or {},
        "done": request.query_params.get("done"),
        "scheduled": scheduled,
        "zone": settings.timezone,
        "base": public_url(request),
        "second_lang": second_language(incident.lang),
        "details": {**shown_values(incident, settings.timezone), **(values or {})},
        "area_svg": maps.area_map(incident.area_shape, language(request, settings))
        if incident.area_shape
        else None,
        "questions": await board.section(incident_id) if (board := _questions(request)) else None,
        "notify": await panel.section(incident) if (panel := _notify(request)) else None,
        "request_path": request.url.path,
        **choices(),
    }
    return render(request, "console/workspace.html", context, settings, status=status)


async def watchers(request: Request, hub: Hub, log_name: str) -> int:
    """Readers of the log on every server process (``app.state.presence``), else on this one."""
    presence = getattr(request.app.state, "presence", None)
    return await presence.watchers(log_name) if presence is not None else hub.watchers(log_name)


def _notify(request: Request) -> Any:
    """The notifications panel (``broadcaster.notify.console``, above the console: on app.state)."""
    return getattr(request.app.state, "notify_panel", None)


def _questions(request: Request) -> Any:
    """Readers' questions (``broadcaster.questions``, which uses the console: found on app.state)."""
    return getattr(request.app.state, "questions", None)


async def scheduled_items(request: Request, incident_id: str | None) -> list[Any]:
    schedules = getattr(request.app.state, "schedules", None)
    if schedules is None:
        return []
    items: list[Any] = await schedules.list(incident_id)
    return items


@router.get("", response_class=HTMLResponse)
async def dashboard(
    request: Request, user: UserDep, publisher: PublisherDep, settings: SettingsDep
) -> Response:
    incidents = await publisher.list_incidents()
    live = [(i, overdue_minutes(i)) for i in incidents if i.state == "live"]
    live.sort(key=lambda pair: (pair[1] is None, -(pair[1] or 0)))  # most overdue first
    context = {
        "user": user,
        "live": live,
        "resolved": [i for i in incidents if i.state == "resolved"][:10],
        "scheduled": [s for s in await scheduled_items(request, None) if s.status in {"draft", "scheduled"}],
        "webhook_notices": await webhook_notices(request) if user.operator.admin else [],
        "questions_waiting": await board.waiting() if (board := _questions(request)) else {},
        "notify_totals": await p.totals() if user.operator.admin and (p := _notify(request)) else None,
        "templates": await lib.all() if (lib := getattr(request.app.state, "playbooks", None)) else [],
    }
    return render(request, "console/dashboard.html", context, settings)


# "New incident" (blank or from a template) is in broadcaster/playbooks/opening.py.


@router.get("/incidents/{incident_id}", response_class=HTMLResponse)
async def incident_workspace(incident_id: IncidentId, desk: DeskDep) -> Response:
    return await workspace(desk, incident_id)


async def _act(desk: Desk, incident_id: str, action: Any, done: str) -> Response:
    """Run one workspace action; on a problem show the workspace again with the input."""
    form = await checked_form(desk.request, desk.user)
    try:
        result = await action(form)
    except (FormProblem, RuleViolation, NotFound, IdempotencyMismatch, ValueError) as exc:
        status = 409 if isinstance(exc, RuleViolation) else 404 if isinstance(exc, NotFound) else 422
        values = {k: v for k, v in form.items() if isinstance(v, str)}
        return await workspace(desk, incident_id, error=str(exc), values=values, status=status)
    anchor = (
        # After a post, its message over the form, the new update right under it; after a
        # correction, that update.
        "#done"
        if done == "posted"
        else f"#u-{result}"
        if isinstance(result, str) and done in {"corrected", "retracted"}
        else ""
    )
    return RedirectResponse(f"/console/incidents/{incident_id}?done={done}{anchor}", status_code=303)


@router.post("/incidents/{incident_id}/updates", response_class=HTMLResponse)
async def post_update(incident_id: IncidentId, desk: DeskDep) -> Response:
    async def action(form: FormData) -> str:
        body = text(form, "body", MAX_BODY, required=True, label="update")
        promise = promise_from(form, desk.settings.timezone)
        nonce = str(form.get("nonce") or "") or None
        translations = await translation_of(desk, incident_id, form)
        uploads = [f for f in form.getlist("photos") if isinstance(f, UploadFile) and f.filename]
        attached = await stored_photos(desk.publisher.backend, uploads)
        if form.get("publish_at") or form.get("draft"):
            schedules = desk.request.app.state.schedules
            publish_at = None
            if form.get("publish_at") and not form.get("draft"):
                publish_at = local_to_utc(str(form.get("publish_at")), desk.settings.timezone)
            item, _ = await schedules.create(
                incident_id, body, promise, publish_at, desk.user.actor, nonce,
                photos=attached, translations=translations,
            )  # fmt: skip
            return str(item.id)
        await desk.request.app.state.schedules.check_key_unused(desk.user.actor, nonce)
        chosen = {"1": True, "0": False}.get(str(form.get("notify") or ""))  # "": the API's default
        done = await desk.publisher.post_update(
            incident_id, body, promise, desk.user.actor, nonce, photos=attached, translations=translations,
            **({} if chosen is None else {"notify": chosen}),
        )  # fmt: skip
        return str(done.event.decode()["data"]["id"])

    sent = await desk.request.form()
    done = "drafted" if sent.get("draft") else "scheduled" if sent.get("publish_at") else "posted"
    return await _act(desk, incident_id, action, done)


async def translation_of(desk: Desk, incident_id: str, form: FormData) -> dict[str, str]:
    """The form's ``translation`` (the update in the incident's second language), if written."""
    written_text = text(form, "translation", MAX_BODY, label="second language").strip()
    if not written_text:
        return {}
    incident = await desk.publisher.get(incident_id)
    return {second_language(incident.lang): written_text}


async def stored_photos(backend: Any, uploads: list[UploadFile]) -> list[JSON]:
    """Check and store the photos of a post; any refusal names the file and the rule."""
    if len(uploads) > media.MAX_PHOTOS_PER_UPDATE:
        raise FormProblem(f"photos: at most {media.MAX_PHOTOS_PER_UPDATE} per update ({len(uploads)} chosen)")
    stored = []
    for upload in uploads:
        data = await upload.read(media.MAX_BYTES + 1)
        try:
            stored.append(await store_photo(backend, data))
        except media.PhotoRejected as exc:
            raise FormProblem(f"{upload.filename}: {exc}") from exc
    return stored


@router.post("/incidents/{incident_id}/updates/{update_id}/correct", response_class=HTMLResponse)
async def correct(incident_id: IncidentId, update_id: UpdateId, desk: DeskDep) -> Response:
    async def action(form: FormData) -> str:
        body = text(form, "body", MAX_BODY, required=True, label="corrected text")
        reason = text(form, "reason", MAX_REASON, required=True, label="reason").strip()
        translations = await translation_of(desk, incident_id, form)
        nonce = str(form.get("nonce") or "") or None
        by = desk.user.actor
        await desk.publisher.correct(incident_id, update_id, body, reason, by, nonce, translations)
        return update_id

    return await _act(desk, incident_id, action, "corrected")


@router.post("/incidents/{incident_id}/details", response_class=HTMLResponse)
async def details(incident_id: IncidentId, desk: DeskDep) -> Response:
    """Area (text and drawn), severity, urgency, certainty, category, instruction and the
    expected restoration: one ``incident.edited`` with what changed."""

    async def action(form: FormData) -> None:
        incident = await desk.publisher.get(incident_id)
        fields = {
            "area": text(form, "area", 200).strip(),
            **severity_and_category(form),
            **alert_fields(form, desk.settings.timezone, utc_now(), incident),
        }
        changes = {name: value for name, value in fields.items() if getattr(incident, name) != value}
        await desk.publisher.edit(incident_id, changes, desk.user.actor, str(form.get("nonce") or "") or None)

    return await _act(desk, incident_id, action, "details")


@router.post("/incidents/{incident_id}/updates/{update_id}/retract", response_class=HTMLResponse)
async def retract(incident_id: IncidentId, update_id: UpdateId, desk: DeskDep) -> Response:
    async def action(form: FormData) -> str:
        reason = text(form, "reason", MAX_REASON, required=True, label="reason").strip()
        await desk.publisher.retract(
            incident_id, update_id, reason, desk.user.actor, str(form.get("nonce") or "") or None
        )
        return update_id

    return await _act(desk, incident_id, action, "retracted")


@router.post("/incidents/{incident_id}/updates/{update_id}/pin", response_class=HTMLResponse)
async def pin(incident_id: IncidentId, update_id: UpdateId, desk: DeskDep) -> Response:
    async def action(form: FormData) -> str:
        await desk.publisher.pin(incident_id, update_id, form.get("pinned") != "0", desk.user.actor)
        return update_id

    return await _act(desk, incident_id, action, "pinned")


@router.post("/incidents/{incident_id}/facts", response_class=HTMLResponse)
async def facts(incident_id: IncidentId, desk: DeskDep) -> Response:
    async def action(form: FormData) -> None:
        labels, values = form.getlist("label"), form.getlist("value")
        rows = []
        for label, value in zip(labels, values, strict=False):
            # Checked before strip(), which would quietly drop some controls (U+000B, U+001F).
            label, value = storable(str(label), "label").strip(), storable(str(value), "value").strip()
            if not label and not value:
                continue  # an empty row: left out
            if not label or len(label) > 100 or len(value) > 1000:
                raise FormProblem("each fact needs a label (up to 100 characters) and a value (up to 1,000)")
            rows.append({"label": label, "value": value})
        if len(rows) > 30:
            raise FormProblem("at most 30 key facts")
        await desk.publisher.set_facts(
            incident_id, rows, desk.user.actor, str(form.get("nonce") or "") or None
        )

    return await _act(desk, incident_id, action, "facts")


@router.post("/incidents/{incident_id}/state", response_class=HTMLResponse)
async def state(incident_id: IncidentId, desk: DeskDep) -> Response:
    async def action(form: FormData) -> None:
        reason = text(form, "reason", MAX_REASON).strip() or None
        resolve = form.get("to") == "resolved"
        await desk.publisher.resolve(
            incident_id, resolve, reason, desk.user.actor, str(form.get("nonce") or "") or None
        )

    done = "resolved" if (await desk.request.form()).get("to") == "resolved" else "reopened"
    return await _act(desk, incident_id, action, done)


@router.post("/incidents/{incident_id}/scheduled/{item_id}/cancel", response_class=HTMLResponse)
async def cancel_scheduled(incident_id: IncidentId, item_id: UpdateId, desk: DeskDep) -> Response:
    async def action(form: FormData) -> None:
        await desk.request.app.state.schedules.cancel(item_id, desk.user.actor)

    return await _act(desk, incident_id, action, "cancelled")


@router.post("/incidents/{incident_id}/scheduled/{item_id}/edit", response_class=HTMLResponse)
async def edit_scheduled(incident_id: IncidentId, item_id: UpdateId, desk: DeskDep) -> Response:
    async def action(form: FormData) -> None:
        body = text(form, "body", MAX_BODY, required=True, label="update")
        when = str(form.get("publish_at") or "")
        publish_at = local_to_utc(when, desk.settings.timezone) if when else None
        await desk.request.app.state.schedules.edit(
            item_id, {"body": body, "publish_at": publish_at}, desk.user.actor
        )

    return await _act(desk, incident_id, action, "rescheduled")


@router.post("/incidents/{incident_id}/scheduled/{item_id}/publish", response_class=HTMLResponse)
async def publish_scheduled(incident_id: IncidentId, item_id: UpdateId, desk: DeskDep) -> Response:
    async def action(form: FormData) -> str:
        done, _ = await desk.request.app.state.schedules.publish_now(item_id, desk.user.actor)
        return str(done.event.decode()["data"]["id"])

    return await _act(desk, incident_id, action, "posted")


@router.post("/preview")
async def preview(user: UserDep, body: Annotated[str, Body(embed=True, max_length=MAX_BODY)]) -> JSONResponse:
    """Exactly the HTML citizens will see for a Markdown body (the same renderer)."""
    return JSONResponse({"html": markdown.render(body)})
