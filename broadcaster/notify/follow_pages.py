"""The citizen's "Notify me" without JavaScript, and the service worker's URL.

``templates/_follow.html`` (under the timeline) posts a plain form to ``/incidents/{id}/follow``.
The form becomes the body ``POST /api/subscriptions`` takes, and goes through the same code
(:func:`broadcaster.notify.api.create_subscription`, with the reader's address, so the checks and
rate limits are the API's own): an
e-mail subscription answers with a page "check your mail", a problem with the form again, the
problem said and what was typed kept. Web Push needs JavaScript (``static/follow.js``).

``/sw.js`` is ``static/sw.js`` served at the top of the site, so that it may control every page.
"""

from __future__ import annotations

import math

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from broadcaster import i18n
from broadcaster.accounts import RateLimited
from broadcaster.core.geometry import bounding_box
from broadcaster.core.timeline import Incident
from broadcaster.core.types import JSON
from broadcaster.incidents import IncidentId, PublisherDep
from broadcaster.notify.api import create_subscription
from broadcaster.web.deps import SettingsDep
from broadcaster.web.rendering import language, render, resource_dir

router = APIRouter(include_in_schema=False)
FIELDS = ("what", "level", "place", "lat", "lon", "radius_km", "drills", "channel", "email")
RADII = (0.5, 20.0)


def _(message: str) -> str:
    """Marks a message for extraction; translated when shown."""
    return message


class FormProblem(Exception):
    """The form cannot become a subscription; the message is an English msgid."""


@router.get("/sw.js")
async def service_worker() -> Response:
    """The service worker, allowed to control the whole site; rechecked on every visit."""
    headers = {"Service-Worker-Allowed": "/", "Cache-Control": "no-cache"}
    path = resource_dir("static") / "sw.js"
    return FileResponse(path, media_type="text/javascript; charset=utf-8", headers=headers)


def _number(text: str, low: float, high: float, problem: str) -> float:
    try:
        value = float(text.strip().replace(",", "."))
    except ValueError:
        raise FormProblem(problem) from None
    if not math.isfinite(value) or not low <= value <= high:
        raise FormProblem(problem)
    return value


def subscription_body(incident: Incident, values: dict[str, str], lang: str) -> JSON:
    """What ``POST /api/subscriptions`` takes, from the form (pure)."""
    if values["channel"] not in ("", "email"):
        raise FormProblem(_("A notification on this device needs JavaScript: choose e-mail."))
    body: JSON = {
        "channel": "email",
        "email": values["email"].strip(),
        "level": "all" if values["level"] == "all" else "important",
        "lang": lang,
        "drills": values["drills"] == "1",
        "incident": None,
        "area": None,
    }
    if not body["email"]:
        raise FormProblem(_("Give your e-mail address."))
    if values["what"] != "area":
        body["incident"] = incident.id
        return body
    radius = _number(values["radius_km"] or "2", *RADII, _("The radius is from 0.5 to 20 km."))
    if values["place"] == "incident" and incident.area_shape:
        center = list(bounding_box(incident.area_shape).center)
    else:
        problem = _("Give the place as a latitude (-90 to 90) and a longitude (-180 to 180), in degrees.")
        center = [_number(values["lat"], -90, 90, problem), _number(values["lon"], -180, 180, problem)]
    body["area"] = {"type": "circle", "center": [round(c, 6) for c in center], "radius_km": radius}
    return body


@router.post("/incidents/{incident_id}/follow", response_class=HTMLResponse)
async def follow_from_form(
    request: Request, incident_id: IncidentId, publisher: PublisherDep, settings: SettingsDep
) -> Response:
    lang = language(request, settings)
    gettext = i18n.translations(lang).gettext
    incident = await publisher.get(incident_id)  # 404 for an unknown incident
    async with request.form(max_files=0, max_fields=20) as form:
        values = {name: str(form.get(name) or "")[:300] for name in FIELDS}

    def page(status: int, error: str | None = None, sent: JSON | None = None) -> HTMLResponse:
        context = {"incident": incident, "follow_values": values, "follow_error": error, "sent": sent}
        return render(request, "notify/follow_page.html", context, settings, status=status)

    try:
        body = subscription_body(incident, values, lang)
    except FormProblem as exc:
        return page(422, gettext(str(exc)))
    client = request.client.host if request.client else "unknown"
    state = request.app.state
    try:
        _, sent = await create_subscription(
            body, client, state.subscriptions, state.backend, settings, publisher
        )
    except RateLimited as exc:
        again = page(429, gettext("Too many requests from here: please try again in a while."))
        again.headers["Retry-After"] = str(exc.retry_after)
        return again
    except HTTPException as exc:
        if exc.status_code == 503:
            return page(503, gettext("E-mail cannot be sent just now: please try again later."))
        return page(exc.status_code, gettext("Please check the form:") + " " + str(exc.detail))
    return page(202, sent={"manage_url": sent["manage_url"]})
