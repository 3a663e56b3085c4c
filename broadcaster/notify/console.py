"""The operators' side of notifications: the panel in the incident workspace and on the
dashboard (``templates/console/_notify.html``), and the administrators' one-click pause.

The console finds this module's :class:`Panel` on ``app.state.notify_panel`` (the console is
below ``notify`` and does not import it). The numbers come from the subscription store
(``app.state.subscriptions``, :class:`~broadcaster.notify.subscriptions.Subscriptions`) and the
dispatcher (``app.state.notifier``, ``Notifier.status()``); either may be absent (a process
without notifications), and the panel then says so rather than failing.

Pausing goes through ``Subscriptions.set_paused`` (the code ``POST /api/notify/pause`` runs),
audited as ``notify.paused`` / ``notify.resumed``; the forms carry the session's CSRF token.
"""

from __future__ import annotations

import inspect
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from broadcaster.accounts import ConsoleAdminDep, audit, checked_form
from broadcaster.core.events import utc_now
from broadcaster.core.timeline import Incident
from broadcaster.core.types import JSON
from broadcaster.notify.types import ChannelName, Level

router = APIRouter(prefix="/console/notify", include_in_schema=False)
CHANNELS = tuple(ChannelName)


async def _maybe(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


class Panel:
    """What the console shows of notifications, read from the app's state."""

    def __init__(self, state: Any) -> None:
        self.state = state

    async def delivery(self) -> dict[str, JSON] | None:
        notifier = getattr(self.state, "notifier", None)
        if notifier is None:
            return None
        status = await _maybe(notifier.status())
        return {
            str(channel): dict(status.get(channel) or status.get(str(channel)) or {}) for channel in CHANNELS
        }

    async def paused(self) -> bool | None:
        subs = getattr(self.state, "subscriptions", None)
        return bool(await subs.paused()) if subs is not None else None

    async def followers(self, incident: Incident) -> dict[str, dict[str, int]] | None:
        """Per channel: how many follow the incident itself, and how many its area (those an
        important event of it would reach now)."""
        subs = getattr(self.state, "subscriptions", None)
        if subs is None:
            return None
        await subs.refresh()
        probe: JSON = {
            "type": "update.posted",
            "incident": incident.id,
            "at": utc_now().isoformat(),
            "seq": incident.seq + 1,
        }
        found: dict[str, dict[str, int]] = {}
        for channel in CHANNELS:
            reached = await subs.matching(channel, incident, probe, Level.IMPORTANT)
            own = sum(1 for sub in reached if sub.incident == incident.id)
            found[str(channel)] = {"incident": own, "area": len(reached) - own}
        return found

    async def section(self, incident: Incident) -> JSON:
        """For the incident workspace."""
        return {
            "followers": await self.followers(incident),
            "delivery": await self.delivery(),
            "paused": await self.paused(),
        }

    async def totals(self) -> JSON:
        """For the administrators' dashboard."""
        delivery = await self.delivery()
        total = None
        if delivery is not None:
            total = {
                k: sum(int(s.get(k) or 0) for s in delivery.values()) for k in ("sent", "queued", "failed")
            }
        return {"delivery": delivery, "total": total if delivery else None, "paused": await self.paused()}


async def _set_paused(request: Request, user: Any, paused: bool) -> Response:
    await checked_form(request, user)
    subs = request.app.state.subscriptions
    await subs.set_paused(paused, user.actor)
    backend = request.app.state.backend
    await audit.record(backend, user.actor, "notify.paused" if paused else "notify.resumed")
    back = request.query_params.get("back", "")
    target = back if back.startswith("/console/") and "//" not in back else "/console"
    return RedirectResponse(
        f"{target}?done={'notify-paused' if paused else 'notify-resumed'}", status_code=303
    )


@router.post("/pause")
async def pause(request: Request, user: ConsoleAdminDep) -> Response:
    """Stop every notification now (events meanwhile are passed over, not sent later)."""
    return await _set_paused(request, user, True)


@router.post("/resume")
async def resume(request: Request, user: ConsoleAdminDep) -> Response:
    return await _set_paused(request, user, False)
