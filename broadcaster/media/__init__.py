"""Photos: upload, checks and clean-up, storage, serving, and withdrawal."""

from __future__ import annotations

from broadcaster.media.photos import (
    ACCEPTED,
    MAX_BYTES,
    MAX_PHOTOS_PER_UPDATE,
    PhotoRejected,
    PhotoTooLarge,
    PhotoUnsupported,
)
from broadcaster.media.routes import MAX_UPLOAD_BODY, photo_entries, store_photo
from broadcaster.media.withdrawn import restore, withdraw

__all__ = [
    "ACCEPTED",
    "MAX_BYTES",
    "MAX_PHOTOS_PER_UPDATE",
    "MAX_UPLOAD_BODY",
    "PhotoRejected",
    "PhotoTooLarge",
    "PhotoUnsupported",
    "photo_entries",
    "restore",
    "store_photo",
    "withdraw",
]
