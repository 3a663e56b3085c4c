"""Feeds and embeds for media: an incident's folded state as Atom, JSON Feed, oEmbed.

Pure functions, no I/O: the web layer fetches the incident and picks the base URL
(scheme, host and root path the reader used, without a trailing slash). Times are
the RFC 3339 UTC strings already in the state. Everything an operator wrote (title,
summary, area, facts, reasons) comes out as text, never as markup; update bodies
come out as their sanitised HTML (see :mod:`broadcaster.core.markdown`).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html import escape
from html.parser import HTMLParser
from typing import Any

from broadcaster import __version__
from broadcaster.core.timeline import RESOLVED, Incident, Update
from broadcaster.core.types import JSON

ATOM_NS = "http://www.w3.org/2005/Atom"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
GENERATOR = "Incidents broadcaster"

TITLE_CHARS = 80
EMBED_WIDTH, EMBED_HEIGHT = 480, 600
OEMBED_CACHE_AGE = 300  # seconds; the snippet only changes when the incident is renamed

# Characters XML 1.0 cannot carry at all (most C0 controls, lone surrogates, U+FFFE/U+FFFF).
# The API accepts them inside JSON strings, so they are dropped here: one stray \x0b in a
# body must not make the whole feed unreadable for every subscriber.
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(text: str) -> str:
    """``text`` without the characters XML 1.0 does not allow."""
    return _NOT_XML.sub("", text)


# --- shared pieces ------------------------------------------------------------------


def _is_chinese(incident: Incident) -> bool:
    return incident.lang.lower().startswith("zh")


def feed_title(incident: Incident) -> str:
    """The incident's title, marked as a drill for ``exercise`` incidents."""
    if not incident.exercise:
        return incident.title
    return ("【演练】" if _is_chinese(incident) else "[EXERCISE] ") + incident.title


def timeline_url(incident: Incident, base_url: str) -> str:
    return f"{base_url}/incidents/{incident.id}"


def update_url(incident: Incident, update: Update, base_url: str) -> str:
    """Stable per update: the timeline page anchors every update as ``#u-{id}``."""
    return f"{timeline_url(incident, base_url)}#u-{update.id}"


def modified_at(update: Update) -> str:
    """When the update last changed. A retraction is final (nothing can follow it), so
    when present it is the latest; else the latest correction; else publication."""
    return update.retracted_at or update.corrected_at or update.published_at


class _TextOf(HTMLParser):
    """Collects the text of sanitised HTML (entities decoded)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def plain_text(html: str) -> str:
    """The text of an HTML fragment, tags dropped and entities decoded."""
    parser = _TextOf()
    parser.feed(html)
    parser.close()
    return "".join(parser.parts)


def _shorten(text: str, limit: int = TITLE_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def update_title(incident: Incident, update: Update) -> str:
    """The first line of the update as plain text, shortened; marked when withdrawn or corrected.

    Taken from the rendered HTML rather than the Markdown so that ``**bold**`` or
    ``### heading`` read as words, the way the timeline shows them.
    """
    lines = (" ".join(line.split()) for line in xml_text(plain_text(update.html)).splitlines())
    first = next((line for line in lines if line), "")
    zh = _is_chinese(incident)
    if update.question:  # a reader's question answered in public: titled by the question
        first = ("网友提问：" if zh else "A reader asked: ") + " ".join(xml_text(update.question).split())
    if not first:
        first = ("更新 " if zh else "Update ") + update.published_at
    if update.status == "retracted":
        first = ("【已撤回】" if zh else "[Withdrawn] ") + first
    elif update.status == "corrected":
        first = ("【更正】" if zh else "[Corrected] ") + first
    return _shorten(first)


def update_html(update: Update, base_url: str = "") -> str:
    """The update as a feed reader should show it: current text and photos, and in the
    open what was withdrawn or replaced (struck through, with the reason), as on the
    timeline. ``base_url`` makes the photos' addresses absolute."""
    parts: list[str] = []
    if update.question:  # the question as asked (no name), before the answer
        asked = escape(update.question)
        parts.append(f"<blockquote><p>网友提问 A reader asked:</p><p>{asked}</p></blockquote>")
        parts.append("<p><strong>答复 Our answer:</strong></p>")
    if update.retracted_at is not None:
        reason = escape(update.retraction_reason or "")
        parts.append(
            f'<p><strong>已撤回 Withdrawn</strong> <time datetime="{escape(update.retracted_at)}">'
            f"{escape(update.retracted_at)}</time> · 撤回原因 Reason: {reason}</p>"
        )
        parts.append(f"<del>{update.html}</del>")
    else:
        parts.append(update.html)
        for photo in update.photos:
            src, width, height = escape(base_url + photo["url"]), int(photo["width"]), int(photo["height"])
            parts.append(f'<p><img src="{src}" width="{width}" height="{height}" alt=""></p>')
        if update.next_update_at:
            when = escape(update.next_update_at)
            parts.append(f'<p>下次更新 Next update by <time datetime="{when}">{when}</time></p>')
    for rev in reversed(update.revisions):
        when = escape(rev.replaced_at)
        parts.append(
            f'<p>更正前原文 Text before the correction of <time datetime="{when}">{when}</time>'
            f" · 更正原因 Reason: {escape(rev.reason)}</p><del>{rev.html}</del>"
        )
    return "\n".join(parts)


def _description(incident: Incident) -> str:
    """Summary, area, facts and resolution as plain text lines."""
    lines = [incident.summary] if incident.summary else []
    if incident.area:
        lines.append(f"区域 Area: {incident.area}")
    lines.extend(
        f"{fact.get('label', '')}: {fact.get('value', '')}" for fact in incident.facts if fact.get("value")
    )
    if incident.state == RESOLVED:
        lines.append("已结束 Resolved" + (f": {incident.resolution}" if incident.resolution else ""))
    return "\n".join(lines)


# --- Atom 1.0 (RFC 4287) ------------------------------------------------------------


def _add(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    """A child element; every string passes :func:`xml_text`, so the tree always serialises
    to well-formed XML (ElementTree escapes markup but not forbidden characters)."""
    child = ET.SubElement(parent, tag, {name: xml_text(value) for name, value in attrs.items()})
    if text is not None:
        child.text = xml_text(text)
    return child


def atom_feed(incident: Incident, base_url: str, organisation: str) -> bytes:
    """The incident as an Atom 1.0 feed, one entry per update, newest first.

    Returns UTF-8 bytes with an XML declaration. An entry's ``updated`` moves when the
    update is corrected or retracted, so feed readers show it again.
    """
    page = timeline_url(incident, base_url)
    # The default namespace is written as a plain attribute rather than through
    # ET.register_namespace, which would change a process-wide table.
    feed = ET.Element("feed", {"xmlns": ATOM_NS, XML_LANG: xml_text(incident.lang)})
    _add(feed, "id", page)
    _add(feed, "title", feed_title(incident), type="text")
    description = _description(incident)
    if description:
        _add(feed, "subtitle", description, type="text")
    _add(feed, "updated", incident.updated_at or incident.opened_at)
    _add(feed, "link", rel="alternate", type="text/html", href=page)
    _add(feed, "link", rel="self", type="application/atom+xml", href=f"{page}/feed.atom")
    _add(feed, "link", rel="alternate", type="application/feed+json", href=f"{page}/feed.json")
    author = _add(feed, "author")
    _add(author, "name", organisation)
    _add(feed, "rights", f"© {organisation}", type="text")
    _add(feed, "generator", GENERATOR, version=__version__)
    for update in incident.updates_newest_first():
        entry = _add(feed, "entry")
        url = update_url(incident, update, base_url)
        _add(entry, "id", url)
        _add(entry, "title", update_title(incident, update), type="text")
        _add(entry, "link", rel="alternate", type="text/html", href=url)
        _add(entry, "published", update.published_at)
        _add(entry, "updated", modified_at(update))
        # type="html": the markup travels escaped inside the text, as RFC 4287 3.1.1.2 asks.
        _add(entry, "content", update_html(update, base_url), type="html")
    document: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return document


# --- JSON Feed 1.1 ------------------------------------------------------------------


def json_feed(incident: Incident, base_url: str, organisation: str) -> JSON:
    """The incident as a JSON Feed 1.1 object, items newest first.

    Extensions (keys starting with ``_``, as the spec allows): ``_incidents`` at the top
    (state, drill flag, seq, next promised update, area, facts) and per item (status,
    retraction reason, earlier texts).
    """
    page = timeline_url(incident, base_url)
    feed: JSON = {
        "version": JSON_FEED_VERSION,
        "title": feed_title(incident),
        "home_page_url": page,
        "feed_url": f"{page}/feed.json",
    }
    if incident.summary:
        feed["description"] = incident.summary
    feed["authors"] = [{"name": organisation}]
    feed["language"] = incident.lang
    feed["_incidents"] = {
        "state": incident.state,
        "exercise": incident.exercise,
        "seq": incident.seq,
        "next_update_at": incident.next_update_at,
        "area": incident.area,
        "facts": [dict(fact) for fact in incident.facts if fact.get("value")],
        "updated_at": incident.updated_at or incident.opened_at,
    }
    feed["items"] = [_json_item(incident, update, base_url) for update in incident.updates_newest_first()]
    return feed


def _json_item(incident: Incident, update: Update, base_url: str) -> JSON:
    url = update_url(incident, update, base_url)
    return {
        "id": url,
        "url": url,
        "title": update_title(incident, update),
        "content_html": update_html(update, base_url),
        "content_text": f"{update.question}\n\n{update.body}" if update.question else update.body,
        **(
            {"image": base_url + update.photos[0]["url"]} if update.photos and not update.retracted_at else {}
        ),
        "date_published": update.published_at,
        "date_modified": modified_at(update),
        "_incidents": {
            "status": update.status,
            "retraction_reason": update.retraction_reason,
            **({"question": update.question} if update.question else {}),
            "revisions": [
                {"body": r.body, "html": r.html, "replaced_at": r.replaced_at, "reason": r.reason}
                for r in update.revisions
            ],
        },
    }


# --- oEmbed 1.0 ---------------------------------------------------------------------


def oembed(
    incident: Incident, base_url: str, organisation: str, maxwidth: int | None, maxheight: int | None
) -> dict[str, Any]:
    """oEmbed 1.0 ``rich`` answer: an iframe of the compact timeline plus embed.js.

    The default size (480 x 600) shrinks to ``maxwidth`` / ``maxheight`` when given,
    as the spec requires; the iframe still narrows to its container (``width:100%``).

    Raises:
        ValueError: maxwidth or maxheight below 1.
    """
    for name, value in (("maxwidth", maxwidth), ("maxheight", maxheight)):
        if value is not None and value < 1:
            raise ValueError(f"{name} must be at least 1")
    width = min(EMBED_WIDTH, maxwidth) if maxwidth else EMBED_WIDTH
    height = min(EMBED_HEIGHT, maxheight) if maxheight else EMBED_HEIGHT
    title = feed_title(incident)
    src = f"{timeline_url(incident, base_url)}/embed"
    html = (
        f'<iframe class="incidents-embed" data-incident="{escape(incident.id)}" src="{escape(src)}" '
        f'title="{escape(title)}" width="{width}" height="{height}" loading="lazy" frameborder="0" '
        f'style="width:100%;max-width:{width}px;height:{height}px;border:0"></iframe>'
        f'<script async src="{escape(base_url)}/static/embed.js"></script>'
    )
    return {
        "version": "1.0",
        "type": "rich",
        "title": title,
        "provider_name": organisation,
        "provider_url": base_url,
        "html": html,
        "width": width,
        "height": height,
        "cache_age": OEMBED_CACHE_AGE,
    }
