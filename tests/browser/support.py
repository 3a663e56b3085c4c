"""Browser-test helpers: Chromium through Playwright, a page of another origin, axe-core, screenshots.

Chromium is Debian's (``/usr/bin/chromium``, or ``INCIDENTS_TEST_CHROMIUM``), never a Playwright
download. axe-core comes from npm into ``tests/browser/node_modules`` (``./scripts/test`` installs it).
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self, TypedDict

from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Dialog, Page, Request
from playwright.async_api import Error as PlaywrightError

HERE = Path(__file__).resolve().parent
CHECKOUT = HERE.parents[1]
SCREENSHOTS = CHECKOUT / "screenshots"
AXE_JS = HERE / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = Path(os.environ.get("INCIDENTS_TEST_CHROMIUM", "/usr/bin/chromium"))

# A name that resolves to loopback inside the test browser only: pages served from it are another
# *site* than the server under test (127.0.0.1), as a newsroom embedding our timeline would be.
OTHER_HOST = "newsroom.test"

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Without these Chromium phones home at start-up, and this machine's closed network refuses it.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    f"--host-resolver-rules=MAP {OTHER_HOST} 127.0.0.1",
]


# Chromium asks every page for /favicon.ico (unless it links an icon) and logs the 404 as a console
# error; that is not the page's doing, so it is not held against it.
IGNORED_CONSOLE_URLS = re.compile(r"/favicon\.ico$")


class Viewport(TypedDict):
    width: int
    height: int


PHONE: Viewport = {"width": 390, "height": 844}
DESKTOP: Viewport = {"width": 1280, "height": 900}


def accept_language(lang: str) -> str:
    """``zh-CN`` -> ``zh-CN,zh;q=0.9`` (what a browser set to that language sends)."""
    base = lang.split("-")[0]
    return lang if base == lang else f"{lang},{base};q=0.9"


@dataclass
class Tab:
    """A page in its own browser context, with everything it reported.

    ``dialogs`` holds ``"alert: text"`` for every alert/confirm/prompt the page opened (each is
    dismissed): an XSS test asserts it stays empty. ``failed_requests`` holds ``"URL: reason"``.
    """

    page: Page
    context: BrowserContext
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        return [
            *(f"console error: {m}" for m in self.console_errors),
            *(f"page error: {m}" for m in self.page_errors),
            *(f"dialog: {m}" for m in self.dialogs),
            *(f"request failed: {m}" for m in self.failed_requests),
        ]

    def assert_clean(self) -> None:
        """No console error, uncaught exception, dialog or failed request so far."""
        problems = self.problems()
        assert not problems, "\n".join(problems)

    def _watch(self) -> None:
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        self.page.on("dialog", self._on_dialog)
        self.page.on("requestfailed", self._on_request_failed)

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        url = message.location.get("url", "")
        if IGNORED_CONSOLE_URLS.search(url):
            return
        failed_load = "Failed to load resource" in message.text  # its URL is only in the location
        self.console_errors.append(f"{message.text} ({url})" if failed_load else message.text)

    async def _on_dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        with contextlib.suppress(PlaywrightError):  # the page may be closing
            await dialog.dismiss()

    def _on_request_failed(self, request: Request) -> None:
        self.failed_requests.append(f"{request.url}: {request.failure}")


# The ``new_page`` fixture: ``await new_page(lang=..., viewport=..., java_script_enabled=..., base_url=...)``.
NewPage = Callable[..., Awaitable[Tab]]


async def open_tab(
    browser: Browser,
    *,
    base_url: str,
    lang: str = "zh-CN",
    viewport: Viewport = DESKTOP,
    java_script_enabled: bool = True,
    **context_options: Any,
) -> Tab:
    """A fresh context (no shared cookies or storage) with one page, in ``lang``.

    Narrow viewports (< 600 px) get ``is_mobile`` and ``has_touch`` unless given. Other keyword
    arguments go to ``Browser.new_context`` (``color_scheme``, ``reduced_motion``, ...).
    """
    phone = viewport["width"] < 600
    options: dict[str, Any] = {
        "base_url": base_url,
        "locale": lang,
        "viewport": viewport,
        "java_script_enabled": java_script_enabled,
        "extra_http_headers": {"Accept-Language": accept_language(lang)},
        "timezone_id": "Asia/Shanghai",
        "is_mobile": phone,
        "has_touch": phone,
        **context_options,
    }
    context = await browser.new_context(**options)
    tab = Tab(page=await context.new_page(), context=context)
    tab._watch()
    return tab


class _QuietHandler(SimpleHTTPRequestHandler):
    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class StaticServer:
    """Static files from a temp dir over HTTP on a free loopback port, in a thread.

    ``url`` uses ``OTHER_HOST`` (another site than the server under test, in the test browser
    only); ``loopback_url`` is the same server as ``http://127.0.0.1:PORT`` (for httpx etc.).
    """

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="incidents-other-origin-"))
        handler = functools.partial(_QuietHandler, directory=str(self.root))
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="other-origin", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{OTHER_HOST}:{self.port}"

    @property
    def loopback_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def write(self, name: str, content: str) -> str:
        """Write ``name`` (may contain ``/``) under the root; returns its URL."""
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
        return f"{self.url}/{name}"

    def host_page(self, name: str, body: str, *, title: str = "新闻 News", lang: str = "zh-CN") -> str:
        """A complete HTML page around ``body`` (raw HTML); returns its URL."""
        page = (
            f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<link rel="icon" href="data:,">'
            f"<title>{title}</title></head><body><main>{body}</main></body></html>"
        )
        return self.write(name, page)

    def embed_page(self, name: str, src: str, *, height: int = 480, title: str = "滚动播报") -> str:
        """A newsroom article with an ``<iframe src=src>`` (id ``embed``); returns its URL."""
        body = (
            "<h1>文化路自来水爆管 最新消息</h1><p>本报讯 以下为官方滚动播报：</p>"
            f'<iframe id="embed" src="{src}" title="{title}" width="100%" height="{height}" '
            'style="border:0"></iframe><p>（完）</p>'
        )
        return self.host_page(name, body)

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@functools.cache
def _axe_source() -> str:
    if not AXE_JS.is_file():
        raise RuntimeError(f"{AXE_JS} is missing: run ./scripts/test (installs axe-core)")
    return AXE_JS.read_text(encoding="utf-8")


async def axe(
    page: Page, *, context: Any = None, options: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Run axe-core on the page as it is now; returns its ``violations``.

    Injected through DevTools, so a page's Content-Security-Policy does not stop it. axe is injected
    into every frame (cross-origin ones included) and checks them too unless ``options`` says
    ``{"iframes": False}``. ``context`` is axe's include/exclude (e.g. ``"#timeline"``).
    """
    # axe only answers frames of its own origin unless told otherwise: an embed is another origin.
    source = _axe_source() + "\n;axe.configure({allowedOrigins: ['<unsafe_all_origins>']});"
    for frame in page.frames:
        if frame != page.main_frame and not frame.is_detached():
            with contextlib.suppress(PlaywrightError):  # the frame navigated or went away meanwhile
                await frame.evaluate(source)
    await page.evaluate(source)
    results: dict[str, Any] = await page.evaluate(
        "([context, options]) => axe.run(context ?? document, options)",
        [context, {"resultTypes": ["violations"], **(options or {})}],
    )
    violations: list[dict[str, Any]] = results["violations"]
    return violations


def serious(violations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Only the ``serious`` and ``critical`` ones."""
    return [v for v in violations if v.get("impact") in {"serious", "critical"}]


def describe(violations: list[dict[str, Any]], nodes: int = 3) -> str:
    """Readable lines for an assertion message: rule, impact, help, a few offending elements."""
    lines = [f"{len(violations)} axe violation(s)"]
    for v in violations:
        targets = ", ".join(" ".join(map(str, n["target"])) for n in v["nodes"][:nodes])
        more = f" (+{len(v['nodes']) - nodes} more)" if len(v["nodes"]) > nodes else ""
        lines.append(f"- {v['id']} [{v.get('impact')}] {v['help']}: {targets}{more}  {v['helpUrl']}")
    return "\n".join(lines)


async def screenshot(page: Page, name: str, *, full_page: bool = True) -> Path:
    """Save ``<checkout>/screenshots/NAME.png`` (overwritten each run); returns the path."""
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / (re.sub(r"[^\w.-]+", "-", name).strip("-") + ".png")
    await page.screenshot(path=str(path), full_page=full_page, animations="disabled", caret="hide")
    return path
