"""``GET /api/templates``: the incident templates, for operators (a bearer token).

``POST /api/incidents`` takes ``"template": ID`` (``broadcaster/incidents/api.py``); the templates
are managed in the console (``/console/admin/templates``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path
from starlette.requests import HTTPConnection

from broadcaster.accounts import OperatorDep
from broadcaster.core.types import JSON
from broadcaster.playbooks.library import Library, shipped
from broadcaster.playbooks.model import Template, UnknownTemplate

api = APIRouter(prefix="/api/templates", tags=["templates"])

TemplateId = Annotated[str, Path(pattern=r"^[a-z0-9-]{1,40}$", description="template id, e.g. water-main")]


async def _library(request: HTTPConnection) -> Library:
    library: Library = request.app.state.playbooks
    return library


LibraryDep = Annotated[Library, Depends(_library)]


def described(template: Template) -> JSON:
    """A template as the API shows it; ``shipped``: one of those the server came with."""
    return {**template.to_json(), "shipped": template.id in shipped()}


@api.get("", summary="Incident templates (for POST /api/incidents with template)")
async def list_templates(operator: OperatorDep, library: LibraryDep) -> dict[str, Any]:
    return {"templates": [described(t) for t in await library.all()]}


@api.get("/{template_id}", summary="One incident template")
async def get_template(template_id: TemplateId, operator: OperatorDep, library: LibraryDep) -> dict[str, Any]:
    try:
        return {"template": described(await library.get(template_id))}
    except UnknownTemplate as exc:
        raise HTTPException(404, str(exc)) from None
