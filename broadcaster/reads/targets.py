"""Which requests the read path answers, and what each representation depends on.

Pure: a path and a query string in, a :class:`Target` (or None: FastAPI answers) out. Only
the query parameters a page reads are allowed; any other query goes to FastAPI uncached,
so that ``?x=<random>`` cannot fill the cache.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import parse_qsl

__all__ = ["Scope", "Target", "classify"]

ID = r"[A-Za-z0-9_-]{1,64}"
"""An incident id, as the API's path parameter allows."""


class Scope(StrEnum):
    """What a representation's version follows."""

    INCIDENT = "incident"  # the incident's log head
    ALL = "all"  # every incident's head (lists, indexes)


@dataclass(frozen=True, slots=True)
class Target:
    scope: Scope
    incident: str | None
    html: bool
    """HTML shows times as "17:37" today and with the date on other days: such pages also
    change with the clock (a representation is kept at most one minute)."""
    key: tuple[str, ...]
    """Path plus the allowed query parameters, sorted: what names the representation
    (the language and the coding are added by the caller)."""


_INCIDENT = re.compile(
    rf"^/(?:incidents/(?P<page>{ID})(?P<rest>|/embed|/feed\.atom|/feed\.json|/cap\.xml|/cap\.atom"
    rf"|/cap/\d{{1,12}}\.xml)|api/incidents/(?P<api>{ID}))$"
)
_PAGE_PARAMS = {"": {"lang", "before"}, "/embed": {"lang"}}
_GLOBAL: dict[str, tuple[set[str], bool]] = {
    "/": ({"lang"}, True),
    "/cap.atom": (set(), False),
    "/oembed": ({"url", "format", "maxwidth", "maxheight", "lang"}, False),
}
MAX_QUERY = 600


def _params(query: str, allowed: set[str]) -> tuple[str, ...] | None:
    """The query as sorted ``name=value`` pairs; None when it names anything else (or
    one name twice, or is too long to be a real link)."""
    if not query:
        return ()
    if len(query) > MAX_QUERY:
        return None
    pairs = parse_qsl(query, keep_blank_values=True)
    names = [name for name, _ in pairs]
    if len(set(names)) != len(names) or not set(names) <= allowed:
        return None
    return tuple(sorted(f"{name}={value}" for name, value in pairs))


@functools.lru_cache(maxsize=4096)
def classify(path: str, query: str) -> Target | None:
    """The target of a GET/HEAD, or None when the read path does not cache it (remembered:
    a storm asks for the same few links)."""
    found = _GLOBAL.get(path)
    if found is not None:
        params = _params(query, found[0])
        return None if params is None else Target(Scope.ALL, None, found[1], (path, *params))
    if not path.startswith(("/incidents/", "/api/incidents/")):
        return None
    match = _INCIDENT.match(path)
    if match is None:
        return None
    incident = match["page"] or match["api"]
    rest = match["rest"] if match["page"] else None
    allowed = _PAGE_PARAMS.get(rest, {"lang"}) if rest is not None else set()
    params = _params(query, allowed)
    if params is None:
        return None
    html = rest in _PAGE_PARAMS
    return Target(Scope.INCIDENT, incident, html, (path, *params))
