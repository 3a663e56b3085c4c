"""The operators' side of notifications: the panel in the incident workspace and on the
dashboard (``templates/console/_notify.html``), and the administrators' one-click pause.

The console finds this module's :class:`Panel` on ``app.state.notify_panel`` (the console is
below ``notify`` and does not import it). The numbers come from the subscription store
(``app.state.subscriptions``, :class:`~broadcaster.notify.subscriptions.Subscriptions`) and the
delivery counters: ``Notifier.status()`` when this process runs a Notifier
(``app.state.notifier``), else the channels' progress documents (``notify:progress:{channel}``,
which every sending process writes). Nothing personal is shown: counts, and error texts that
never hold an address or an endpoint.

Pausing runs the same code as ``POST /api/notifications/pause`` (:func:`api.switch_pause`),
audited once as ``notifications.paused`` / ``notifications.resumed``; the forms carry the
session's CSRF token.
"""

from __future__ import annotations

import inspect
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from broadcaster.accounts import ConsoleAdminDep, checked_form
from broadcaster.core.events import utc_now
from broadcaster.core.timeline import Incident
from broadcaster.core.types import JSON
from broadcaster.notify.api import switch_pause
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
        """Per channel: sent, queued, failed, last_error, last_sent_at, and ``on`` (False: the
        channel is not configured here, e.g. e-mail without ``INCIDENTS_SMTP_URL``)."""
        notifier = getattr(self.state, "notifier", None)
        backend = getattr(self.state, "backend", None)
        if notifier is not None:
            status = await _maybe(notifier.status())
            found = {str(ch): status.get(ch) or status.get(str(ch)) for ch in CHANNELS}
        elif backend is not None and getattr(self.state, "subscriptions", None) is not None:
            found = {str(ch): await self._stored(backend, ch) for ch in CHANNELS}
        else:
            return None
        return {ch: _figures(value) for ch, value in found.items()}

    async def _stored(self, backend: Any, channel: ChannelName) -> JSON | None:
        """The counters a sending process (maybe another one) saved for ``channel``."""
        settings = self.state.subscriptions.settings
        if channel == ChannelName.EMAIL and not settings.smtp_url:
            return None
        doc = await backend.get_doc(f"notify:progress:{channel.value}")
        value = dict(doc.value) if doc is not None else {}
        return {**value, "failed": value.get("undelivered", 0)}

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
            "pause": await self.pause_state(),
        }

    async def subscribers(self) -> dict[str, dict[str, int]] | None:
        """Every live subscription, by channel: ``confirmed`` and ``pending`` (e-mail not yet
        confirmed), and of the confirmed ``incident`` (following one) and ``area``."""
        subs = getattr(self.state, "subscriptions", None)
        if subs is None:
            return None
        await subs.refresh()
        found = {str(ch): {"confirmed": 0, "pending": 0, "incident": 0, "area": 0} for ch in CHANNELS}
        for entry in subs.live():
            row = found[str(entry.sub.channel)]
            if not entry.sub.confirmed:
                row["pending"] += 1
                continue
            row["confirmed"] += 1
            row["incident" if entry.sub.incident is not None else "area"] += 1
        return found

    async def totals(self) -> JSON:
        """For the administrators' dashboard: subscriptions and delivery, per channel and in all."""
        delivery = await self.delivery()
        total = None
        if delivery is not None:
            figures = ("sent", "queued", "failed")
            total = {k: sum(int(s.get(k) or 0) for s in delivery.values()) for k in figures}
        return {
            "delivery": delivery,
            "total": total,
            "subscribers": await self.subscribers(),
            "paused": await self.paused(),
            "pause": await self.pause_state(),
        }

    async def pause_state(self) -> JSON | None:
        """``{paused, by, at}``: who paused (or resumed) last, and when."""
        subs = getattr(self.state, "subscriptions", None)
        return dict(await subs.pause_state()) if subs is not None else None


def _figures(value: JSON | None) -> JSON:
    """The panel's figures of one channel (None: the channel is off on this server)."""
    if value is None:
        return {"on": False, "sent": 0, "queued": 0, "failed": 0, "last_error": None, "last_sent_at": None}
    return {
        "on": True,
        **{k: int(value.get(k) or 0) for k in ("sent", "queued", "failed")},
        "last_error": value.get("last_error") or None,
        "last_sent_at": value.get("last_sent_at") or None,
    }


async def _set_paused(request: Request, user: Any, paused: bool) -> Response:
    await checked_form(request, user)
    await switch_pause(paused, user.actor, request.app.state.subscriptions, request.app.state.backend)
    back = request.query_params.get("back", "")
    safe = back.startswith("/console/") and not any(c in back for c in "\\?#") and "//" not in back
    target = back if safe else "/console"
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
