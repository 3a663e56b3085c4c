"""Errors: a page in the reader's language for a browser, the JSON ``detail`` for everyone else.

The status code is the same either way; the page tells what happened, whether anything
was lost, and where to go on; it never shows the technical detail or a traceback.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support.client import Api
from tests.support.console import Browser
from tests.support.server import ServerProcess, add_operator_with_link, scaled

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.fixture
async def http(sqlite_server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sqlite_server.url, timeout=scaled(20)) as client:
        yield client


def assert_page(answer: httpx.Response, status: int, *words: str) -> None:
    assert answer.status_code == status, answer.text[:300]
    assert answer.headers["content-type"].startswith("text/html"), answer.headers["content-type"]
    assert answer.headers["cache-control"] == "no-store"
    assert answer.text.startswith("<!doctype html>")
    for word in words:
        assert word in answer.text, (word, answer.text[:600])
    assert "detail" not in answer.text and "Traceback" not in answer.text
    assert "content-security-policy" in answer.headers


@pytest.mark.parametrize("path", ["/incidents/0123456789", "/no/such/page", "/reports/ZZ-AAAA-AAAA"])
async def test_a_missing_page_is_a_page_in_the_readers_language(http: httpx.AsyncClient, path: str) -> None:
    chinese = await http.get(path, headers=BROWSER)
    if path.startswith("/reports/"):  # the report lookup answers with its own form
        assert chinese.status_code == 404 and "<form" in chinese.text
        return
    assert_page(chinese, 404, "找不到页面", 'lang="zh-CN"', 'href="/?lang=zh-CN"', "错误 404")
    english = await http.get(path, params={"lang": "en"}, headers=BROWSER)
    assert_page(english, 404, "Page not found", 'lang="en"', "All incidents", "Error 404")
    by_header = await http.get(path, headers={**BROWSER, "Accept-Language": "en-GB,en;q=0.9"})
    assert_page(by_header, 404, "Page not found")


@pytest.mark.parametrize("path", ["/incidents/0123456789", "/no/such/page", "/api/incidents/0123456789"])
async def test_api_clients_and_scripts_get_json(http: httpx.AsyncClient, path: str) -> None:
    for headers in ({}, {"Accept": "application/json"}, {"Accept": "*/*"}):
        answer = await http.get(path, headers=headers)
        assert answer.status_code == 404
        assert answer.headers["content-type"] == "application/json"
        assert isinstance(answer.json()["detail"], str)
    # An API path stays JSON even for a browser.
    if path.startswith("/api/"):
        answer = await http.get(path, headers=BROWSER)
        assert answer.status_code == 404 and "detail" in answer.json()


async def test_an_invalid_address_is_a_page(http: httpx.AsyncClient) -> None:
    answer = await http.get("/incidents/not-an-id!/embed", headers={**BROWSER, "Accept-Language": "en"})
    assert_page(answer, 422, "Not understood", "Error 422")
    plain = await http.get("/incidents/not-an-id!/embed")
    assert plain.status_code == 422 and isinstance(plain.json()["detail"], list)


async def test_an_oversized_report_form_is_a_page_and_the_api_stays_json(http: httpx.AsyncClient) -> None:
    too_big = b"x" * (12 * 1024 * 1024)
    files = {"photo": ("big.jpg", too_big, "image/jpeg")}
    data = {"title": "路灯不亮", "body": "文化路路灯全灭", "location": "文化路"}
    page = await http.post("/reports/new", params={"lang": "en"}, data=data, files=files, headers=BROWSER)
    assert_page(page, 413, "Too large", "larger than 10 MB", "Nothing was saved", "Back button")
    chinese = await http.post("/reports/new", data=data, files=files, headers=BROWSER)
    assert_page(chinese, 413, "内容过大", "没有保存任何内容")
    api = await http.post("/api/reports", data=data, files=files, headers=BROWSER)
    assert api.status_code == 413 and "larger than" in api.json()["detail"]


async def test_the_console_shows_its_errors_as_pages_with_a_way_back(
    sqlite_server: ServerProcess, sqlite_url: str
) -> None:
    _, link = add_operator_with_link(sqlite_url, "错误页值班员", True, sqlite_server.url)
    console = Browser(sqlite_server.url)
    try:
        assert (await console.setup(link)).status_code == 303
        headers = {**BROWSER, "Accept-Language": "en"}
        missing = await console.http.get("/console/reports/ZZ-AAAA-AAAA", headers=headers)
        assert_page(missing, 404, "Page not found", 'href="/console"', "Back to the console")
        gone = await console.http.get("/console/incidents/0123456789", headers=headers)
        assert_page(gone, 404, "Back to the console")
        # A form post without its CSRF token: refused, as a page, nothing changed.
        forged = await console.http.post("/console/incidents", data={"title": "x"}, headers=headers)
        assert_page(forged, 403, "Not allowed", "Nothing was changed")
        # The same refusal to a script stays plain.
        plain = await console.http.post("/console/incidents", data={"title": "x"})
        assert plain.status_code == 403 and "<html" not in plain.text
    finally:
        await console.aclose()


async def test_json_errors_keep_their_shape(http: httpx.AsyncClient, api: Api) -> None:
    """What API clients parse did not change: 401 and a rule's 404 say one sentence, 422 lists
    field errors, 405 names the method; a browser's Accept header changes none of it on /api/."""
    anonymous = await http.post("/api/incidents", json={"title": "x"}, headers=BROWSER)
    assert anonymous.status_code == 401 and "token" in anonymous.json()["detail"]
    invalid = await api.http.post("/api/incidents", json={"title": 5}, headers=BROWSER)
    assert invalid.status_code == 422
    assert [e["loc"] for e in invalid.json()["detail"]] == [["body", "title"]]
    wrong = await http.delete("/healthz")
    assert wrong.status_code == 405 and json.loads(wrong.text) == {"detail": "Method Not Allowed"}
