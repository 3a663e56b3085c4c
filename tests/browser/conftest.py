"""Browser fixtures: Debian's Chromium driven by Playwright (async API), one browser per test.

A browser per test (about half a second) keeps every test on pytest-asyncio's default
function-scoped loop, the same loop as the ``api`` fixture it usually also uses.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from playwright.async_api import Browser, async_playwright, expect

from tests.browser.support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    DESKTOP,
    NewPage,
    StaticServer,
    Tab,
    Viewport,
    open_tab,
)
from tests.support.server import ServerProcess, scaled

expect.set_options(timeout=scaled(5) * 1000)  # expect()'s own default is 5 s, unscaled


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not CHROMIUM.is_file():
        # Locally a skip; in CI the top-level conftest turns any skip into a failure.
        pytest.skip(
            f"{CHROMIUM} is missing: apt-get install chromium fonts-noto-cjk, or set INCIDENTS_TEST_CHROMIUM"
        )
    return str(CHROMIUM)


@pytest.fixture
async def browser(chromium_path: str) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium_path, args=CHROMIUM_ARGS, timeout=scaled(30) * 1000
        )
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
async def new_page(browser: Browser, sqlite_server: ServerProcess) -> AsyncIterator[NewPage]:
    """``await new_page(lang="zh-CN", viewport=DESKTOP, java_script_enabled=True, base_url=None, **ctx)``.

    Returns a ``Tab`` (``.page``, ``.console_errors``, ``.page_errors``, ``.dialogs``,
    ``.failed_requests``, ``.assert_clean()``), each in its own context; relative URLs go to
    ``base_url``, by default the ``sqlite_server``. All are closed at teardown.
    """
    tabs: list[Tab] = []

    async def factory(
        lang: str = "zh-CN",
        viewport: Viewport = DESKTOP,
        java_script_enabled: bool = True,
        base_url: str | None = None,
        **context_options: Any,
    ) -> Tab:
        tab = await open_tab(
            browser,
            base_url=base_url or sqlite_server.url,
            lang=lang,
            viewport=viewport,
            java_script_enabled=java_script_enabled,
            **context_options,
        )
        tab.context.set_default_timeout(scaled(10) * 1000)
        tabs.append(tab)
        return tab

    yield factory
    for tab in tabs:
        await tab.context.close()


@pytest.fixture
async def tab(new_page: NewPage) -> Tab:
    """One zh-CN desktop tab on the ``sqlite_server``."""
    return await new_page()


@pytest.fixture(scope="session")
def other_origin_server() -> Iterator[StaticServer]:
    """Static pages of another site (``http://newsroom.test:PORT`` in the test browser)."""
    with StaticServer() as server:
        yield server
