"""An index of CAP messages: Atom 1.0 entries linking to them, as alert aggregators read.

Pure, no I/O. One entry per message (see :mod:`broadcaster.syndication.cap`), newest first; each
links to its stable CAP document (``/incidents/{id}/cap/{seq}.xml``, ``application/cap+xml``)
and to the incident's timeline.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass

from broadcaster.core import timeline as tl
from broadcaster.core.events import parse_time
from broadcaster.core.timeline import Incident
from broadcaster.core.types import JSON
from broadcaster.syndication import cap
from broadcaster.syndication.cap import MEDIA_TYPE, Source, Stamp, add
from broadcaster.syndication.feeds import GENERATOR

ATOM_NS = "http://www.w3.org/2005/Atom"


@dataclass(frozen=True, slots=True)
class Entry:
    """A message as an index lists it (see :func:`atom_index`)."""

    incident: str
    stamp: Stamp
    sent: str
    headline: str
    summary: str


def entries(events: Sequence[JSON], source: Source) -> list[Entry]:
    """Every message of the incident, oldest first, as an index lists it."""
    stamps = {stamp.seq: stamp for stamp in cap.history(events)}
    found: list[Entry] = []
    incident: Incident | None = None
    for event in events:
        incident = tl.apply(incident, event)
        stamp = stamps.get(event["seq"])
        if stamp is None:
            continue
        update = cap.subject(incident, event)
        summary = "\n".join(cap.lead(incident, event, update, incident.lang))
        title = cap.headline(incident, event, incident.lang)
        found.append(Entry(incident.id, stamp, cap.sent_time(stamp.at, source.zone), title, summary))
    return found


def atom_index(entries: Sequence[Entry], title: str, feed_url: str, updated: str, source: Source) -> bytes:
    """An Atom 1.0 feed of CAP messages, as alert aggregators read one: an entry per
    message, newest first, linking to its CAP document (``application/cap+xml``).

    ``updated`` is the feed's time when it has no entries.
    """
    feed = ET.Element("feed", {"xmlns": ATOM_NS})
    ordered = sorted(entries, key=lambda e: (parse_time(e.sent), e.stamp.seq), reverse=True)
    add(feed, "id", feed_url)
    add(feed, "title", title, type="text")
    add(feed, "updated", ordered[0].sent if ordered else updated)
    add(feed, "link", rel="self", type="application/atom+xml", href=feed_url)
    author = add(feed, "author")
    add(author, "name", source.organisation)
    add(feed, "generator", GENERATOR)
    for entry in ordered:
        url = cap.message_url(source.base_url, entry.incident, entry.stamp.seq)
        item = add(feed, "entry")
        add(item, "id", url)
        add(item, "title", entry.headline, type="text")
        add(item, "updated", entry.sent)
        add(item, "published", entry.sent)
        add(item, "category", term=entry.stamp.msg_type, label="CAP msgType")
        add(item, "summary", entry.summary, type="text")
        add(item, "link", rel="alternate", type=MEDIA_TYPE, href=url)
        page = f"{source.base_url}/incidents/{entry.incident}"
        add(item, "link", rel="related", type="text/html", href=page)
    document: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return document
