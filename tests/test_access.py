"""Every route of the app, enumerated: writes refuse strangers, admin routes refuse operators.

The list comes from the app itself, so a route added later is checked without anyone
remembering to add it here. Only the few routes that must be public are named.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from broadcaster.app import create_app
from broadcaster.config import Settings
from tests.support.client import Api
from tests.support.server import ServerProcess, add_operator

READS = {"GET", "HEAD"}
# Writes anyone may make, by design. Citizens file reports without an account (rate-limited per
# address, with a honeypot on the form: tests/reports/test_reports.py checks both).
PUBLIC_WRITES = {
    ("POST", "/console/login"),
    ("POST", "/console/setup/{secret}"),
    ("POST", "/api/reports"),
    ("POST", "/reports/new"),
    # Readers ask questions the same way (tests/questions/test_questions.py checks both).
    ("POST", "/api/incidents/{incident_id}/questions"),
    ("POST", "/incidents/{incident_id}/questions"),
    # Following by Web Push or e-mail, and ending it with the secret token of every message
    # (tests/notify/test_api.py, tests/browser/test_follow_browser.py check them).
    ("POST", "/api/subscriptions"),
    ("POST", "/incidents/{incident_id}/follow"),
    ("DELETE", "/api/subscriptions/{token}"),
    ("POST", "/subscriptions/{token}/unsubscribe"),
    ("POST", "/subscriptions/confirm/{token}"),
}
ADMIN_CHECKS = {"_admin_actor", "_admin"}


def flatten(found: list[Any]) -> Iterator[APIRoute]:
    for route in found:
        inner = getattr(route, "original_router", None)  # an included router (FastAPI keeps them)
        if inner is not None:
            yield from flatten(inner.routes)
        elif isinstance(route, APIRoute):
            yield route


def routes() -> list[APIRoute]:
    app = create_app(Settings(backend="sqlite:////tmp/never-opened.db"))
    return list(flatten(app.routes))


def calls(dependant: Dependant) -> Iterator[str]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield getattr(sub.call, "__name__", "")
        yield from calls(sub)


def writes() -> list[tuple[str, str]]:
    found = sorted(
        (method, route.path) for route in routes() for method in route.methods - READS
    )  # fmt: skip
    return [w for w in found if w not in PUBLIC_WRITES]


def admin_routes() -> list[tuple[str, str]]:
    return sorted(
        (method, route.path)
        for route in routes()
        if ADMIN_CHECKS & set(calls(route.dependant))
        for method in route.methods
    )


def concrete(path: str, incident: str) -> str:
    return re.sub(r"\{[^}]+\}", lambda m: incident if m.group(0) == "{incident_id}" else "abc123", path)


def test_the_enumeration_sees_the_routes() -> None:
    found = writes()
    assert ("POST", "/api/incidents/{incident_id}/updates") in found
    assert ("POST", "/console/incidents/{incident_id}/updates") in found
    assert ("POST", "/api/reports/{code}/reply") in found
    assert ("POST", "/console/reports/{code}/reply") in found
    assert ("POST", "/api/reports") not in found  # public, listed above
    assert len(found) > 25
    assert ("GET", "/api/audit") in admin_routes()
    assert ("GET", "/console/admin/operators") in admin_routes()


@pytest.mark.parametrize(("method", "path"), writes())
async def test_every_write_refuses_anonymous_and_wrong_tokens(
    api: Api, sqlite_server: ServerProcess, method: str, path: str
) -> None:
    incident = await api.create()
    url = concrete(path, incident)
    before = (await api.http.get(f"/api/incidents/{incident}")).json()["seq"]
    async with httpx.AsyncClient(base_url=sqlite_server.url, follow_redirects=False) as stranger:
        for headers in ({}, {"Authorization": "Bearer 0000.0000.forged"}, {"Authorization": "Basic eDp5"}):
            answer = await stranger.request(method, url, headers=headers, json={"body": "x", "title": "x"})
            if path.startswith("/console"):
                assert answer.status_code == 303, (method, url, answer.status_code)
                assert answer.headers["location"].startswith("/console/login")
            else:
                assert answer.status_code == 401, (method, url, answer.status_code, answer.text)
                assert "detail" in answer.json()
    assert (await api.http.get(f"/api/incidents/{incident}")).json()["seq"] == before  # nothing written


@pytest.fixture(scope="module")
def operator_token(sqlite_url: str) -> str:
    return add_operator(sqlite_url, "plain-operator-for-access", admin=False)


@pytest.mark.parametrize(("method", "path"), [r for r in admin_routes() if r[1].startswith("/api")])
async def test_admin_api_routes_refuse_operators(
    sqlite_server: ServerProcess, operator_token: str, method: str, path: str
) -> None:
    async with httpx.AsyncClient(
        base_url=sqlite_server.url, headers={"Authorization": f"Bearer {operator_token}"}
    ) as operator:
        answer = await operator.request(method, concrete(path, "abc123"), json={"name": "x"})
    assert answer.status_code == 403, (method, path, answer.status_code)


def console_admin_paths() -> list[str]:
    return sorted(
        {r.path for r in routes() if r.path.startswith("/console") and ADMIN_CHECKS & set(calls(r.dependant))}
    )


def test_console_admin_pages_are_all_covered_elsewhere() -> None:
    # test_console.py::test_operators_cannot_reach_admin_pages_or_routes logs in as an operator and
    # tries these (the webhook pages: test_webhooks.py::test_console_and_giving_up_on_a_dead_endpoint);
    # a new admin page must be added there. The notifications' pause switch:
    # tests/notify/test_console_panel.py (403 for an operator, and a forged CSRF token). Templates:
    # tests/playbooks/test_console.py::test_templates_pages_are_for_administrators_with_csrf.
    assert console_admin_paths() == [
        "/console/admin/audit",
        "/console/admin/operators",
        "/console/admin/templates",
        "/console/admin/templates/new",
        "/console/admin/templates/{template_id}",
        "/console/admin/templates/{template_id}/delete",
        "/console/admin/templates/{template_id}/restore",
        "/console/admin/webhooks",
        "/console/admin/webhooks/{webhook_id}",
        "/console/admin/webhooks/{webhook_id}/delete",
        "/console/admin/webhooks/{webhook_id}/disable",
        "/console/admin/webhooks/{webhook_id}/enable",
        "/console/admin/webhooks/{webhook_id}/rotate-secret",
        "/console/notify/pause",
        "/console/notify/resume",
    ]
