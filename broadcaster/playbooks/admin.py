"""The administrators' template pages (``/console/admin/templates``): the list, a new template,
editing, deleting, and restoring a shipped one as it was shipped. Plain forms with the session's
CSRF token; a problem shows the form again with the administrator's input (422).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from broadcaster.accounts import ConsoleAdminDep, ConsoleUser, checked_form
from broadcaster.config import Settings
from broadcaster.console import choices
from broadcaster.playbooks.api import LibraryDep, TemplateId
from broadcaster.playbooks.library import Library, shipped
from broadcaster.playbooks.model import (
    LANGS,
    MAX_FACTS,
    MAX_MINUTES,
    Template,
    TemplateProblem,
    UnknownTemplate,
    parse,
)
from broadcaster.web.deps import SettingsDep
from broadcaster.web.rendering import render

router = APIRouter(prefix="/console/admin/templates", include_in_schema=False)

TEXT_FIELDS = ("name", "title", "instruction", "facts", "first_notice")


def form_values(template: Template) -> dict[str, Any]:
    """The edit form's values: per language ``{lang}.{field}``, facts one label a line."""
    raw = template.to_json()
    values: dict[str, Any] = {k: v for k, v in raw.items() if k != "texts"}
    for lang in LANGS:
        for name, value in raw["texts"][lang].items():
            values[f"{lang}.{name}"] = "\n".join(value) if name == "facts" else value
    return values


def raw_template(form: FormData) -> dict[str, Any]:
    """The form as the JSON :func:`broadcaster.playbooks.model.parse` reads."""
    texts = {lang: {name: str(form.get(f"{lang}.{name}") or "") for name in TEXT_FIELDS} for lang in LANGS}
    raw: dict[str, Any] = {
        name: str(form.get(name) or "") for name in ("category", "severity", "urgency", "certainty")
    }
    return {**raw, "next_update_minutes": str(form.get("next_update_minutes") or ""), "texts": texts}


async def _list(
    request: Request, user: ConsoleUser, settings: Settings, library: Library, status: int = 200,
    **extra: Any,
) -> HTMLResponse:  # fmt: skip
    templates = await library.all()
    present = {t.id: t for t in templates}
    restorable = [
        (original, present.get(tid)) for tid, original in shipped().items() if present.get(tid) != original
    ]
    context = {
        "user": user,
        "templates": templates,
        "shipped_ids": set(shipped()),
        "restorable": restorable,
        "done": request.query_params.get("done"),
        **extra,
    }
    return render(request, "console/templates.html", context, settings, status=status)


async def _form(
    request: Request,
    user: ConsoleUser,
    settings: Settings,
    values: dict[str, Any],
    *,
    editing: str | None,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    context = {
        "user": user,
        "values": values,
        "editing": editing,
        "error": error,
        "langs": LANGS,
        "max_facts": MAX_FACTS,
        "max_minutes": MAX_MINUTES,
        **choices(),
    }
    return render(request, "console/template_form.html", context, settings, status=status)


@router.get("", response_class=HTMLResponse)
async def templates_page(
    request: Request, user: ConsoleAdminDep, settings: SettingsDep, library: LibraryDep
) -> Response:
    return await _list(request, user, settings, library)


@router.get("/new", response_class=HTMLResponse)
async def new_template_page(request: Request, user: ConsoleAdminDep, settings: SettingsDep) -> Response:
    values = {"category": "Other", "severity": "unknown", "urgency": "expected", "certainty": "observed"}
    return await _form(request, user, settings, values, editing=None)


@router.post("", response_class=HTMLResponse)
async def create_template(
    request: Request, user: ConsoleAdminDep, settings: SettingsDep, library: LibraryDep
) -> Response:
    form = await checked_form(request, user)
    raw = raw_template(form)
    try:
        template = await library.create(parse(raw, str(form.get("id") or "").strip()), user.actor)
    except TemplateProblem as exc:
        values = {k: v for k, v in form.items() if isinstance(v, str)}
        return await _form(request, user, settings, values, editing=None, error=str(exc), status=422)
    return RedirectResponse(f"/console/admin/templates?done=created#t-{template.id}", status_code=303)


@router.get("/{template_id}", response_class=HTMLResponse)
async def edit_template_page(
    request: Request, template_id: TemplateId, user: ConsoleAdminDep, settings: SettingsDep,
    library: LibraryDep,
) -> Response:  # fmt: skip
    try:
        template = await library.get(template_id)
    except UnknownTemplate as exc:
        return await _list(request, user, settings, library, error=str(exc), status=404)
    return await _form(request, user, settings, form_values(template), editing=template_id)


@router.post("/{template_id}", response_class=HTMLResponse)
async def save_template(
    request: Request, template_id: TemplateId, user: ConsoleAdminDep, settings: SettingsDep,
    library: LibraryDep,
) -> Response:  # fmt: skip
    form = await checked_form(request, user)
    try:
        await library.edit(parse(raw_template(form), template_id), user.actor)
    except (TemplateProblem, UnknownTemplate) as exc:
        values = {k: v for k, v in form.items() if isinstance(v, str)}
        status = 404 if isinstance(exc, UnknownTemplate) else 422
        error = str(exc)
        return await _form(request, user, settings, values, editing=template_id, error=error, status=status)
    return RedirectResponse(f"/console/admin/templates?done=saved#t-{template_id}", status_code=303)


@router.post("/{template_id}/delete")
async def delete_template(
    request: Request, template_id: TemplateId, user: ConsoleAdminDep, settings: SettingsDep,
    library: LibraryDep,
) -> Response:  # fmt: skip
    return await _change(request, user, settings, library, lambda: library.delete(template_id, user.actor),
                         "/console/admin/templates?done=deleted")  # fmt: skip


@router.post("/{template_id}/restore")
async def restore_template(
    request: Request, template_id: TemplateId, user: ConsoleAdminDep, settings: SettingsDep,
    library: LibraryDep,
) -> Response:  # fmt: skip
    return await _change(request, user, settings, library, lambda: library.restore(template_id, user.actor),
                         f"/console/admin/templates?done=restored#t-{template_id}")  # fmt: skip


async def _change(
    request: Request,
    user: ConsoleUser,
    settings: Settings,
    library: Library,
    change: Callable[[], Awaitable[object]],
    done: str,
) -> Response:
    """Delete or restore once the CSRF token is checked; an unknown template: the list, 404."""
    await checked_form(request, user)
    try:
        await change()
    except UnknownTemplate as exc:
        return await _list(request, user, settings, library, error=str(exc), status=404)
    return RedirectResponse(done, status_code=303)
