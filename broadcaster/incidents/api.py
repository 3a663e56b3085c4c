"""The JSON API of CONTRACT.md: incidents, updates, corrections, facts, events."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any, Literal, Protocol

from fastapi import APIRouter, Body, HTTPException, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from broadcaster.accounts import ActorDep
from broadcaster.core import timeline as tl
from broadcaster.core.events import dumps
from broadcaster.core.types import JSON
from broadcaster.incidents.deps import PublisherDep
from broadcaster.incidents.schemas import (
    CorrectionIn,
    FactsIn,
    IncidentEdit,
    IncidentIn,
    OptionalReasonIn,
    ReasonIn,
    UpdateIn,
)
from broadcaster.media import photo_entries
from broadcaster.stores.base import Appended
from broadcaster.web.deps import IdempotencyKey
from broadcaster.web.models import MAX_SEQ

router = APIRouter(prefix="/api/incidents", tags=["incidents"])

IncidentId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="incident id")]
UpdateId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="update id")]
REPLAYED = {"Idempotent-Replayed": "true"}


def _event_response(done: Appended, status: int = 200) -> Response:
    """The stored event itself, byte for byte as live readers get it."""
    headers = None if done.created else REPLAYED
    return Response(done.event.text, status, headers, media_type="application/json")


def _json(value: Any, status: int, done: Appended) -> JSONResponse:
    return JSONResponse(value, status, None if done.created else REPLAYED)


class Templates(Protocol):
    """Incident templates (``broadcaster.playbooks``, which uses incidents: on app.state)."""

    async def fill(
        self, template_id: str, fields: dict[str, Any], given: Iterable[str]
    ) -> tuple[dict[str, Any], list[JSON]]:
        """The fields filled and the key facts; raises LookupError for an unknown template."""
        ...


@router.post("", status_code=201, summary="Open an incident (from a template: see `template`)")
async def create_incident(
    body: IncidentIn, publisher: PublisherDep, operator: ActorDep, key: IdempotencyKey, request: Request
) -> JSONResponse:
    """With ``template``, the template fills the fields the request leaves out and the key
    facts get its labels (empty values, a second event: see the snapshot)."""
    fields, facts = body.model_dump(mode="json", exclude={"template"}), list[JSON]()
    if body.template is not None:
        templates: Templates = request.app.state.playbooks
        try:
            fields, facts = await templates.fill(body.template, fields, body.model_fields_set)
        except LookupError as exc:
            raise HTTPException(422, str(exc)) from None
    done = await publisher.create(fields, operator, key)
    incident = tl.apply(None, done.event.decode())
    if facts:  # with a key, a retry replays this too
        await publisher.set_facts(incident.id, facts, operator, None if key is None else f"{key}:facts")
    return _json(incident.to_json(), 201, done)


@router.get("", summary="List incidents, newest first")
async def list_incidents(
    publisher: PublisherDep, state: Literal["live", "resolved"] | None = None
) -> dict[str, Any]:
    return {"incidents": [inc.to_json() for inc in await publisher.list_incidents(state)]}


@router.get("/{incident_id}", summary="An incident's snapshot: the fold of its log")
async def get_incident(incident_id: IncidentId, publisher: PublisherDep) -> Response:
    incident = await publisher.get(incident_id)
    return Response(dumps(incident.snapshot()), media_type="application/json")


@router.patch("/{incident_id}", summary="Edit the incident's own fields (incident.edited)")
async def edit_incident(
    incident_id: IncidentId, body: IncidentEdit, publisher: PublisherDep, operator: ActorDep,
    key: IdempotencyKey,
) -> Response:  # fmt: skip
    changes = body.model_dump(mode="json", exclude_unset=True)
    if any(value is None for name, value in changes.items() if name not in tl.CLEARABLE_FIELDS):
        cleared = ", ".join(tl.CLEARABLE_FIELDS)
        raise HTTPException(422, f"only {cleared} can be set to null; leave the other fields out instead")
    return _event_response(await publisher.edit(incident_id, changes, operator, key))


@router.post("/{incident_id}/updates", status_code=201, summary="Post an update")
async def post_update(
    incident_id: IncidentId, body: UpdateIn, publisher: PublisherDep, operator: ActorDep,
    key: IdempotencyKey, request: Request,
) -> JSONResponse:  # fmt: skip
    try:
        attached = await photo_entries(publisher.backend, body.photos)
    except ValueError as exc:
        raise HTTPException(422, f"photos: {exc}") from exc
    if body.publish_at is not None:  # scheduled: 202 {"scheduled": item} (see web/schedules.py)
        from broadcaster.incidents.schedules_api import post_scheduled

        return await post_scheduled(request.app.state.schedules, incident_id, body, attached, operator, key)
    await request.app.state.schedules.check_key_unused(operator, key)
    try:
        done = await publisher.post_update(
            incident_id, body.body, body.next_update_at, operator, key, photos=attached,
            translations=body.translations, notify=body.notify,
        )  # fmt: skip
    except ValueError as exc:  # the message names the field
        raise HTTPException(422, str(exc)) from exc
    return _json({"update": posted_update(done), "seq": done.event.seq}, 201, done)


def posted_update(done: Appended) -> dict[str, Any]:
    """The update as its ``update.posted`` event carries it (the same for a replay)."""
    data = done.event.decode()["data"]
    fields = ("id", "body", "html", "published_at", "next_update_at")
    extra = {"photos": data.get("photos", []), "translations": data.get("translations", {})}
    return tl.Update(**{k: data.get(k) for k in fields}, **extra).to_json()


@router.patch("/{incident_id}/updates/{update_id}", summary="Correct an update in the open")
async def correct_update(
    incident_id: IncidentId, update_id: UpdateId, body: CorrectionIn, publisher: PublisherDep,
    operator: ActorDep, key: IdempotencyKey,
) -> Response:  # fmt: skip
    try:
        done = await publisher.correct(
            incident_id, update_id, body.body, body.reason, operator, key, body.translations
        )
    except ValueError as exc:  # a translation in the incident's own language
        raise HTTPException(422, str(exc)) from exc
    return _event_response(done)


@router.delete("/{incident_id}/updates/{update_id}", summary="Retract an update (it stays, withdrawn)")
async def retract_update(
    incident_id: IncidentId, update_id: UpdateId, publisher: PublisherDep, operator: ActorDep,
    key: IdempotencyKey, body: Annotated[ReasonIn, Body()],
) -> Response:  # fmt: skip
    return _event_response(await publisher.retract(incident_id, update_id, body.reason, operator, key))


@router.post("/{incident_id}/updates/{update_id}/pin", summary="Pin an update on top")
async def pin_update(
    incident_id: IncidentId, update_id: UpdateId, publisher: PublisherDep, operator: ActorDep
) -> Response:
    return _event_response(await publisher.pin(incident_id, update_id, True, operator))


@router.post("/{incident_id}/updates/{update_id}/unpin", summary="Unpin an update")
async def unpin_update(
    incident_id: IncidentId, update_id: UpdateId, publisher: PublisherDep, operator: ActorDep
) -> Response:
    return _event_response(await publisher.pin(incident_id, update_id, False, operator))


@router.put("/{incident_id}/facts", summary="Replace the key facts rows")
async def put_facts(
    incident_id: IncidentId, body: FactsIn, publisher: PublisherDep, operator: ActorDep,
    key: IdempotencyKey,
) -> Response:  # fmt: skip
    facts = [fact.model_dump() for fact in body.facts]
    return _event_response(await publisher.set_facts(incident_id, facts, operator, key))


@router.post("/{incident_id}/resolve", summary="Resolve the incident")
async def resolve(
    incident_id: IncidentId, publisher: PublisherDep, operator: ActorDep, key: IdempotencyKey,
    body: Annotated[OptionalReasonIn | None, Body()] = None,
) -> Response:  # fmt: skip
    reason = body.reason if body else None
    return _event_response(await publisher.resolve(incident_id, True, reason, operator, key))


@router.post("/{incident_id}/reopen", summary="Reopen a resolved incident")
async def reopen(
    incident_id: IncidentId, publisher: PublisherDep, operator: ActorDep, key: IdempotencyKey,
    body: Annotated[OptionalReasonIn | None, Body()] = None,
) -> Response:  # fmt: skip
    reason = body.reason if body else None
    return _event_response(await publisher.resolve(incident_id, False, reason, operator, key))


@router.get("/{incident_id}/events", summary="Events after seq N, ascending")
async def events(
    incident_id: IncidentId,
    publisher: PublisherDep,
    since: Annotated[int, Query(ge=0, le=MAX_SEQ)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
) -> Response:
    """``seq`` is the last seq in this answer (poll again with ``since=seq``); ``head``
    the log's last seq. ``reset`` is true when ``since`` lies beyond the log."""
    found, head = await publisher.events(incident_id, since, limit)
    last = found[-1].seq if found else min(since, head)
    text = (
        '{"events":[' + ",".join(e.text for e in found) + f'],"seq":{last},"head":{head},'
        f'"reset":{"true" if since > head else "false"}}}'
    )
    return Response(text, media_type="application/json")
