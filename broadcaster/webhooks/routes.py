"""Webhook endpoints over HTTP and in the console (administrators only).

| method and path | answer |
|---|---|
| ``POST /api/webhooks`` | ``url``, ``events`` (types or ``*``): 201 ``{"webhook", "secret"}`` |
| ``GET /api/webhooks`` | ``{"webhooks": [...]}`` with each one's delivery status, never a secret |
| ``GET /api/webhooks/{id}`` | ``{"webhook": ...}`` |
| ``DELETE /api/webhooks/{id}`` | deletes it: ``{"webhook": ...}`` |
| ``POST /api/webhooks/{id}/disable``, ``/enable`` | ``{"webhook": ...}`` (enabling resumes delivery) |
| ``GET /api/webhooks/{id}/deliveries`` | ``?limit=N``: the last attempts, newest first |
| ``POST /api/webhooks/{id}/rotate-secret`` | ``{"webhook", "secret", "previous_valid_until"}`` |

A secret is in the answer to the registration or rotation only. 401 without a token, 403 for an
operator who is not an administrator, 404 unknown, 409 not possible in its state
(enabling an enabled endpoint), 422 a bad URL or event type.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import Field
from starlette.requests import HTTPConnection

from broadcaster.accounts import AdminDep, ConsoleAdminDep, ConsoleUser, checked_form
from broadcaster.config import Settings
from broadcaster.core.events import EventType, format_time
from broadcaster.core.types import JSON
from broadcaster.web.deps import SettingsDep, bad_fields
from broadcaster.web.models import Strict
from broadcaster.web.rendering import render
from broadcaster.webhooks.registry import Webhooks
from broadcaster.webhooks.rules import ALL, MAX_REASON, MAX_URL, Endpoint, Progress, State

api = APIRouter(prefix="/api/webhooks", tags=["webhooks"])
router = APIRouter(prefix="/console/admin/webhooks", include_in_schema=False)

WebhookId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="webhook endpoint id")]
MANUAL_REASON = "disabled by an administrator"


async def _webhooks(request: HTTPConnection) -> Webhooks:
    webhooks: Webhooks = request.app.state.webhooks
    return webhooks


WebhooksDep = Annotated[Webhooks, Depends(_webhooks)]


class WebhookIn(Strict):
    url: str = Field(min_length=1, max_length=MAX_URL, description="http:// or https:// URL of the receiver")
    events: list[str] = Field(
        default_factory=lambda: [ALL], min_length=1, max_length=30,
        description="event types to send (e.g. update.posted), or * for every type",
    )  # fmt: skip


class DisableIn(Strict):
    reason: str | None = Field(None, max_length=MAX_REASON)


def described(endpoint: Endpoint, progress: Progress) -> JSON:
    """An endpoint as the API shows it: never its secret, never its cursors."""
    return {**endpoint.to_json(), **progress.status()}


# --- the API -------------------------------------------------------------------------------


@api.post("", status_code=201, summary="Register an endpoint; its signing secret is returned this once")
async def register(
    body: WebhookIn, actor: AdminDep, webhooks: WebhooksDep, settings: SettingsDep
) -> JSONResponse:
    with bad_fields():
        endpoint, secret = await webhooks.register(
            body.url, body.events, actor, settings.webhook_allow_private
        )
    progress, _ = await webhooks.progress(endpoint.id)
    return JSONResponse({"webhook": described(endpoint, progress), "secret": secret}, 201)


@api.get("", summary="Registered endpoints and their delivery status (no secrets)")
async def list_webhooks(actor: AdminDep, webhooks: WebhooksDep) -> dict[str, Any]:
    return {"webhooks": [described(e, p) for e, p in await webhooks.overview()]}


@api.get("/{webhook_id}", summary="One endpoint")
async def get_webhook(webhook_id: WebhookId, actor: AdminDep, webhooks: WebhooksDep) -> dict[str, Any]:
    endpoint = await webhooks.get(webhook_id)
    return {"webhook": described(endpoint, (await webhooks.progress(webhook_id))[0])}


@api.delete("/{webhook_id}", summary="Delete an endpoint (and its secret)")
async def delete_webhook(webhook_id: WebhookId, actor: AdminDep, webhooks: WebhooksDep) -> dict[str, Any]:
    endpoint = await webhooks.delete(webhook_id, actor)
    return {"webhook": endpoint.to_json()}


@api.post("/{webhook_id}/disable", summary="Stop delivering to an endpoint")
async def disable_webhook(
    webhook_id: WebhookId, actor: AdminDep, webhooks: WebhooksDep, body: DisableIn | None = None
) -> dict[str, Any]:
    reason = (body.reason if body else None) or MANUAL_REASON
    endpoint = await webhooks.disable(webhook_id, actor, reason)
    return {"webhook": described(endpoint, (await webhooks.progress(webhook_id))[0])}


@api.post("/{webhook_id}/enable", summary="Deliver again, from where delivery stopped")
async def enable_webhook(webhook_id: WebhookId, actor: AdminDep, webhooks: WebhooksDep) -> dict[str, Any]:
    endpoint = await webhooks.enable(webhook_id, actor)
    return {"webhook": described(endpoint, (await webhooks.progress(webhook_id))[0])}


@api.post(
    "/{webhook_id}/rotate-secret",
    summary="A new signing secret, returned this once; the old one also signs for a while (no gap)",
)
async def rotate_secret(
    webhook_id: WebhookId, actor: AdminDep, webhooks: WebhooksDep, settings: SettingsDep
) -> dict[str, Any]:
    secret, until = await webhooks.rotate_secret(
        webhook_id, actor, settings.webhook_secret_overlap, time.time()
    )
    endpoint = await webhooks.get(webhook_id)
    return {
        "webhook": described(endpoint, (await webhooks.progress(webhook_id))[0]),
        "secret": secret,
        "previous_valid_until": _iso(until),
    }


def _iso(unix: float | None) -> str | None:
    return None if unix is None else format_time(datetime.fromtimestamp(unix, UTC))


@api.get("/{webhook_id}/deliveries", summary="The endpoint's last delivery attempts, newest first")
async def deliveries(
    webhook_id: WebhookId,
    actor: AdminDep,
    webhooks: WebhooksDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    await webhooks.get(webhook_id)
    return {"deliveries": await webhooks.deliveries(webhook_id, limit)}


# --- the console ---------------------------------------------------------------------------


async def webhook_notices(request: Request) -> list[tuple[Endpoint, Progress]]:
    """Endpoints the server disabled after they kept failing, with their last failure:
    the dashboard tells the administrators until someone enables or deletes them."""
    webhooks: Webhooks | None = getattr(request.app.state, "webhooks", None)
    if webhooks is None:
        return []
    return [(e, p) for e, p in await webhooks.overview() if e.state == State.DISABLED and e.automatic]


async def _page(
    request: Request,
    user: ConsoleUser,
    webhooks: Webhooks,
    settings: Settings,
    status: int = 200,
    **extra: Any,
) -> HTMLResponse:
    context = {
        "user": user,
        "webhooks": await webhooks.overview(),
        "event_types": [str(t) for t in EventType],
        "values": {"url": "", "events": [ALL]},
        "manual": MANUAL_REASON,
        **extra,
    }
    return render(request, "console/webhooks.html", context, settings, status=status)


@router.get("", response_class=HTMLResponse)
async def webhooks_page(
    request: Request, user: ConsoleAdminDep, webhooks: WebhooksDep, settings: SettingsDep
) -> Response:
    return await _page(request, user, webhooks, settings, done=request.query_params.get("done"))


@router.post("", response_class=HTMLResponse)
async def register_form(
    request: Request, user: ConsoleAdminDep, webhooks: WebhooksDep, settings: SettingsDep
) -> Response:
    form = await checked_form(request, user)
    url, events = str(form.get("url") or ""), [str(e) for e in form.getlist("events")]
    try:
        endpoint, secret = await webhooks.register(url, events, user.actor, settings.webhook_allow_private)
    except ValueError as exc:
        values = {"url": url, "events": events}
        return await _page(request, user, webhooks, settings, error=str(exc), values=values, status=422)
    return await _page(request, user, webhooks, settings, registered=endpoint, secret=secret, status=201)


@router.get("/{webhook_id}", response_class=HTMLResponse)
async def webhook_page(
    request: Request,
    webhook_id: WebhookId,
    user: ConsoleAdminDep,
    webhooks: WebhooksDep,
    settings: SettingsDep,
) -> Response:
    return await _endpoint_page(request, webhook_id, user, webhooks, settings)


async def _endpoint_page(
    request: Request, webhook_id: str, user: ConsoleUser, webhooks: Webhooks, settings: Settings, **extra: Any
) -> HTMLResponse:
    endpoint = await webhooks.get(webhook_id)
    context = {
        "user": user,
        "endpoint": endpoint,
        "progress": (await webhooks.progress(webhook_id))[0],
        "deliveries": await webhooks.deliveries(webhook_id, 100),
        "manual": MANUAL_REASON,
        "overlap_hours": round(settings.webhook_secret_overlap / 3600, 1),
        **extra,
    }
    return render(request, "console/webhook.html", context, settings)


@router.post("/{webhook_id}/rotate-secret", response_class=HTMLResponse)
async def rotate_form(
    request: Request,
    webhook_id: WebhookId,
    user: ConsoleAdminDep,
    webhooks: WebhooksDep,
    settings: SettingsDep,
) -> Response:
    await checked_form(request, user)
    secret, until = await webhooks.rotate_secret(
        webhook_id, user.actor, settings.webhook_secret_overlap, time.time()
    )
    return await _endpoint_page(
        request, webhook_id, user, webhooks, settings, secret=secret, previous_until=_iso(until)
    )


@router.post("/{webhook_id}/enable")
async def enable_form(
    request: Request, webhook_id: WebhookId, user: ConsoleAdminDep, webhooks: WebhooksDep
) -> Response:
    await checked_form(request, user)
    await webhooks.enable(webhook_id, user.actor)
    return RedirectResponse("/console/admin/webhooks?done=enabled", status_code=303)


@router.post("/{webhook_id}/disable")
async def disable_form(
    request: Request, webhook_id: WebhookId, user: ConsoleAdminDep, webhooks: WebhooksDep
) -> Response:
    await checked_form(request, user)
    await webhooks.disable(webhook_id, user.actor, MANUAL_REASON)
    return RedirectResponse("/console/admin/webhooks?done=disabled", status_code=303)


@router.post("/{webhook_id}/delete")
async def delete_form(
    request: Request, webhook_id: WebhookId, user: ConsoleAdminDep, webhooks: WebhooksDep
) -> Response:
    await checked_form(request, user)
    await webhooks.delete(webhook_id, user.actor)
    return RedirectResponse("/console/admin/webhooks?done=deleted", status_code=303)
