"""Feeds and embeds for media: Atom, JSON Feed, oEmbed (views in :mod:`broadcaster.syndication.feeds`)."""

from __future__ import annotations

import hashlib
import re
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response

from broadcaster import __version__
from broadcaster.core.events import dumps
from broadcaster.core.timeline import Incident
from broadcaster.incidents import IncidentId, PublisherDep
from broadcaster.syndication import feeds as syndication
from broadcaster.web.deps import SettingsDep, public_url

router = APIRouter(tags=["feeds"])

ATOM_TYPE = "application/atom+xml; charset=utf-8"
JSON_FEED_TYPE = "application/feed+json"
# Short enough that a newsroom's poller sees a new update within seconds, long enough
# that a burst of readers behind one cache costs one fold. Public data: any origin may read.
# Readable from any origin: web/security.py adds Access-Control-Allow-Origin to public reads.
FEED_HEADERS = {"Cache-Control": "public, max-age=15"}
OEMBED_HEADERS = {"Cache-Control": "public, max-age=300"}
TIMELINE_PATH = re.compile(r"/incidents/(?P<id>[A-Za-z0-9_-]{1,64})(?:/embed)?/?")
DEFAULT_PORTS = {"http": 80, "https": 443}
MaxSize = Annotated[int | None, Query(ge=1, le=10_000, description="pixels")]


def etag(kind: str, incident: Incident, base: str, organisation: str) -> str:
    """Strong ETag of a feed. The seq names the state; the digest covers what else the
    bytes depend on (the public URL, organisation, this version's format)."""
    digest = hashlib.sha256(f"{base}\n{organisation}\n{__version__}".encode()).hexdigest()[:10]
    return f'"{kind}-{incident.seq}-{digest}"'


def not_modified(request: Request, tag: str) -> bool:
    """``If-None-Match`` uses the weak comparison (RFC 9110 13.1.2): ``W/`` is ignored."""
    header = request.headers.get("if-none-match")
    if header is None:
        return False
    candidates = {part.strip().removeprefix("W/") for part in header.split(",")}
    return "*" in candidates or tag in candidates


async def _feed(
    kind: str, request: Request, incident_id: str, publisher: PublisherDep, settings: SettingsDep
) -> Response:
    incident = await publisher.get(incident_id)
    base = public_url(request)
    tag = etag(kind, incident, base, settings.organisation)
    headers = {**FEED_HEADERS, "ETag": tag}
    if not_modified(request, tag):
        return Response(status_code=304, headers=headers)
    if kind == "atom":
        body = syndication.atom_feed(incident, base, settings.organisation)
        return Response(body, headers=headers, media_type=ATOM_TYPE)
    text = dumps(syndication.json_feed(incident, base, settings.organisation))
    return Response(text.encode(), headers=headers, media_type=JSON_FEED_TYPE)


@router.get(
    "/incidents/{incident_id}/feed.atom",
    summary="Atom 1.0 feed of an incident's updates",
    response_class=Response,
    responses={200: {"content": {"application/atom+xml": {}}}, 304: {}, 404: {}},
)
async def atom(
    request: Request, incident_id: IncidentId, publisher: PublisherDep, settings: SettingsDep
) -> Response:
    return await _feed("atom", request, incident_id, publisher, settings)


@router.get(
    "/incidents/{incident_id}/feed.json",
    summary="JSON Feed 1.1 of an incident's updates",
    response_class=Response,
    responses={200: {"content": {JSON_FEED_TYPE: {}}}, 304: {}, 404: {}},
)
async def json_feed(
    request: Request, incident_id: IncidentId, publisher: PublisherDep, settings: SettingsDep
) -> Response:
    return await _feed("json", request, incident_id, publisher, settings)


def timeline_id(url: str, public: str) -> str | None:
    """The incident id of a timeline URL (page or embed) under the public URL ``public``, else None.

    Either scheme is accepted (TLS often ends at a proxy, so a reader may still hold an http URL);
    host, port and path prefix must be the public URL's (never the request's Host, which anyone
    can forge), and nothing may hide in userinfo.
    """
    ours = urlsplit(public)  # checked by the settings: its port is a number
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:  # e.g. a port that is not a number
        return None
    if parts.scheme not in DEFAULT_PORTS or parts.username is not None or not parts.hostname:
        return None
    if parts.hostname.lower() != (ours.hostname or "").lower():
        return None
    their_port = None if port in (None, DEFAULT_PORTS[parts.scheme]) else port
    our_port = None if ours.port in (None, DEFAULT_PORTS.get(ours.scheme)) else ours.port
    if their_port != our_port:
        return None
    root = ours.path.rstrip("/")
    if not parts.path.startswith(root):
        return None
    match = TIMELINE_PATH.fullmatch(parts.path[len(root) :])
    return match["id"] if match else None


@router.get("/oembed", summary="oEmbed 1.0 (type rich) for a timeline URL")
async def oembed(
    request: Request,
    publisher: PublisherDep,
    settings: SettingsDep,
    url: Annotated[str, Query(max_length=2000, description="a timeline URL of this server")],
    maxwidth: MaxSize = None,
    maxheight: MaxSize = None,
    format_: Annotated[str, Query(alias="format", max_length=20)] = "json",
) -> JSONResponse:
    """404 for URLs this provider does not serve, 501 for any format but json (oEmbed 1.0 §2.3.4);
    an empty ``format`` is no format: json."""
    if format_ not in {"json", ""}:
        raise HTTPException(501, "only format=json is available")
    base = public_url(request)
    incident_id = timeline_id(url, base)
    if incident_id is None:
        raise HTTPException(404, "not a timeline URL of this server: expected /incidents/{id}")
    incident = await publisher.get(incident_id)
    answer = syndication.oembed(incident, base, settings.organisation, maxwidth, maxheight)
    return JSONResponse(answer, headers=OEMBED_HEADERS)
