"""Moving and keeping data: ``incidents export``, ``incidents import``, ``incidents migrate``.

An export is JSON Lines (UTF-8), one object per line, in this order:

* a header: ``{"format": "incidents-export", "version": 1, "source": URL, "exported_at": T,
  "kinds": [...], "not_carried": [...]}`` (a password in the URL is masked);
* every document: ``{"doc": KEY, "value": {...}}``;
* every blob: ``{"blob": KEY, "type": MIME, "sha256": HEX, "data": BASE64}``;
* every log: ``{"log": "KIND:ID", "kind": KIND, "created": UNIX, "head": N, "count": N,
  "sha256": HEX, "idem": {KEY: SEQ}}`` followed by its events, ascending:
  ``{"event": "KIND:ID", "seq": N, "text": TEXT}`` where TEXT is the event exactly as stored
  (seq and ``at`` included), so an import stores the same bytes; a log trimmed by
  :meth:`~broadcaster.stores.base.Backend.trim` (a webhook's delivery log) starts above
  seq 1, so its ``count`` is below its ``head``;
* an end line with the totals: ``{"end": {"logs": N, "events": N, "docs": N, "blobs": N}}``.
  A file without it was cut short and is refused.

A log's ``sha256`` is taken over its events' texts in seq order, each followed by a newline
(:func:`log_digest`); ``import`` and ``migrate`` verify the copy with it, per log.

What is carried: every log of every kind (incidents, audit, schedules, reports, and any other
kind found in the store) with each event's text, seq and the log's idempotency keys; every
document (operators and their hashed tokens and passwords, ``server:secret``, photo entries,
setup links, login-limit counters); every blob (photos and thumbnails). What is not: claims
(short-lived locks, taken again by whoever needs them) and documents' version numbers (a CAS
token only: an imported document starts at version 1).

The backend interface can append events (which stamps a new ``at``) but cannot store one as
given, nor list kinds, documents, blobs or idempotency keys. So this package knows how each
backend lays its data out, in one small adapter per backend (``layouts.py``: :class:`SQLiteLayout`,
:class:`RedisLayout`): they list what is stored and write logs as they were; documents and
blobs are read and written through the normal backend. A change to a backend's layout must be
mirrored in its adapter here (``tests/stores/test_transfer.py`` round-trips both).
"""

from __future__ import annotations

from broadcaster.stores.transfer.commands import add_parsers, main

__all__ = ["add_parsers", "main"]
