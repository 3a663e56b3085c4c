"""Templates: one Jinja environment, rendered per request in the reader's language."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import get_timezone_gmt, get_timezone_name
from fastapi import Request
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse

from broadcaster import i18n
from broadcaster.config import Settings
from broadcaster.core.events import parse_time, utc_now
from broadcaster.core.markdown import excerpt


def resource_dir(name: str) -> Path:
    """``templates/`` or ``static/``: inside the installed package (the wheel puts
    them there), else at the top of a source checkout."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / name, package.parent / name):
        if candidate.is_dir():
            return candidate
    raise RuntimeError(f"cannot find the {name}/ directory next to {package}")


templates = Jinja2Templates(
    env=Environment(
        loader=FileSystemLoader(resource_dir("templates")),
        extensions=["jinja2.ext.i18n"],
        autoescape=select_autoescape(["html", "xml"]),
    )
)
templates.env.install_null_translations(newstyle=True)  # type: ignore[attr-defined]  # per render: render()
templates.env.filters["excerpt"] = excerpt


def language(request: Request, settings: Settings) -> str:
    return i18n.negotiate(
        request.query_params.get("lang"), request.headers.get("accept-language"), settings.language
    )


class Clock:
    """Formats times for one reader: the incident's zone, the reader's language."""

    def __init__(self, zone: str, lang: str) -> None:
        self.zone = ZoneInfo(zone)
        self.lang = lang
        self.now = utc_now()

    def local(self, value: str) -> datetime:
        return parse_time(value).astimezone(self.zone)

    def time(self, value: str | None) -> str:
        """``17:37`` today, ``11月22日 17:37`` / ``22 Nov 17:37`` other days, the
        full date in another year."""
        if not value:
            return ""
        moment = self.local(value)
        today = self.now.astimezone(self.zone).date()
        if moment.date() == today:
            return moment.strftime("%H:%M")
        if moment.year != today.year:
            return self.full(value)
        if self.lang == "zh-CN":
            return f"{moment.month}月{moment.day}日 {moment:%H:%M}"
        return f"{moment.day} {moment:%b %H:%M}"

    def full(self, value: str | None) -> str:
        if not value:
            return ""
        moment = self.local(value)
        if self.lang == "zh-CN":
            return f"{moment.year}年{moment.month}月{moment.day}日 {moment:%H:%M}"
        return f"{moment.day} {moment:%b %Y %H:%M}"

    @property
    def zone_name(self) -> str:
        """The zone as a reader names it, with its offset now: ``中国时间 GMT+08:00`` /
        ``China Time GMT+08:00``; ``UTC`` for UTC."""
        if self.zone.key in {"UTC", "Etc/UTC", "Etc/GMT", "GMT"}:
            return "UTC"
        locale = i18n.babel_locale(self.lang)
        offset = get_timezone_gmt(self.now.astimezone(self.zone), locale=locale)
        name = get_timezone_name(self.zone, locale=locale)
        return f"{name} {offset}"

    def ago(self, value: str | None) -> str:
        return i18n.relative(parse_time(value), self.now, self.lang) if value else ""


def render(
    request: Request, name: str, context: dict[str, Any], settings: Settings, status: int = 200
) -> HTMLResponse:
    lang = language(request, settings)
    response: HTMLResponse = templates.TemplateResponse(
        request,
        name,
        {
            **i18n.template_callables(lang),
            "lang": lang,
            "languages": i18n.LANGUAGE_NAMES,
            "settings": settings,
            "clock": Clock(context.get("zone", settings.timezone), lang),
            **context,
        },
        status_code=status,
    )
    response.headers["Vary"] = "Accept-Language"
    return response
