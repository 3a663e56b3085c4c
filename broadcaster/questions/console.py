"""The console's questions, in the incident workspace (``templates/console/_questions.html``):
answer in public, answer privately (when the asker left a contact), merge into an existing
public answer, hide.

Plain forms with the session's CSRF token and a one-time nonce (the idempotency key); a refused
action shows the workspace again with the reason in the operator's language and what they typed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from broadcaster.accounts import checked_form
from broadcaster.console import Desk, DeskDep, FormProblem, show_workspace
from broadcaster.core.timeline import NotFound, RuleViolation
from broadcaster.incidents import IdempotencyMismatch, IncidentId
from broadcaster.questions import rules as qr
from broadcaster.questions.api import QuestionId
from broadcaster.questions.board import questions_of
from broadcaster.reports import FieldProblem, translate
from broadcaster.web.rendering import language

router = APIRouter(prefix="/console/incidents/{incident_id}/questions", include_in_schema=False)
Action = Callable[[FormData, str | None], Awaitable[object]]


async def _act(desk: Desk, incident_id: str, code: str, action: Action, done: str) -> Response:
    form = await checked_form(desk.request, desk.user)
    try:
        await action(form, str(form.get("nonce") or "")[:100] or None)
    except (FormProblem, RuleViolation, NotFound, IdempotencyMismatch, FieldProblem, ValueError) as exc:
        status = 409 if isinstance(exc, RuleViolation) else 404 if isinstance(exc, NotFound) else 422
        values = {k: v for k, v in form.items() if isinstance(v, str) and k not in ("csrf", "nonce")}
        message = translate(exc, language(desk.request, desk.settings))
        return await show_workspace(
            desk, incident_id, error=message, values={f"q-{code}": values}, status=status
        )
    return RedirectResponse(f"/console/incidents/{incident_id}?done={done}#questions", status_code=303)


@router.post("/{question_id}/answer", response_class=HTMLResponse)
async def answer(incident_id: IncidentId, question_id: QuestionId, desk: DeskDep) -> Response:
    """``public=1``: on the timeline; ``public=0``: on the asker's page only."""
    board = questions_of(desk.request.app.state)
    public = (await desk.request.form()).get("public") != "0"

    async def action(form: FormData, key: str | None) -> object:
        text = str(form.get("text") or "")
        return await board.answer(incident_id, question_id, text, public, desk.user.actor, key)

    done = "answered-public" if public else "answered-private"
    return await _act(desk, incident_id, question_id, action, done)


@router.post("/{question_id}/merge", response_class=HTMLResponse)
async def merge(incident_id: IncidentId, question_id: QuestionId, desk: DeskDep) -> Response:
    board = questions_of(desk.request.app.state)

    async def action(form: FormData, key: str | None) -> object:
        into = str(form.get("into") or "").strip()
        if not into:
            raise FieldProblem("into", qr._("choose a question answered in public"))
        return await board.merge(incident_id, question_id, into, desk.user.actor, key)

    return await _act(desk, incident_id, question_id, action, "question-merged")


@router.post("/{question_id}/hide", response_class=HTMLResponse)
async def hide(incident_id: IncidentId, question_id: QuestionId, desk: DeskDep) -> Response:
    board = questions_of(desk.request.app.state)

    async def action(form: FormData, key: str | None) -> object:
        reason = str(form.get("reason") or "")[:1000] or None
        return await board.hide(incident_id, question_id, reason, desk.user.actor, key)

    return await _act(desk, incident_id, question_id, action, "question-hidden")
