"""The app factory: settings -> backend -> hub + publisher -> routes."""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

from broadcaster import __version__, maps, metrics
from broadcaster.accounts import credentials as accounts
from broadcaster.accounts.operators import has_operators
from broadcaster.accounts.ratelimit import RateLimited
from broadcaster.accounts.session import CsrfFailed, Forbidden, LoginRequired
from broadcaster.config import Settings
from broadcaster.console import admin as console_admin
from broadcaster.console import auth as console_auth
from broadcaster.console import workspace as console
from broadcaster.console.labels import action_label, cap_label
from broadcaster.console.problems import problem
from broadcaster.core import text
from broadcaster.core.addresses import AddressList, TrustedProxies
from broadcaster.core.timeline import NotFound, RuleViolation
from broadcaster.incidents import api, pages
from broadcaster.incidents import schedules_api as schedules
from broadcaster.incidents.publishing import IdempotencyMismatch, Publisher
from broadcaster.incidents.scheduling import Scheduler
from broadcaster.live import routes as live
from broadcaster.live.hub import Hub
from broadcaster.live.presence import Presence
from broadcaster.media import photos
from broadcaster.media import routes as media
from broadcaster.notify import StatusReader, begin_now, follow_pages
from broadcaster.notify import api as notify_api
from broadcaster.notify import console as notify_console
from broadcaster.notify import pages as notify_pages
from broadcaster.notify.dispatch import Notifier
from broadcaster.notify.subscriptions import Subscriptions
from broadcaster.notify.vapid import load_vapid
from broadcaster.playbooks import admin as playbook_admin
from broadcaster.playbooks import api as playbook_api
from broadcaster.playbooks import opening as playbook_opening
from broadcaster.playbooks.library import Library as Playbooks
from broadcaster.questions import api as question_api
from broadcaster.questions import console as question_console
from broadcaster.questions import pages as question_pages
from broadcaster.questions.board import Questions
from broadcaster.reads.assets import Assets
from broadcaster.reads.door import ReadDoor
from broadcaster.reads.health import LIVE, readiness
from broadcaster.reads.versions import Versions, VersionTap
from broadcaster.reports import api as report_api
from broadcaster.reports import console as report_console
from broadcaster.reports import live as report_live
from broadcaster.reports import pages as report_pages
from broadcaster.reports.desk import ReportDesk
from broadcaster.reports.rules import FieldProblem
from broadcaster.stores import open_backend
from broadcaster.stores.base import BackendError
from broadcaster.syndication import cap_routes
from broadcaster.syndication import feed_routes as feeds
from broadcaster.web.error_pages import error_page, error_response, too_large_page, wants_page
from broadcaster.web.forwarded import ForwardedFor
from broadcaster.web.limits import BodyLimit
from broadcaster.web.rendering import resource_dir, templates
from broadcaster.web.security import SecurityHeaders
from broadcaster.webhooks import routes as webhook_routes
from broadcaster.webhooks.delivery import Deliverer

log = logging.getLogger("incidents")

SWITCH_INTERVAL = 0.0005
"""Seconds the event loop's thread may hold the GIL while another thread waits (Python's
default: 5 ms). While the loop fans an update out to thousands of sockets, the store's
thread (SQLite) needs the GIL a dozen times per append; at 5 ms a wait, an operator's POST
took 150-200 ms at 10,000 readers."""


def _too_large_page(scope: Scope, limit: int) -> bytes | None:
    # A route that takes photos is limited by the photo (the form says "up to 10 MB"), not by
    # the envelope around it.
    return too_large_page(scope, min(limit, photos.MAX_BYTES))


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    proxies = TrustedProxies(settings.forwarded_allow_ips)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        sys.setswitchinterval(SWITCH_INTERVAL)
        backend = open_backend(settings.backend)
        await backend.start()
        hub = Hub(backend, settings.live_queue)
        app.state.backend, app.state.hub = backend, hub
        app.state.secret = await accounts.server_secret(backend, settings.secret_key)
        app.state.publisher = publisher = Publisher(backend)
        app.state.scheduler = scheduler = Scheduler(backend, publisher)
        app.state.schedules = scheduler.schedules
        app.state.reports = ReportDesk(backend, settings.report_prefix)
        app.state.questions = Questions(app.state.reports, publisher)
        app.state.playbooks = Playbooks(backend)  # incident templates, in the store
        await scheduler.start()
        app.state.subscriptions = Subscriptions(backend, settings)
        app.state.vapid = await load_vapid(backend, settings)
        app.state.deliverer = deliverer = Deliverer(backend, settings)
        app.state.webhooks = deliverer.webhooks
        app.state.versions = versions = Versions(backend, settings.read_freshness)
        heard = VersionTap(deliverer.tap(hub), versions)  # cached pages follow what this process hears
        backend.set_listener(heard)  # the hub hears everything, webhooks wake at once
        await deliverer.start()
        notifier: Notifier | None = None
        if settings.notify_process == "inline":
            notifier = Notifier(backend, settings, app.state.subscriptions, app.state.vapid)
            backend.set_listener(notifier.tap(heard))  # notifications wake at once too
            await notifier.start()
        # Else the notifier process sends (broadcaster/notify/process.py): the console reads
        # its figures from the store.
        if notifier is None:
            await begin_now(backend, settings)
        app.state.notifier = notifier or StatusReader(backend, settings)
        app.state.presence = presence = Presence(backend, hub)  # watchers across processes
        await presence.start()
        app.state.notify_panel = notify_console.Panel(app.state)
        for warning in await backend.warnings():
            log.warning("%s", warning)
        if not await has_operators(backend):
            log.warning(
                "no operators yet: run `incidents operator add NAME --admin --backend %s`: it prints an "
                "API token (use it as `Authorization: Bearer TOKEN`) and a link to set a console password",
                settings.backend,
            )
        log.info("backend %s ready", settings.backend)
        try:
            # Lifespan state reaches uvicorn's protocols: the live sockets find the hub here.
            yield {
                "hub": hub,
                "live_buffer": settings.live_queue * 2048,
                "live_per_address": settings.live_per_address,
                "proxies": proxies,  # whose X-Forwarded-For names a live socket's client
            }
        finally:
            if notifier is not None:
                await notifier.aclose()
            await presence.aclose()
            await deliverer.aclose()
            await scheduler.aclose()
            await hub.aclose()
            await backend.close()

    app = FastAPI(
        title="Incidents broadcaster",
        version=__version__,
        description="Rolling timelines (滚动播报) of incidents, live. See CONTRACT.md.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    uploads = {
        "/api/photos": max(settings.max_body_bytes, media.MAX_UPLOAD_BODY),
        # A console post carries up to six photos of 10 MB each.
        "/console/incidents/[^/]+/updates": photos.MAX_PHOTOS_PER_UPDATE * media.MAX_UPLOAD_BODY,
        # A citizen's report may carry one photo.
        "/reports/new|/api/reports": max(settings.max_body_bytes, media.MAX_UPLOAD_BODY),
    }
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes, larger=uploads, page=_too_large_page)
    tiles = maps.tile_origin(settings.map_tiles)
    app.add_middleware(SecurityHeaders, images=tiles)
    # Static files, read and compressed once; pages link them by fingerprinted URL. The one
    # Jinja environment is shared by every app of the process: they all load the same static/.
    app.state.assets = assets = Assets(resource_dir("static"), images=tiles)
    templates.env.globals["static_url"] = assets.url
    # The console's words: CAP values as labels, refusals in the operator's language.
    templates.env.globals.update(cap_label=cap_label, action_label=action_label, problem=problem)
    # Outermost: hot public reads never reach the route table (broadcaster/reads/).
    door_bytes = settings.read_cache_mb * 1024 * 1024
    app.add_middleware(ReadDoor, state=app.state, max_bytes=door_bytes, images=tiles)
    if proxies:  # outermost: every limit and log below sees the client behind the proxy
        app.add_middleware(ForwardedFor, proxies=proxies)
    _add_error_handlers(app)
    _declare_plain_errors(app)
    app.include_router(api.router)
    app.include_router(live.router)
    app.include_router(pages.router)
    app.include_router(feeds.router)
    app.include_router(cap_routes.router)
    app.include_router(media.router)
    app.include_router(schedules.router)
    app.include_router(console_admin.api)
    app.include_router(console_auth.router)
    app.include_router(playbook_api.api)
    app.include_router(playbook_opening.router)  # before the workspace's /console/incidents/{id}
    app.include_router(console.router)
    app.include_router(playbook_admin.router)
    app.include_router(console_admin.router)
    app.include_router(webhook_routes.api)
    app.include_router(webhook_routes.router)
    app.include_router(report_api.router)
    app.include_router(report_live.router)
    app.include_router(report_pages.router)
    app.include_router(report_console.router)
    app.include_router(question_api.router)
    app.include_router(question_pages.router)
    app.include_router(question_console.router)
    app.include_router(notify_api.router)
    app.include_router(notify_pages.router)
    app.include_router(follow_pages.router)
    app.include_router(notify_console.router)
    app.mount("/static", assets.serve, name="static")

    @app.get("/healthz", tags=["operations"], summary="Liveness")
    async def healthz() -> dict[str, str]:
        return dict(LIVE[1])  # answered by broadcaster/reads/door.py; here for the schema

    @app.get(
        "/readyz", tags=["operations"], summary="Readiness: the store answers and live fan-out is linked"
    )
    async def readyz(request: Request) -> JSONResponse:
        status, answer = await readiness(request.app.state.backend)
        return JSONResponse(answer, status, {"Retry-After": "2"} if status != 200 else None)

    readers = AddressList(settings.metrics_allow)

    @app.get(
        "/metrics",
        tags=["operations"],
        summary="Prometheus metrics of this process (only for INCIDENTS_METRICS_ALLOW)",
        responses={403: {"description": "the client's address is not in INCIDENTS_METRICS_ALLOW"}},
    )
    async def prometheus(request: Request) -> Response:
        client = request.client.host if request.client else ""
        if client not in readers:
            detail = f"/metrics is not open to {client or 'this client'}: see INCIDENTS_METRICS_ALLOW"
            return JSONResponse({"detail": detail}, 403)
        return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)

    return app


def _declare_plain_errors(app: FastAPI) -> None:
    """The schema's 422 says what the API answers: ``detail`` is either FastAPI's list of
    field errors or, for a rule checked in a route (a blank Idempotency-Key, a time in
    the past), one sentence."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            found = schema.get("components", {}).get("schemas", {}).get("HTTPValidationError")
            if found is not None:
                listed = found["properties"]["detail"]
                found["properties"]["detail"] = {
                    "title": "Detail",
                    "anyOf": [{k: v for k, v in listed.items() if k != "title"}, {"type": "string"}],
                }
        return app.openapi_schema or generate()

    app.openapi = openapi  # type: ignore[method-assign]


def _add_error_handlers(app: FastAPI) -> None:
    """Every error is a status with a sentence: JSON for API clients, a page in the
    reader's language for a browser (:mod:`broadcaster.web.error_pages`)."""

    def handler(status: int) -> object:
        async def handle(request: Request, exc: Exception) -> Response:
            return error_response(request, status, str(exc))

        return handle

    async def invalid(request: Request, exc: Exception) -> Response:
        """FastAPI's 422, except that the input it echoes may hold lone surrogates
        (JSON ``"\\ud800"``), which UTF-8 cannot encode: they come back as U+FFFD."""
        assert isinstance(exc, RequestValidationError)
        if wants_page(request.scope):
            return error_page(request, 422)
        return JSONResponse({"detail": _encodable(jsonable_encoder(exc.errors()))}, 422)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if wants_page(request.scope):
            return error_page(request, exc.status_code, headers=exc.headers)
        return await http_exception_handler(request, exc)

    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(NotFound, handler(404))  # type: ignore[arg-type]
    app.add_exception_handler(RuleViolation, handler(409))  # type: ignore[arg-type]
    app.add_exception_handler(IdempotencyMismatch, handler(422))  # type: ignore[arg-type]
    app.add_exception_handler(FieldProblem, handler(422))  # type: ignore[arg-type]

    async def limited(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RateLimited)
        headers = {"Retry-After": str(exc.retry_after)}
        return error_response(request, 429, str(exc), headers, retry_after=exc.retry_after)

    app.add_exception_handler(RateLimited, limited)

    async def unavailable(request: Request, exc: Exception) -> Response:
        log.warning("backend unavailable: %s", exc)
        detail = "the store is unavailable; nothing was changed, try again shortly"
        return error_response(request, 503, detail, {"Retry-After": "2"})

    async def crashed(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        if wants_page(request.scope):
            return error_page(request, 500)
        return PlainTextResponse('{"detail":"internal error"}', 500, media_type="application/json")

    async def login_first(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LoginRequired)
        return RedirectResponse(f"/console/login?next={quote(exc.next_path)}", status_code=303)

    async def refused(request: Request, exc: Exception) -> Response:
        if wants_page(request.scope):
            return error_page(request, 403)
        return PlainTextResponse(str(exc), 403)

    app.add_exception_handler(LoginRequired, login_first)
    app.add_exception_handler(Forbidden, refused)
    app.add_exception_handler(CsrfFailed, refused)
    app.add_exception_handler(BackendError, unavailable)
    app.add_exception_handler(Exception, crashed)


def _encodable(value: Any) -> Any:
    """``value`` (JSON-like) with every lone surrogate in its strings and keys replaced."""
    if isinstance(value, str):
        return text.replace_surrogates(value)
    if isinstance(value, list):
        return [_encodable(item) for item in value]
    if isinstance(value, dict):
        return {_encodable(key): _encodable(item) for key, item in value.items()}
    return value
