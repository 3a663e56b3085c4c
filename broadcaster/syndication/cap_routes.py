"""CAP 1.2 for alert aggregators: an incident's messages and Atom indexes of them
(views in :mod:`broadcaster.syndication.cap` and :mod:`broadcaster.syndication.cap_index`).

One XML document holds one ``<alert>``: ``/incidents/{id}/cap.xml`` is the incident's
current (latest) message, ``/incidents/{id}/cap/{seq}.xml`` each message of its history
(it never changes), ``/incidents/{id}/cap.atom`` lists them all and ``/cap.atom`` the
current message of every live and recently resolved incident.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import Response

from broadcaster import __version__
from broadcaster.config import Settings
from broadcaster.core.timeline import RESOLVED
from broadcaster.core.types import JSON
from broadcaster.incidents import RECENTLY_RESOLVED, IncidentId, Publisher, PublisherDep, incident_log
from broadcaster.syndication import cap, cap_index
from broadcaster.syndication.feed_routes import ATOM_TYPE, FEED_HEADERS, not_modified
from broadcaster.syndication.feeds import feed_title
from broadcaster.web.deps import SettingsDep, public_url

router = APIRouter(tags=["feeds"])

CAP_TYPE = "application/cap+xml; charset=utf-8"
# A message of the history never changes (it is the log up to its seq): cache it long.
MESSAGE_HEADERS = {"Cache-Control": "public, max-age=3600"}
Seq = Annotated[int, Path(ge=1, le=2**63 - 1, description="the seq of the message's event")]
CAP_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"content": {"application/cap+xml": {}}},
    304: {},
    404: {},
}
ATOM_RESPONSES: dict[int | str, dict[str, object]] = {200: {"content": {"application/atom+xml": {}}}, 304: {}}


class Documents:
    """Rendered documents by ETag, the latest few: when aggregators poll together, each
    change is rendered once per process (an ETag names everything the bytes depend on)."""

    def __init__(self, size: int = 128) -> None:
        self.size = size
        self._documents: OrderedDict[str, bytes] = OrderedDict()

    def get(self, tag: str) -> bytes | None:
        found = self._documents.get(tag)
        if found is not None:
            self._documents.move_to_end(tag)
        return found

    def put(self, tag: str, document: bytes) -> None:
        self._documents[tag] = document
        if len(self._documents) > self.size:
            self._documents.popitem(last=False)


def _documents(request: Request) -> Documents:
    documents: Documents | None = getattr(request.app.state, "cap_documents", None)
    if documents is None:
        documents = request.app.state.cap_documents = Documents()
    return documents


def source(request: Request, settings: Settings) -> cap.Source:
    """Who sends (INCIDENTS_CAP_SENDER, else the host of INCIDENTS_PUBLIC_URL) and from where."""
    base = public_url(request)
    return cap.Source(
        settings.cap_sender or urlsplit(base).netloc, settings.organisation, base, settings.timezone
    )


def etag(kind: str, key: str, src: cap.Source) -> str:
    """Strong ETag: ``key`` names the state; the digest covers what else the bytes depend on."""
    seed = f"{src.base_url}\n{src.sender}\n{src.organisation}\n{src.zone}\n{__version__}"
    return f'"{kind}-{key}-{hashlib.sha256(seed.encode()).hexdigest()[:10]}"'


async def _events(publisher: Publisher, incident_id: str, upto: int) -> list[JSON]:
    """The incident's log up to seq ``upto`` (the state an ETag was made of: folded
    states change in place as the log grows)."""
    found = await publisher.backend.read(incident_log(incident_id))
    return [event.decode() for event in found if event.seq <= upto]


async def _answer(
    request: Request,
    tag: str,
    media_type: str,
    headers: dict[str, str],
    render: Callable[[], Awaitable[bytes]],
) -> Response:
    """304 when the reader holds ``tag``, else the document: from the cache or ``render()``.

    An uncached document is rendered first, since ``render()`` is what finds that there is
    none (HTTPException 404), and ``If-None-Match: *`` must not answer 304 for nothing.
    """
    headers = {**headers, "ETag": tag}
    documents = _documents(request)
    document = documents.get(tag)
    if document is None and not holds(request, tag):
        document = await render()
        documents.put(tag, document)
    if not_modified(request, tag):
        return Response(status_code=304, headers=headers)
    assert document is not None  # holding the tag is a match: answered 304 above
    return Response(document, headers=headers, media_type=media_type)


def holds(request: Request, tag: str) -> bool:
    """Whether ``If-None-Match`` names ``tag`` itself (not ``*``): it was given for a document."""
    header = request.headers.get("if-none-match", "")
    return tag in {part.strip().removeprefix("W/") for part in header.split(",")}


@router.get(
    "/incidents/{incident_id}/cap.xml",
    summary="The incident's current CAP 1.2 message",
    response_class=Response,
    responses=CAP_RESPONSES,
)
async def current_message(
    request: Request, incident_id: IncidentId, publisher: PublisherDep, settings: SettingsDep
) -> Response:
    """The latest message (404 before the first update: nothing was broadcast yet)."""
    incident = await publisher.get(incident_id)
    src, seq = source(request, settings), incident.seq

    async def render() -> bytes:
        document = cap.current(await _events(publisher, incident_id, seq), src)
        if document is None:
            raise HTTPException(
                404, f"incident {incident_id} has no CAP message yet: its first update is the first"
            )
        return document

    tag = etag("cap", f"{incident_id}-{seq}", src)
    return await _answer(request, tag, CAP_TYPE, FEED_HEADERS, render)


@router.get(
    "/incidents/{incident_id}/cap/{seq}.xml",
    summary="One CAP 1.2 message of the incident's history (it never changes)",
    response_class=Response,
    responses=CAP_RESPONSES,
)
async def message(
    request: Request, incident_id: IncidentId, seq: Seq, publisher: PublisherDep, settings: SettingsDep
) -> Response:
    """404 when that event is not a message (see the incident's cap.atom for the list)."""
    src = source(request, settings)

    async def render() -> bytes:
        incident = await publisher.get(incident_id)
        try:
            return cap.alert(await _events(publisher, incident_id, incident.seq), seq, src)
        except LookupError:
            raise HTTPException(
                404, f"incident {incident_id} has no CAP message {seq}; see its cap.atom"
            ) from None

    # A reader holding the tag got it for a message, and a message stays as it is: 304 reads nothing.
    return await _answer(
        request, etag("cap-message", f"{incident_id}-{seq}", src), CAP_TYPE, MESSAGE_HEADERS, render
    )


@router.get(
    "/incidents/{incident_id}/cap.atom",
    summary="Atom index of every CAP message of the incident",
    response_class=Response,
    responses={**ATOM_RESPONSES, 404: {}},
)
async def incident_index(
    request: Request, incident_id: IncidentId, publisher: PublisherDep, settings: SettingsDep
) -> Response:
    incident = await publisher.get(incident_id)
    src, seq, title = source(request, settings), incident.seq, f"{feed_title(incident)} · CAP"

    async def render() -> bytes:
        found = cap_index.entries(await _events(publisher, incident_id, seq), src)
        feed_url = f"{src.base_url}/incidents/{incident_id}/cap.atom"
        updated = cap.sent_time(incident.opened_at, src.zone)
        return cap_index.atom_index(found, title, feed_url, updated, src)

    tag = etag("cap-atom", f"{incident_id}-{seq}", src)
    return await _answer(request, tag, ATOM_TYPE, FEED_HEADERS, render)


@router.get(
    "/cap.atom",
    summary="Atom index of the current CAP message of every live and recently resolved incident",
    response_class=Response,
    responses=ATOM_RESPONSES,
)
async def index(request: Request, publisher: PublisherDep, settings: SettingsDep) -> Response:
    incidents = await publisher.list_incidents()
    resolved = sorted((i for i in incidents if i.state == RESOLVED), key=lambda i: i.resolved_at or "")
    chosen = [i for i in incidents if i.state != RESOLVED] + resolved[::-1][:RECENTLY_RESOLVED]
    src = source(request, settings)
    seqs = {incident.id: incident.seq for incident in chosen}

    async def render() -> bytes:
        found = []
        for incident_id, seq in seqs.items():
            entries = cap_index.entries(await _events(publisher, incident_id, seq), src)
            found.extend(entries[-1:])  # the current message; none before the first update
        latest = max((i.updated_at for i in chosen), default="1970-01-01T00:00:00Z")
        title = f"{settings.organisation} · CAP"
        return cap_index.atom_index(
            found, title, f"{src.base_url}/cap.atom", cap.sent_time(latest, src.zone), src
        )

    state = ",".join(f"{incident_id}:{seq}" for incident_id, seq in seqs.items())
    tag = etag("cap-index", hashlib.sha256(state.encode()).hexdigest()[:16], src)
    return await _answer(request, tag, ATOM_TYPE, FEED_HEADERS, render)
