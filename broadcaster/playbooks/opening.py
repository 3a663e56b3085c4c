"""Opening an incident in the console, blank or from a template, with its first notice.

``GET /console/incidents/new?template=water-main`` shows the form filled from the template (its
texts in the console's language, or ``&in=en`` / ``&in=zh-CN``); ``POST /console/incidents``
opens the incident, sets the key facts whose rows have a label, and posts the first notice with
its promise (``promise``: minutes) when one is written: one submit. The form's one-time nonce
is the ``Idempotency-Key`` of all three (``NONCE``, ``NONCE:facts``, ``NONCE:first``), so a
double submit, or a submit again after a problem, does each once.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from broadcaster.accounts import ConsoleUser, UserDep, checked_form
from broadcaster.config import Settings
from broadcaster.console import FormProblem, alert_fields, choices, severity_and_category, storable, text
from broadcaster.core.events import format_time, utc_now
from broadcaster.core.timeline import RuleViolation
from broadcaster.core.types import JSON
from broadcaster.incidents import MAX_BODY, MAX_TITLE, IdempotencyMismatch, PublisherDep
from broadcaster.playbooks.api import LibraryDep
from broadcaster.playbooks.library import Library
from broadcaster.playbooks.model import (
    AREA,
    LANGS,
    MAX_MINUTES,
    Template,
    UnknownTemplate,
    blank_facts,
    fill,
)
from broadcaster.web.deps import SettingsDep
from broadcaster.web.rendering import language, render

router = APIRouter(prefix="/console", include_in_schema=False)

PROMISES = (15, 30, 60)
MAX_FACT_ROWS = 30


def promise_choices(template_minutes: int | None) -> list[int]:
    """The "next update in" choices: 15, 30, 60 minutes and the template's own."""
    return sorted({*PROMISES, *([template_minutes] if template_minutes else [])})


def template_values(template: Template, lang: str) -> dict[str, Any]:
    """What the new-incident form shows for ``template`` with its texts in ``lang``."""
    words = template.words(lang)
    return {
        "template": template.id,
        "title": "",
        "lang": "en" if lang == "en" else "zh-CN",
        "instruction": words.instruction,
        "category": template.category,
        "severity": template.severity,
        "urgency": template.urgency,
        "certainty": template.certainty,
        "facts": blank_facts(template, lang),
        "first_notice": words.first_notice,
        "promise": str(template.next_update_minutes or ""),
    }


async def _page(
    request: Request,
    user: ConsoleUser,
    settings: Settings,
    library: Library,
    values: dict[str, Any],
    *,
    error: str | None = None,
    status: int = 200,
    nonce: str | None = None,
) -> HTMLResponse:
    ui = language(request, settings)
    templates = await library.all()
    chosen = next((t for t in templates if t.id == values.get("template")), None)
    texts_in = values.get("lang") or ui
    context = {
        "user": user,
        "values": values,
        "error": error,
        "nonce": nonce or secrets.token_urlsafe(12),
        "templates": templates,
        "chosen": chosen,
        "title_pattern": chosen.words(texts_in).title.replace(AREA, "…") if chosen else None,
        "other_texts": next(lang for lang in LANGS if lang != ("en" if texts_in == "en" else "zh-CN")),
        "promise_choices": promise_choices(chosen.next_update_minutes if chosen else None),
        **choices(),
    }
    return render(request, "console/new_incident.html", context, settings, status=status)


@router.get("/incidents/new", response_class=HTMLResponse)
async def new_incident_page(
    request: Request,
    user: UserDep,
    settings: SettingsDep,
    library: LibraryDep,
    template: str | None = Query(None, max_length=40),
    texts: str | None = Query(None, alias="in", max_length=10),
) -> Response:
    if not template:
        return await _page(request, user, settings, library, {})
    lang = texts if texts in LANGS else language(request, settings)
    try:
        chosen = await library.get(template)
    except UnknownTemplate as exc:
        return await _page(request, user, settings, library, {}, error=str(exc), status=404)
    return await _page(request, user, settings, library, template_values(chosen, lang))


def fact_rows(form: FormData) -> list[JSON]:
    """The key facts of the form: rows with a label (a row without label or value is left out)."""
    rows: list[JSON] = []
    for label, value in zip(form.getlist("label"), form.getlist("value"), strict=False):
        label, value = storable(str(label), "label").strip(), storable(str(value), "value").strip()
        if not label and not value:
            continue
        if not label or len(label) > 100 or len(value) > 1000:
            raise FormProblem("each fact needs a label (up to 100 characters) and a value (up to 1,000)")
        rows.append({"label": label, "value": value})
    if len(rows) > MAX_FACT_ROWS:
        raise FormProblem(f"at most {MAX_FACT_ROWS} key facts")
    return rows


def promise_in(form: FormData, first_notice: str) -> str | None:
    """The next update promised with the first notice: ``promise`` minutes from now."""
    choice = str(form.get("promise") or "").strip()
    if not choice:
        return None
    if not choice.isdigit() or not 1 <= int(choice) <= MAX_MINUTES:
        raise FormProblem(f"next update in: 1 to {MAX_MINUTES} minutes")
    if not first_notice:
        raise FormProblem("next update in: it is promised with the first notice; write one, or choose none")
    return format_time(utc_now() + timedelta(minutes=int(choice)))


async def incident_fields(form: FormData, settings: Settings, library: Library) -> dict[str, Any]:
    """The new incident's fields from the form; with a ``template``, a blank title is the
    template's pattern with the area (the other fields are on the form, filled from it)."""
    chosen = str(form.get("template") or "")
    fields = {
        "title": text(form, "title", MAX_TITLE, required=not chosen, label="title").strip(),
        "summary": text(form, "summary", 2000),
        "area": text(form, "area", 200),
        **severity_and_category(form),
        "lang": "en" if form.get("lang") == "en" else "zh-CN",
        "exercise": form.get("exercise") == "on",
        **alert_fields(form, settings.timezone, utc_now()),
    }
    if not chosen:
        return fields
    try:
        template = await library.get(chosen)
    except UnknownTemplate as exc:
        raise FormProblem(str(exc)) from None
    return fill(template, fields, [name for name in fields if name != "title" or fields["title"]])


@router.post("/incidents", response_class=HTMLResponse)
async def create_incident(
    request: Request, user: UserDep, publisher: PublisherDep, settings: SettingsDep, library: LibraryDep
) -> Response:
    form = await checked_form(request, user)
    nonce = str(form.get("nonce") or "") or None
    try:
        fields = await incident_fields(form, settings, library)
        facts = fact_rows(form)
        first_notice = (
            text(form, "first_notice", MAX_BODY, label="first notice").replace("\r\n", "\n").strip()
        )
        promise = promise_in(form, first_notice)
        done = await publisher.create(fields, user.actor, nonce)
        incident_id = str(done.event.decode()["incident"])
        if facts:
            await publisher.set_facts(incident_id, facts, user.actor, nonce and f"{nonce}:facts")
        if first_notice:
            key = nonce and f"{nonce}:first"
            await request.app.state.schedules.check_key_unused(user.actor, key)
            await publisher.post_update(incident_id, first_notice, promise, user.actor, key)
    except (FormProblem, IdempotencyMismatch, RuleViolation, ValueError) as exc:
        values: dict[str, Any] = {k: v for k, v in form.items() if isinstance(v, str)}
        labels, texts = form.getlist("label"), form.getlist("value")
        values["facts"] = [{"label": str(a), "value": str(b)} for a, b in zip(labels, texts, strict=False)]
        return await _page(request, user, settings, library, values, error=str(exc), status=422, nonce=nonce)
    return RedirectResponse(f"/console/incidents/{incident_id}?done=created", status_code=303)
