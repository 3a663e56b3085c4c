"""Photos: operators upload them (``POST /api/photos``), everyone fetches them (``/media/...``).

An upload is checked and cleaned by :mod:`broadcaster.media.photos` (type from the content,
metadata stripped, resized) and stored as two blobs, ``photo:{ID}`` and ``photo:{ID}:thumb``.
IDs are content hashes, so a stored photo never changes: ``/media`` answers may be cached
forever. Attaching photos to updates is up to the update itself (it carries photo IDs).
"""

from __future__ import annotations

import asyncio
import logging
import re
import weakref
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from broadcaster.accounts import OperatorDep
from broadcaster.core.types import JSON
from broadcaster.media import photos
from broadcaster.media import withdrawn as withdrawn_photos
from broadcaster.stores.base import Backend
from broadcaster.web.deps import BackendDep

log = logging.getLogger(__name__)

router = APIRouter(tags=["photos"])

UPLOAD_PATH = "/api/photos"
MAX_UPLOAD_BODY = 11 * 1024 * 1024
"""The request body limit this route needs (BodyLimit): a photo of photos.MAX_BYTES plus
the multipart envelope (boundaries, part headers, a long file name)."""
PROCESSING_SLOTS = 2
"""Photos decoded at once per process: decoding a 40 MP PNG takes ~160 MB, so a burst of
uploads queues here instead of exhausting memory; it also leaves cores for live delivery."""
PHOTO_ID = re.compile(r"[0-9a-f]{24}")
MEDIA_NAME = re.compile(r"([0-9a-f]{24})(\.thumb)?\.(jpg|webp)")
EXTENSIONS = {"image/jpeg": "jpg", "image/webp": "webp"}
IMMUTABLE = "public, max-age=31536000, immutable"

_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()

UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": f"one {photos.ACCEPTED} image, at most {photos.MAX_BYTES} bytes",
                        }
                    },
                }
            }
        },
    }
}


def _processing_slots() -> asyncio.Semaphore:
    # One semaphore per event loop: an asyncio.Semaphore belongs to the loop it first
    # waits on, and an app may be served by more than one loop (tests, in-process clients).
    loop = asyncio.get_running_loop()
    slots = _slots.get(loop)
    if slots is None:
        slots = _slots[loop] = asyncio.Semaphore(PROCESSING_SLOTS)
    return slots


async def store_photo(backend: Backend, data: bytes) -> JSON:
    """Clean, resize and store a photo; its entry as updates carry it.

    Raises:
        photos.PhotoRejected: too large, not an image, or not JPEG/PNG/WebP.
    """
    async with _processing_slots():
        # Decoding and encoding take up to a second of CPU: off the event loop.
        photo = await run_in_threadpool(photos.process, data)
    # The thumbnail first: once the display version exists, so does its thumbnail.
    key = f"photo:{photo.id}"
    await backend.put_blob(f"{key}:thumb", photo.thumb.data, photo.thumb.content_type)
    await backend.put_blob(key, photo.display.data, photo.display.content_type)
    ext = photo.extension
    entry: JSON = {
        "id": photo.id,
        "url": f"/media/{photo.id}.{ext}",
        "thumb_url": f"/media/{photo.id}.thumb.{ext}",
        "width": photo.display.width,
        "height": photo.display.height,
    }
    # Same content, same id: a second upload of it finds the entry there already.
    await backend.put_doc(key, entry, expect_version=0)
    return entry


async def photo_entries(backend: Backend, ids: list[str]) -> list[JSON]:
    """The stored entries of uploaded photos, in order.

    Raises:
        ValueError: an id names no uploaded photo.
    """
    found = []
    for photo_id in ids:
        doc = await backend.get_doc(f"photo:{photo_id}") if PHOTO_ID.fullmatch(photo_id) else None
        if doc is None:
            raise ValueError(f"no uploaded photo {photo_id}: upload it to /api/photos first")
        found.append(doc.value)
    return found


@router.post(
    UPLOAD_PATH,
    status_code=201,
    summary="Upload a photo (multipart/form-data, field `file`)",
    openapi_extra=UPLOAD_BODY,
    responses={
        413: {"description": f"larger than {photos.MAX_BYTES} bytes or {photos.MAX_PIXELS} pixels"},
        415: {"description": f"not a {photos.ACCEPTED} image (judged by content), or damaged"},
    },
)
async def upload_photo(request: Request, operator: OperatorDep, backend: BackendDep) -> JSONResponse:
    """Store a cleaned photo; answers ``{"photo": {"id", "url", "thumb_url", "width", "height"}}``.

    The form is parsed here, after the operator's token was checked (declaring the file
    as a parameter would make FastAPI read and spool the whole upload first).
    """
    async with request.form(max_files=1, max_fields=10) as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise HTTPException(422, "send the photo as multipart/form-data, in a file field named `file`")
        # One byte past the limit is enough to know it is too large.
        data = await upload.read(photos.MAX_BYTES + 1)
    try:
        entry = await store_photo(backend, data)
    except photos.PhotoTooLarge as exc:
        raise HTTPException(413, str(exc)) from None
    except photos.PhotoUnsupported as exc:
        raise HTTPException(415, str(exc)) from None
    log.info("photo %s (%d bytes) uploaded by %s", entry["id"], len(data), operator.name)
    body = {"photo": entry}
    return JSONResponse(body, 201)


@router.get(
    "/media/{name}",
    summary="A stored photo: `ID.jpg`, `ID.thumb.jpg` (or `.webp` for photos with transparency)",
    response_class=Response,
    responses={
        200: {"content": {"image/jpeg": {}, "image/webp": {}}},
        404: {},
        410: {"description": "withdrawn"},
    },
)
async def media(name: str, backend: BackendDep) -> Response:
    """The photo's bytes with their type, cacheable forever (the name is a content hash).

    ``X-Content-Type-Options: nosniff`` comes with every response (SecurityHeaders).
    """
    # Only names this module hands out reach the store: no other key can be read here.
    match = MEDIA_NAME.fullmatch(name)
    if match is None:
        raise HTTPException(404, "no such photo")
    photo_id, thumb, ext = match.groups()
    found = await backend.get_blob(f"photo:{photo_id}:thumb" if thumb else f"photo:{photo_id}")
    if found is not None and found[1] == withdrawn_photos.WITHDRAWN:
        raise HTTPException(410, "this photo was withdrawn", headers={"Cache-Control": "no-store"})
    # One URL per photo: the extension must be the stored type's (no .webp for a JPEG).
    if found is None or EXTENSIONS.get(found[1]) != ext:
        raise HTTPException(404, "no such photo")
    data, content_type = found
    return Response(data, media_type=content_type, headers={"Cache-Control": IMMUTABLE})
