"""Taking a stored photo off the web, and putting it back.

A citizen's report can carry a photo; when an operator hides the report (spam, abuse,
someone's private data), its photo must stop being served too, not only the report page.
Photos are stored as blobs ``photo:{ID}`` and ``photo:{ID}:thumb`` (see
:mod:`broadcaster.media.routes`). Withdrawing keeps each one under ``withdrawn:photo:...``
and puts an empty blob of type :data:`WITHDRAWN` in its place, so ``/media`` answers
410 Gone without a second read per request; restoring (the report shown again) copies
them back. Both are safe to repeat and to resume after a crash: the copy is made before
the original is blanked, and an original already blanked is never copied over the copy.

IDs are content hashes: the same image posted in an update is the same photo, and is
withdrawn with it. Browsers and proxies that already fetched it may keep their copy
(``/media`` answers are cacheable).
"""

from __future__ import annotations

from broadcaster.stores.base import Backend

WITHDRAWN = "application/x-withdrawn"


def _keys(photo_id: str) -> list[str]:
    return [f"photo:{photo_id}:thumb", f"photo:{photo_id}"]


async def withdraw(backend: Backend, photo_id: str) -> bool:
    """Stop serving the photo; True if something was withdrawn now."""
    changed = False
    for key in _keys(photo_id):
        found = await backend.get_blob(key)
        if found is None or found[1] == WITHDRAWN:
            continue
        await backend.put_blob(f"withdrawn:{key}", *found)
        await backend.put_blob(key, b"", WITHDRAWN)
        changed = True
    return changed


async def restore(backend: Backend, photo_id: str) -> bool:
    """Serve a withdrawn photo again; True if something was restored now."""
    changed = False
    for key in reversed(_keys(photo_id)):  # the display version last, as when stored
        found = await backend.get_blob(key)
        kept = await backend.get_blob(f"withdrawn:{key}")
        if found is None or found[1] != WITHDRAWN or kept is None:
            continue
        await backend.put_blob(key, *kept)
        changed = True
    return changed
