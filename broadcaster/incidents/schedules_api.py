"""Scheduled updates and drafts over HTTP (operators only).

| method and path | answer |
|---|---|
| ``POST /api/incidents/{id}/updates`` with ``publish_at`` | 202 ``{"scheduled": item}`` |
| ``POST /api/incidents/{id}/drafts`` | 201 ``{"scheduled": item}`` (a draft: no ``publish_at``) |
| ``GET /api/incidents/{id}/scheduled`` | ``{"scheduled": [...]}``: drafts and scheduled first |
| ``GET /api/scheduled`` | the same for every incident |
| ``GET /api/scheduled/{sid}`` | ``{"scheduled": item}`` |
| ``PATCH /api/scheduled/{sid}`` | ``body``, ``next_update_at``, ``translations``, ``publish_at`` |
|  | (``publish_at`` null: back to a draft) |
| ``DELETE /api/scheduled/{sid}`` | cancels it: ``{"scheduled": item}`` |
| ``POST /api/scheduled/{sid}/publish`` | publishes it now: 201 ``{"update", "seq", "scheduled"}`` |

Scheduled items and drafts carry ``photos`` (ids from ``/api/photos``, kept as they were
when the item was made) and ``translations`` like a post, and publish them with it.

404 unknown, 409 no longer editable (published, cancelled, failed) or the incident
is resolved, 422 bad fields or a past ``publish_at``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path
from fastapi.responses import JSONResponse
from pydantic import Field, field_validator
from starlette.requests import HTTPConnection

from broadcaster.accounts import Actor, ActorDep
from broadcaster.core import timeline as tl
from broadcaster.core.types import JSON
from broadcaster.incidents.deps import PublisherDep
from broadcaster.incidents.scheduling import Scheduler, Schedules
from broadcaster.incidents.schemas import (
    MAX_BODY,
    PhotoIds,
    Translations,
    UpdateIn,
    check_translations,
)
from broadcaster.media import photo_entries
from broadcaster.web.deps import IdempotencyKey, bad_fields
from broadcaster.web.models import Strict

router = APIRouter(tags=["scheduled"])

IncidentId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="incident id")]
ScheduleId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="scheduled item id")]
REPLAYED = {"Idempotent-Replayed": "true"}


async def _schedules(request: HTTPConnection) -> Schedules:
    scheduler: Scheduler = request.app.state.scheduler
    return scheduler.schedules


SchedulesDep = Annotated[Schedules, Depends(_schedules)]


def _not_blank(value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise ValueError("must not be blank")
    return value


class DraftIn(Strict):
    body: str = Field(min_length=1, max_length=MAX_BODY, description="Markdown")
    next_update_at: str | None = Field(None, description="RFC 3339 time of the next promised update")
    photos: PhotoIds = Field(
        default_factory=list, max_length=6, description="ids of photos uploaded to /api/photos"
    )
    translations: Translations = Field(default_factory=dict)

    _body = field_validator("body")(_not_blank)
    _translations = field_validator("translations")(check_translations)


class ScheduledEdit(Strict):
    body: str | None = Field(None, min_length=1, max_length=MAX_BODY, description="Markdown")
    next_update_at: str | None = Field(None, description="RFC 3339; null: no promise")
    publish_at: str | None = Field(None, description="RFC 3339, in the future; null: back to a draft")
    translations: Translations | None = Field(None, description="replaces them all; {} or null: none")

    _body = field_validator("body")(_not_blank)
    _translations = field_validator("translations")(check_translations)


async def post_scheduled(
    schedules: Schedules, incident_id: str, body: UpdateIn, photos: list[JSON], actor: Actor, key: str | None
) -> JSONResponse:
    """``POST /api/incidents/{id}/updates`` with ``publish_at``: 202 ``{"scheduled": item}``,
    photos and translations kept with it. A repeated Idempotency-Key answers the first
    item and creates nothing."""
    with bad_fields():
        item, created = await schedules.create(
            incident_id, body.body, body.next_update_at, body.publish_at, actor, key,
            photos=photos, translations=body.translations,
        )  # fmt: skip
    return JSONResponse({"scheduled": item.to_json()}, 202, None if created else REPLAYED)


@router.post("/api/incidents/{incident_id}/drafts", status_code=201, summary="Save a draft update")
async def create_draft(
    incident_id: IncidentId, body: DraftIn, schedules: SchedulesDep, actor: ActorDep, key: IdempotencyKey
) -> JSONResponse:
    try:
        attached = await photo_entries(schedules.backend, body.photos)
    except ValueError as exc:
        raise HTTPException(422, f"photos: {exc}") from exc
    with bad_fields():
        item, created = await schedules.create(
            incident_id, body.body, body.next_update_at, None, actor, key,
            photos=attached, translations=body.translations,
        )  # fmt: skip
    return JSONResponse({"scheduled": item.to_json()}, 201, None if created else REPLAYED)


@router.get("/api/incidents/{incident_id}/scheduled", summary="An incident's drafts and scheduled updates")
async def list_for_incident(
    incident_id: IncidentId, schedules: SchedulesDep, publisher: PublisherDep, actor: ActorDep
) -> dict[str, Any]:
    await publisher.get(incident_id)  # 404 for an unknown incident
    return {"scheduled": [item.to_json() for item in await schedules.list(incident_id)]}


@router.get("/api/scheduled", summary="Drafts and scheduled updates of every incident")
async def list_all(schedules: SchedulesDep, actor: ActorDep) -> dict[str, Any]:
    return {"scheduled": [item.to_json() for item in await schedules.list()]}


@router.get("/api/scheduled/{sid}", summary="One draft or scheduled update")
async def get_scheduled(sid: ScheduleId, schedules: SchedulesDep, actor: ActorDep) -> dict[str, Any]:
    return {"scheduled": (await schedules.get(sid)).to_json()}


@router.patch("/api/scheduled/{sid}", summary="Edit a draft or scheduled update (publish_at null: a draft)")
async def edit_scheduled(
    sid: ScheduleId, body: ScheduledEdit, schedules: SchedulesDep, actor: ActorDep
) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True)
    if "body" in changes and changes["body"] is None:
        raise HTTPException(422, "body cannot be null; leave it out to keep it")
    with bad_fields():
        item = await schedules.edit(sid, changes, actor)
    return {"scheduled": item.to_json()}


@router.delete("/api/scheduled/{sid}", summary="Cancel a draft or scheduled update")
async def cancel_scheduled(sid: ScheduleId, schedules: SchedulesDep, actor: ActorDep) -> dict[str, Any]:
    return {"scheduled": (await schedules.cancel(sid, actor)).to_json()}


@router.post("/api/scheduled/{sid}/publish", status_code=201, summary="Publish it now")
async def publish_now(sid: ScheduleId, schedules: SchedulesDep, actor: ActorDep) -> dict[str, Any]:
    with bad_fields():
        done, item = await schedules.publish_now(sid, actor)
    data = done.event.decode()["data"]
    update = tl.Update(**{k: data.get(k) for k in ("id", "body", "html", "published_at")},
                       next_update_at=data.get("next_update_at"))  # fmt: skip
    return {"update": update.to_json(), "seq": done.event.seq, "scheduled": item.to_json()}
