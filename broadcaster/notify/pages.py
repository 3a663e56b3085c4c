"""The subscriber's pages, reached by the secret token in every message: the confirmation
link (``/subscriptions/confirm/{token}``: a page with a button that posts to the same address;
the link alone confirms nothing) and the manage page (``/subscriptions/{token}``),
which lists every subscription of that person, each with a button that ends it.

No JavaScript: the buttons are forms posting to ``/subscriptions/{token}/unsubscribe``, which
is also the RFC 8058 one-click target of ``List-Unsubscribe-Post`` (a mail client posts
``List-Unsubscribe=One-Click`` there). No CSRF token: the token in the path is the secret.
No personal data is shown (not the address, not the endpoint).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from broadcaster.core.timeline import NotFound
from broadcaster.incidents import PublisherDep
from broadcaster.notify.api import SubscriptionsDep
from broadcaster.notify.subscriptions import Entry, Subscriptions
from broadcaster.web.deps import SettingsDep
from broadcaster.web.rendering import language, render

router = APIRouter(include_in_schema=False)


async def _entry(subs: Subscriptions, token: str) -> Entry:
    entry = await subs.by_token(token)
    if entry is None:
        raise HTTPException(404, "no such subscription: the link is not (or no longer) valid")
    return entry


async def _titles(publisher: Any, entries: list[Entry]) -> dict[str, str]:
    titles: dict[str, str] = {}
    for entry in entries:
        if entry.sub.incident is not None and entry.sub.incident not in titles:
            try:
                titles[entry.sub.incident] = (await publisher.get(entry.sub.incident)).title
            except NotFound:
                titles[entry.sub.incident] = entry.sub.incident
    return titles


@router.get("/subscriptions/confirm/{token}", response_class=HTMLResponse)
async def confirm_page(
    request: Request, token: str, subs: SubscriptionsDep, settings: SettingsDep, publisher: PublisherDep
) -> Response:
    """The link in the confirmation e-mail: says what would be sent and asks for one press of
    a button. Opening the link confirms nothing: mail scanners and link previews open links
    by themselves, and double opt-in means the person chose."""
    entry = await _entry(subs, token)
    context = {"sub": entry.sub, "ended": entry.removed is not None, "token": token,
               "titles": await _titles(publisher, [entry])}  # fmt: skip
    response = render(request, "notify/confirmed.html", context, settings)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@router.post("/subscriptions/confirm/{token}")
async def confirm(request: Request, token: str, subs: SubscriptionsDep, settings: SettingsDep) -> Response:
    """The button on that page: confirms (again is harmless), then shows the page, now confirmed."""
    entry = await _entry(subs, token)
    if entry.removed is None:
        await subs.confirm(entry.sub.id)
    lang = language(request, settings)
    return RedirectResponse(f"/subscriptions/confirm/{token}?lang={lang}", status_code=303)


@router.get("/subscriptions/{token}", response_class=HTMLResponse)
async def manage(
    request: Request, token: str, subs: SubscriptionsDep, settings: SettingsDep, publisher: PublisherDep
) -> Response:
    """Every subscription of the person this token belongs to, each with an end button."""
    entry = await _entry(subs, token)
    entries = await subs.of_subscriber(entry.subscriber)
    context = {
        "entries": entries,
        "token": token,
        "titles": await _titles(publisher, entries),
        "ended": request.query_params.get("ended") == "1",
    }
    response = render(request, "notify/manage.html", context, settings)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@router.post("/subscriptions/{token}/unsubscribe")
async def end(request: Request, token: str, subs: SubscriptionsDep, settings: SettingsDep) -> Response:
    """End the token's subscription (RFC 8058 one-click), or the one named by the form's
    ``id`` (one of the same person's), or all of them (``id=all``)."""
    entry = await _entry(subs, token)
    async with request.form(max_files=0, max_fields=5) as form:
        chosen = str(form.get("id") or "")[:64]
    if chosen == "all":
        for other in await subs.of_subscriber(entry.subscriber):
            await subs.remove(other.sub.id, "unsubscribed")
    elif chosen and chosen != entry.sub.id:
        mine = {e.sub.id for e in await subs.of_subscriber(entry.subscriber)}
        if chosen not in mine:
            raise HTTPException(404, "no such subscription")
        await subs.remove(chosen, "unsubscribed")
    else:
        await subs.remove(entry.sub.id, "unsubscribed")
    lang = language(request, settings)
    return RedirectResponse(f"/subscriptions/{token}?ended=1&lang={lang}", status_code=303)
