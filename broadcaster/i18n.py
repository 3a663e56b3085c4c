"""Interface languages: Chinese (zh-CN) and English, from gettext message catalogs.

Templates are written with English message ids; ``locale/zh_CN/LC_MESSAGES/messages.po``
translates them. The catalogs are compiled in memory when first used (Babel reads the
``.po``), so there is no build step and no binary file in the repository. Extract new
strings with ``pybabel extract -F babel.cfg -o messages.pot .`` and merge with
``pybabel update``.
"""

from __future__ import annotations

import gettext
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Any

from babel import Locale
from babel.dates import format_timedelta
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup

LANGUAGES = ("zh-CN", "en")
DEFAULT = "zh-CN"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LANGUAGE_NAMES = {"zh-CN": "中文", "en": "English"}


def normalise(tag: str | None) -> str | None:
    """Map a language tag to a supported language (``zh``, ``zh-Hans-CN`` -> zh-CN)."""
    if not tag:
        return None
    primary = tag.strip().lower().replace("_", "-").split("-")[0]
    return {"zh": "zh-CN", "en": "en"}.get(primary)


def negotiate(query: str | None, accept_language: str | None, default: str = DEFAULT) -> str:
    """``?lang=`` wins, then the best ``Accept-Language`` entry we support, then the default."""
    chosen = normalise(query)
    if chosen:
        return chosen
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        language = normalise(tag)
        if language and quality > 0:
            ranked.append((-quality, position, language))
    return min(ranked)[2] if ranked else default


@cache
def translations(language: str) -> gettext.NullTranslations:
    """The catalog of a language (English needs none: the ids are English)."""
    po = LOCALE_DIR / language.replace("-", "_") / "LC_MESSAGES" / "messages.po"
    if not po.exists():
        return gettext.NullTranslations()
    with po.open("rb") as source:
        catalog = read_po(source, locale=language.replace("-", "_"))
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


@cache
def template_callables(language: str) -> dict[str, Callable[..., Any]]:
    """``gettext``/``ngettext``/``_`` for a render context, behaving like Jinja's
    newstyle gettext: variables are %-formatted in, escaping is respected."""
    catalog = translations(language)

    @pass_context
    def _gettext(context: Context, message: str, **variables: Any) -> str:
        text = catalog.gettext(message)
        if context.eval_ctx.autoescape:
            text = Markup(text)
        return text % variables if variables else text

    @pass_context
    def _ngettext(context: Context, singular: str, plural: str, n: int, **variables: Any) -> str:
        text = catalog.ngettext(singular, plural, n)
        if context.eval_ctx.autoescape:
            text = Markup(text)
        return text % {"num": n, **variables}

    @pass_context
    def _pgettext(context: Context, msgctxt: str, message: str, **variables: Any) -> str:
        """A message whose translation depends on where it stands ("Resolved": an incident
        has 已结束, a citizen's report 已办结)."""
        text = catalog.pgettext(msgctxt, message)
        if context.eval_ctx.autoescape:
            text = Markup(text)
        return text % variables if variables else text

    return {"gettext": _gettext, "_": _gettext, "ngettext": _ngettext, "pgettext": _pgettext}


def babel_locale(language: str) -> Locale:
    return Locale.parse(language.replace("-", "_"))


def relative(moment: datetime, now: datetime, language: str) -> str:
    """ "3 分钟前" / "3 minutes ago" (coarse, as the page refreshes it anyway)."""
    delta: timedelta = moment - now
    if abs(delta.total_seconds()) < 45:
        return translations(language).gettext("just now")
    return format_timedelta(delta, add_direction=True, locale=babel_locale(language), threshold=1.0)
