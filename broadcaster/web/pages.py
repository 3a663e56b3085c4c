"""Server-rendered pages (plain for now; the full timeline page is a later issue)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from broadcaster.events import parse_time
from broadcaster.web.api import IncidentId
from broadcaster.web.deps import PublisherDep, SettingsDep


def resource_dir(name: str) -> Path:
    """``templates/`` or ``static/``: inside the installed package (the wheel puts
    them there), else at the top of a source checkout."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / name, package.parent / name):
        if candidate.is_dir():
            return candidate
    raise RuntimeError(f"cannot find the {name}/ directory next to {package}")


templates = Jinja2Templates(directory=resource_dir("templates"))
router = APIRouter(include_in_schema=False)


def local_time(value: str | None, zone: str) -> str:
    if not value:
        return ""
    moment: datetime = parse_time(value).astimezone(ZoneInfo(zone))
    return moment.strftime("%Y-%m-%d %H:%M")


templates.env.filters["local_time"] = local_time


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, publisher: PublisherDep, settings: SettingsDep) -> HTMLResponse:
    incidents = await publisher.list_incidents()
    return templates.TemplateResponse(
        request,
        "index.html",
        {
            "live": [i for i in incidents if i.state == "live"],
            "resolved": [i for i in incidents if i.state == "resolved"][:20],
            "settings": settings,
        },
    )


@router.get("/incidents/{incident_id}", response_class=HTMLResponse)
async def incident_page(
    request: Request, incident_id: IncidentId, publisher: PublisherDep, settings: SettingsDep
) -> HTMLResponse:
    incident = await publisher.get(incident_id)
    updates = incident.updates_newest_first()
    return templates.TemplateResponse(
        request,
        "incident.html",
        {
            "incident": incident,
            "updates": updates[: settings.page_updates],
            "older": max(0, len(updates) - settings.page_updates),
            "settings": settings,
        },
    )
