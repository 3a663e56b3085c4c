"""The JSON API of readers' questions: asking (public, no account) and the operators' list,
answers, merges and hiding (token).

``POST /api/incidents/{id}/questions`` needs no account; each address may ask
``INCIDENTS_REPORT_LIMIT`` questions per ``INCIDENTS_REPORT_WINDOW`` seconds (counted apart from
reports; 429 with ``Retry-After`` beyond). A repeated ``Idempotency-Key`` from the same address
answers the first question and files nothing.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse
from pydantic import Field
from starlette.requests import HTTPConnection

from broadcaster.accounts import ActorDep
from broadcaster.core.events import parse_time, utc_now
from broadcaster.incidents import IncidentId
from broadcaster.questions import rules as qr
from broadcaster.questions.board import Entry, Questions, questions_of
from broadcaster.reports import MAX_CONTACT, MAX_NOTE, address_of
from broadcaster.web.deps import IdempotencyKey, SettingsDep, public_url
from broadcaster.web.models import Strict

router = APIRouter(prefix="/api/incidents/{incident_id}/questions", tags=["questions"])
REPLAYED = {"Idempotent-Replayed": "true"}
QuestionId = Annotated[str, Path(min_length=1, max_length=40, description="the question's code")]


async def _board(request: HTTPConnection) -> Questions:
    return questions_of(request.app.state)


BoardDep = Annotated[Questions, Depends(_board)]


class QuestionIn(Strict):
    text: str = Field(max_length=qr.MAX_TEXT, description=f"the question, up to {qr.MAX_TEXT:,} characters")
    contact: str = Field(
        "", max_length=MAX_CONTACT, description="optional phone or e-mail, for a private answer; never public"
    )


class AnswerIn(Strict):
    text: str = Field(min_length=1, max_length=qr.MAX_ANSWER, description="the answer (Markdown)")
    public: bool = Field(description="true: on the timeline for everyone; false: on the asker's page only")


class MergeIn(Strict):
    into: str = Field(min_length=1, max_length=40, description="a question answered in public")


class ReasonIn(Strict):
    reason: str | None = Field(None, max_length=MAX_NOTE, description="for operators only")


def status_url(request: Request, code: str) -> str:
    return f"{public_url(request)}/questions/{code}"


@router.post(
    "",
    status_code=201,
    summary="Ask a question about the incident (no account)",
    responses={
        201: {"description": '`{"id": "ZZ-7K4M-Q2PD", "status_url": ...}`'},
        404: {"description": "no such incident"},
        409: {"description": "the incident is resolved: questions are closed"},
        422: {"description": f"the text is empty or over {qr.MAX_TEXT:,} characters, or a field is bad"},
        429: {"description": "too many questions from this address lately (see Retry-After)"},
    },
)
async def ask(
    incident_id: IncidentId, body: QuestionIn, request: Request, board: BoardDep, settings: SettingsDep,
    key: IdempotencyKey,
) -> JSONResponse:  # fmt: skip
    """Answers 201 ``{"id", "status_url"}``: the asker's page, where the answer appears (the
    question is public only once answered in public)."""
    question, created = await board.ask(
        incident_id, body.text, body.contact, address_of(request), key, settings
    )
    url = status_url(request, question.code)
    headers = {"Location": url, **({} if created else REPLAYED)}
    return JSONResponse({"id": question.code, "status_url": url}, 201, headers)


@router.get("", summary="Operators: the incident's questions, newest first")
async def list_questions(incident_id: IncidentId, board: BoardDep, actor: ActorDep) -> dict[str, Any]:
    """Each with its ``status`` (``waiting``, ``answered_public``, ``answered_private``,
    ``merged``, ``hidden``), ``asked_at``, ``age_seconds`` and ``contact`` (whether one was left)."""
    entries = await board.entries(incident_id)
    waiting = qr.waiting(e.question for e in entries)
    return {
        "questions": [_listed(entry) for entry in entries],
        "waiting": waiting.count,
        "oldest_waiting_at": waiting.oldest,
    }


def _listed(entry: Entry) -> dict[str, Any]:
    age = (utc_now() - parse_time(entry.question.received_at)).total_seconds()
    return {**entry.to_json(), "age_seconds": max(0, round(age))}


async def _answered(board: Questions, incident_id: str, code: str) -> dict[str, Any]:
    question = await board.get(incident_id, code)
    entry = next(e for e in await board.entries(incident_id) if e.question.code == question.code)
    return {"question": _listed(entry)}


@router.post("/{question_id}/answer", summary="Operators: answer in public (on the timeline) or privately")
async def answer(
    incident_id: IncidentId, question_id: QuestionId, body: AnswerIn, board: BoardDep, actor: ActorDep,
    key: IdempotencyKey,
) -> dict[str, Any]:  # fmt: skip
    """A public answer is a ``question.answered`` event in the incident's log (the question as
    asked, no contact; correct or withdraw it as an update); a private one needs the contact the
    asker left (409 without) and shows only on the asker's page."""
    question = await board.answer(incident_id, question_id, body.text, body.public, actor, key)
    return await _answered(board, incident_id, question.code)


@router.post(
    "/{question_id}/merge", summary="Operators: merge a duplicate into a question answered in public"
)
async def merge(
    incident_id: IncidentId, question_id: QuestionId, body: MergeIn, board: BoardDep, actor: ActorDep,
    key: IdempotencyKey,
) -> dict[str, Any]:  # fmt: skip
    question = await board.merge(incident_id, question_id, body.into, actor, key)
    return await _answered(board, incident_id, question.code)


@router.post("/{question_id}/hide", summary="Operators: hide a question (its page then answers 404)")
async def hide(
    incident_id: IncidentId, question_id: QuestionId, board: BoardDep, actor: ActorDep, key: IdempotencyKey,
    body: ReasonIn | None = None,
) -> dict[str, Any]:  # fmt: skip
    question = await board.hide(incident_id, question_id, body.reason if body else None, actor, key)
    return await _answered(board, incident_id, question.code)
