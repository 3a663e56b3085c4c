"""Readers' question pages: the form under the timeline (``templates/_ask.html``), and the
asker's own page (``/questions/{code}``, the code unguessable like a report's).

No JavaScript: the form posts ``application/x-www-form-urlencoded`` to
``/incidents/{id}/questions`` and is answered with a 303 to the asker's page, or with the form
again, the problem said and what was typed kept. The honeypot is the report form's
(``broadcaster.reports.pages``): a filled ``website`` field is refused with a bland 400.
"""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from broadcaster.accounts import RateLimited
from broadcaster.core.timeline import Incident, NotFound
from broadcaster.incidents import IdempotencyMismatch, IncidentId, PublisherDep
from broadcaster.questions import rules as qr
from broadcaster.questions.api import BoardDep
from broadcaster.reports import FieldProblem, Refused, address_of, gettext, translate
from broadcaster.web.deps import SettingsDep
from broadcaster.web.rendering import language, render

router = APIRouter(include_in_schema=False)
HONEYPOT = "website"
_ = qr._


def _form_page(
    request: Request, settings: Any, incident: Incident, values: dict[str, str], error: str,
    field: str | None, status: int,
) -> HTMLResponse:  # fmt: skip
    context = {
        "incident": incident,
        "ask_values": values,
        "ask_error": error,
        "ask_field": field,
        "ask_nonce": secrets.token_urlsafe(12),
        "zone": settings.timezone,
    }
    return render(request, "questions/ask.html", context, settings, status=status)


@router.post("/incidents/{incident_id}/questions", response_class=HTMLResponse)
async def ask_from_form(
    request: Request, incident_id: IncidentId, board: BoardDep, publisher: PublisherDep, settings: SettingsDep
) -> Response:
    lang = language(request, settings)
    incident = await publisher.get(incident_id)  # 404 for an unknown incident
    async with request.form(max_files=0, max_fields=10) as form:
        values = {name: str(form.get(name) or "") for name in ("text", "contact")}
        trap = form.get(HONEYPOT)
        nonce = str(form.get("nonce") or "")[:100] or None

    def again(message: str, field: str | None, status: int) -> HTMLResponse:
        return _form_page(request, settings, incident, values, message, field, status)

    if trap:
        bland = _("Your question could not be accepted. Please check it and send it again.")
        return again(gettext(lang, bland), None, 400)
    try:
        question, _created = await board.ask(
            incident_id, values["text"], values["contact"], address_of(request), nonce, settings
        )
    except FieldProblem as exc:
        return again(translate(exc, lang), exc.field, 422)
    except Refused as exc:
        return again(translate(exc, lang), None, 409)
    except RateLimited as exc:
        wait = _("You have asked several questions in a short time. Please try again in %(n)s minutes.")
        page = again(gettext(lang, wait, n=exc.retry_after // 60 + 1), None, 429)
        page.headers["Retry-After"] = str(exc.retry_after)
        return page
    except IdempotencyMismatch:
        return again(gettext(lang, _("Please send the form again.")), None, 422)
    return RedirectResponse(f"/questions/{question.code}?asked=1&lang={lang}", status_code=303)


@router.get("/questions/{code}", response_class=HTMLResponse)
async def question_page(
    request: Request, code: str, board: BoardDep, publisher: PublisherDep, settings: SettingsDep
) -> Response:
    """The asker's page: the question, its state and the answer (public or private). A hidden
    question is not found."""
    question, state, answer = await board.for_asker(code[:40])
    if question.code != code:
        return RedirectResponse(
            f"/questions/{question.code}?{request.url.query}".rstrip("?"), status_code=301
        )
    try:
        incident: Incident | None = await publisher.get(question.incident or "")
    except NotFound:
        incident = None
    context = {
        "question": question,
        "state": str(state),
        "answer": answer,
        "incident": incident,
        "asked": request.query_params.get("asked") == "1",
        "zone": settings.timezone,
    }
    return render(request, "questions/question.html", context, settings)
