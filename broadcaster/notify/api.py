"""The notifications' JSON API: the Web Push key, subscribing, unsubscribing, and the
administrators' pause switch (docs/notifications.md).

Subscribing is public, so it is limited twice, in the store (shared by every process): per
client address (``INCIDENTS_SUBSCRIBE_LIMIT`` per ``INCIDENTS_SUBSCRIBE_WINDOW``) and, for
e-mail, per address written (:data:`MAILS_PER_ADDRESS` confirmation mails an hour), so that
nobody can use the form to mail-bomb someone. A bad request is a 422 naming the field and
stores nothing.
"""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from starlette.requests import HTTPConnection

from broadcaster.accounts import AdminDep, audit, hit
from broadcaster.core.timeline import NotFound
from broadcaster.incidents import PublisherDep
from broadcaster.notify import mail
from broadcaster.notify.rules import SubscriptionRequest, check_request
from broadcaster.notify.subscriptions import Subscriptions
from broadcaster.notify.types import ChannelName
from broadcaster.notify.vapid import application_server_key
from broadcaster.web.deps import BackendDep, SettingsDep, bad_fields
from broadcaster.web.targets import target_problem

router = APIRouter(tags=["notifications"])
log = logging.getLogger("incidents.notify")
MAILS_PER_ADDRESS = 3
MAIL_WINDOW = 3600.0


async def _subscriptions(request: HTTPConnection) -> Subscriptions:
    subs: Subscriptions = request.app.state.subscriptions
    return subs


SubscriptionsDep = Annotated[Subscriptions, Depends(_subscriptions)]


@router.get("/api/push/key", summary="The Web Push (VAPID) application server key")
async def push_key(request: Request) -> dict[str, str]:
    """``{"public_key": ...}``: the uncompressed P-256 point, base64url, for
    ``pushManager.subscribe({applicationServerKey})``."""
    return {"public_key": application_server_key(request.app.state.vapid)}


async def _checked(body: Any, settings: Any, publisher: Any) -> SubscriptionRequest:
    with bad_fields():
        checked = check_request(body, settings.push_allow_private)
    if checked.incident is not None:
        try:
            await publisher.get(checked.incident)
        except NotFound as exc:
            raise HTTPException(422, "incident: no such incident") from exc
    public = checked.channel != ChannelName.WEBPUSH or settings.push_allow_private
    if not public and (why := await target_problem(checked.address)) is not None:
        raise HTTPException(422, f"push.endpoint: {why}; push endpoints must be public")
    if checked.channel == ChannelName.EMAIL and not settings.smtp_url:
        raise HTTPException(503, "e-mail notifications are not available on this server")
    return checked


async def create_subscription(
    body: Any, client: str, subs: Subscriptions, backend: Any, settings: Any, publisher: Any
) -> tuple[int, dict[str, str]]:
    """Subscribe as ``POST /api/subscriptions`` does (the no-JS follow form calls this too):
    the status (201 Web Push, 202 e-mail to confirm) and ``{"id", "manage_url"}``.

    Raises:
        RateLimited: too many requests from ``client`` or mails to that address (429).
        HTTPException: 422 naming the field, 503 when e-mail cannot be sent; nothing is kept.
    """
    await hit(backend, f"ratelimit:subscribe:{client}", settings.subscribe_limit, settings.subscribe_window)
    checked = await _checked(body, settings, publisher)
    if checked.channel == ChannelName.EMAIL:
        subscriber = await subs.subscriber_of(checked.channel, checked.address)
        await hit(backend, f"ratelimit:confirm-mail:{subscriber}", MAILS_PER_ADDRESS, MAIL_WINDOW)
    sub, token = await subs.create(checked)
    personal = {**checked.personal, "token": token}
    manage = subs.manage_url(sub, personal)
    if checked.channel != ChannelName.EMAIL:
        return 201, {"id": sub.id, "manage_url": manage}
    try:
        await mail.send_confirmation(
            settings, str(checked.personal["email"]), sub.lang, subs.confirm_url(token), manage
        )
    except mail.MailError as exc:
        await subs.remove(sub.id, "unconfirmed")
        log.warning("confirmation mail for subscription %s not sent: %s", sub.id, exc)
        raise HTTPException(
            503, "the confirmation e-mail could not be sent; nothing was kept, try again later",
            {"Retry-After": "60"},
        ) from exc  # fmt: skip
    return 202, {"id": sub.id, "manage_url": manage}


@router.post(
    "/api/subscriptions",
    status_code=201,
    summary="Follow an incident or an area by Web Push (201) or e-mail (202, to confirm)",
    responses={202: {"description": "e-mail: a confirmation link was sent"}, 422: {}, 429: {}, 503: {}},
)
async def subscribe(
    request: Request, response: Response, subs: SubscriptionsDep, backend: BackendDep,
    settings: SettingsDep, publisher: PublisherDep,
) -> dict[str, str]:  # fmt: skip
    """Body: ``{"channel", "incident" | "area", "level", "lang", "drills", "email" | "push"}``
    (docs/notifications.md). Answers ``{"id", "manage_url"}``."""
    try:
        body = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError) as exc:
        raise HTTPException(422, "body: must be a JSON object") from exc
    client = request.client.host if request.client else "unknown"
    response.status_code, answer = await create_subscription(body, client, subs, backend, settings, publisher)
    return answer


@router.delete(
    "/api/subscriptions/{token}",
    status_code=204,
    summary="Unsubscribe (the token is in every message and in the manage URL)",
    responses={404: {}},
)
async def unsubscribe(token: str, subs: SubscriptionsDep) -> Response:
    entry = await subs.by_token(token)
    if entry is None:
        raise HTTPException(404, "no such subscription")
    await subs.remove(entry.sub.id, "unsubscribed")
    return Response(status_code=204)


async def switch_pause(paused: bool, actor: Any, subs: Subscriptions, backend: Any) -> dict[str, Any]:
    """Pause or resume every notification, audited once (the API and the console's buttons
    both come here)."""
    state = await subs.set_paused(paused, actor.operator.name)
    action = "notifications.paused" if paused else "notifications.resumed"
    await audit.record(backend, actor, action, target="notifications", detail={"paused": paused})
    return state


@router.post("/api/notifications/pause", summary="Pause every notification (administrators; audited)")
async def pause(actor: AdminDep, subs: SubscriptionsDep, backend: BackendDep) -> dict[str, Any]:
    """Events while paused are passed over, not sent later."""
    return await switch_pause(True, actor, subs, backend)


@router.post("/api/notifications/resume", summary="Resume notifications (administrators; audited)")
async def resume(actor: AdminDep, subs: SubscriptionsDep, backend: BackendDep) -> dict[str, Any]:
    return await switch_pause(False, actor, subs, backend)
