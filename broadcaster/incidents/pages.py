"""Citizens' pages: the incident list, the rolling timeline, and the embed for media.

Pages are complete without JavaScript; ``static/live.js`` then keeps them current.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from broadcaster import maps
from broadcaster.config import Settings
from broadcaster.core.markdown import excerpt, plain_text
from broadcaster.core.timeline import Incident, Revision, Update
from broadcaster.incidents.api import IncidentId
from broadcaster.incidents.deps import PublisherDep
from broadcaster.web.deps import SettingsDep, public_url
from broadcaster.web.rendering import language, render

router = APIRouter(include_in_schema=False)
EMBED_UPDATES = 20
RECENTLY_RESOLVED = 20
BLANK_UPDATE = Update(id="", body="", html="", published_at="", next_update_at=None)
BLANK_REVISION = Revision(body="", html="", replaced_at="", reason="")


def page_of(incident: Incident, before: str | None, size: int) -> tuple[list[Update], str | None]:
    """Up to ``size`` updates, newest first, older than update ``before`` (None: the
    latest); and the id to ask for the page after it (None on the last page)."""
    updates = incident.updates_newest_first()
    start = 0
    if before is not None:
        ids = [u.id for u in updates]
        start = ids.index(before) + 1 if before in ids else len(updates)
    chosen = updates[start : start + size]
    more = start + size < len(updates)
    return chosen, (chosen[-1].id if more and chosen else None)


def live_blog_updates(incident: Incident, page_url: str, limit: int = 20) -> list[dict[str, Any]]:
    """schema.org BlogPosting items for the LiveBlogPosting JSON-LD."""
    return [
        {
            "@type": "BlogPosting",
            "headline": excerpt(u.html, 110),
            "articleBody": plain_text(u.html),
            "datePublished": u.published_at,
            "dateModified": u.retracted_at or u.corrected_at or u.published_at,
            "url": f"{page_url}#u-{u.id}",
        }
        for u in incident.updates_newest_first()[:limit]
        if u.retracted_at is None
    ]


def timeline_context(request: Request, incident: Incident, settings: Settings) -> dict[str, Any]:
    pinned = incident.updates.get(incident.pinned) if incident.pinned else None
    base = public_url(request)
    page_url = f"{base}/incidents/{incident.id}"
    return {
        **area_context(incident, language(request, settings), settings),
        "incident": incident,
        "pinned": pinned,
        "zone": settings.timezone,
        "base": base,
        "page_url": page_url,
        "jsonld_updates": live_blog_updates(incident, page_url),
        # Empty partials for live.js to clone (see templates/_client.html).
        "blank_update": BLANK_UPDATE,
        "blank_revision": BLANK_REVISION,
    }


def area_context(incident: Incident, lang: str, settings: Settings) -> dict[str, Any]:
    """The map of the area and what "am I affected?" needs (nothing without an area)."""
    shape = incident.area_shape
    if not shape:
        return {"area_svg": None, "area_data": None}
    data = maps.area_data(shape, lang, settings.map_tiles, settings.map_tiles_attribution)
    return {"area_svg": maps.area_map(shape, lang), "area_data": data}


def overview(live: list[Incident], lang: str) -> Any:
    """One map of the live incidents' areas, numbered in the list's order (None: no area)."""
    marked = [
        maps.Marked(n, f"#i-{i.id}", i.title, i.area_shape) for n, i in enumerate(live, 1) if i.area_shape
    ]
    return maps.areas_map(marked, lang) if marked else None


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, publisher: PublisherDep, settings: SettingsDep) -> HTMLResponse:
    incidents = await publisher.list_incidents()
    live = sorted(
        (i for i in incidents if i.state == "live"),
        key=lambda i: i.last_update_at or i.opened_at,
        reverse=True,
    )
    resolved = sorted(
        (i for i in incidents if i.state == "resolved"), key=lambda i: i.resolved_at or "", reverse=True
    )
    context = {"live": live, "resolved": resolved[:RECENTLY_RESOLVED]}
    context["areas_svg"] = overview(live, language(request, settings))
    return render(request, "index.html", context, settings)


@router.get("/incidents/{incident_id}", response_class=HTMLResponse)
async def incident_page(
    request: Request,
    incident_id: IncidentId,
    publisher: PublisherDep,
    settings: SettingsDep,
    before: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:
    """Rendered once per version and language for every reader: broadcaster/reads/."""
    incident = await publisher.get(incident_id)
    updates, older = page_of(incident, before, settings.page_updates)
    context = timeline_context(request, incident, settings)
    context.update(updates=updates, older=older, archive=before is not None)
    return render(request, "incident.html", context, settings)


@router.get("/incidents/{incident_id}/embed", response_class=HTMLResponse)
async def embed_page(
    request: Request, incident_id: IncidentId, publisher: PublisherDep, settings: SettingsDep
) -> HTMLResponse:
    incident = await publisher.get(incident_id)
    updates, older = page_of(incident, None, EMBED_UPDATES)
    context = timeline_context(request, incident, settings)
    context.update(updates=updates, older=older, archive=False)
    return render(request, "embed.html", context, settings)
