"""Photos attached to updates ("有图有真相"): checked, cleaned and resized, from bytes alone.

Pure: no I/O besides Pillow working on the bytes it is given (the web layer stores the
result, see :mod:`broadcaster.media.routes`).

What :func:`process` guarantees about what it returns:

* the type was read from the content, never from a file name or a declared type, and only
  JPEG, PNG and WebP are decoded at all (fewer decoders reachable by uploads);
* no metadata survives: the output is encoded from pixels alone, so EXIF (camera, GPS
  position of the operator), XMP, ICC profiles, comments and PNG text chunks are gone;
  the EXIF orientation is applied to the pixels first, so the photo still stands upright;
* two renditions: ``display`` (longest side at most :data:`DISPLAY_SIDE`) and ``thumb``
  (at most :data:`THUMB_SIDE`); never enlarged.
* format: JPEG (quality :data:`QUALITY`, progressive), except for images with real
  transparency (some pixel not fully opaque), which become WebP with alpha, so a map or
  diagram with a transparent background does not turn black or white. Both renditions of
  one photo share its format.
* ``id`` is derived from the display bytes, so the same upload gives the same id and
  what is stored under an id never changes (it can be cached forever).
"""

from __future__ import annotations

import hashlib
import io
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar, cast

from PIL import Image, ImageOps, UnidentifiedImageError

MAX_BYTES = 10 * 1024 * 1024
"""The largest upload accepted, in bytes (phones produce 2-8 MB photos)."""
MAX_PHOTOS_PER_UPDATE = 6
MAX_PIXELS = 40_000_000
"""Width x height refused beyond this, before anything is decoded: a small file can
declare a huge image (a "decompression bomb") that would take gigabytes to decode.
Above any phone camera in use (a 200 MP sensor writes 12.5 MP photos by default)."""
DISPLAY_SIDE = 1600
THUMB_SIDE = 480
QUALITY = 82
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP")
ACCEPTED = "JPEG, PNG or WebP"
CONTENT_TYPES = {"JPEG": "image/jpeg", "WEBP": "image/webp"}

T = TypeVar("T")


class PhotoRejected(ValueError):
    """The upload is not used; ``str(exc)`` is a message for the operator."""


class PhotoTooLarge(PhotoRejected):
    """Too many bytes or too many pixels (the web layer answers 413)."""


class PhotoUnsupported(PhotoRejected):
    """Not a JPEG, PNG or WebP image, or a damaged one (the web layer answers 415)."""


@dataclass(frozen=True, slots=True)
class Rendition:
    """One encoded version of a photo."""

    data: bytes
    content_type: str  # image/jpeg or image/webp
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class ProcessedPhoto:
    """A cleaned photo, ready to store: what :func:`process` returns."""

    id: str  # first 24 hex digits of the SHA-256 of display.data
    display: Rendition
    thumb: Rendition
    source_format: str  # what the upload was: "JPEG", "PNG" or "WEBP"

    @property
    def extension(self) -> str:
        """``jpg`` or ``webp``: the file extension of both renditions."""
        return "webp" if self.display.content_type == "image/webp" else "jpg"


def process(data: bytes) -> ProcessedPhoto:
    """Check an uploaded photo and make its clean display and thumbnail versions.

    Raises:
        PhotoTooLarge: more than :data:`MAX_BYTES` bytes or :data:`MAX_PIXELS` pixels.
        PhotoUnsupported: not a JPEG, PNG or WebP image (by its content), or damaged.
    """
    if len(data) > MAX_BYTES:
        # No size in the message: the web layer reads at most MAX_BYTES + 1 of the upload.
        raise PhotoTooLarge(
            f"the photo is larger than {MAX_BYTES // 1024 // 1024} MB ({MAX_BYTES} bytes), the most"
            " one upload may be; send a smaller photo"
        )
    # verify() checks the file's structure (PNG chunk checksums, for one) without
    # decoding, and leaves the image unusable: the decode below opens it again.
    with _open(data) as probe:
        source_format = str(probe.format)
        _decoding(probe.verify)
    with _open(data) as image:
        if image.format == "JPEG":
            # Let the JPEG decoder scale down by 2, 4 or 8 while decoding, keeping both
            # sides >= DISPLAY_SIDE: a 24 MP photo then decodes at half size, in a
            # quarter of the time and memory.
            image.draft(None, (DISPLAY_SIDE, DISPLAY_SIDE))
        _decoding(image.load)
        upright = _decoding(lambda: ImageOps.exif_transpose(image))
    pixels = _normalise(upright)
    fmt = "WEBP" if pixels.mode == "RGBA" else "JPEG"
    display = _resized(pixels, DISPLAY_SIDE)
    thumb = _resized(display, THUMB_SIDE)
    shown = _encode(display, fmt)
    return ProcessedPhoto(
        id=hashlib.sha256(shown.data).hexdigest()[:24],
        display=shown,
        thumb=_encode(thumb, fmt),
        source_format=source_format,
    )


def _open(data: bytes) -> Image.Image:
    """Open (read the header only) as one of the accepted formats, refusing bombs."""
    try:
        image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except UnidentifiedImageError:
        raise PhotoUnsupported(
            f"this file is not a {ACCEPTED} image (the type is read from the file's content,"
            f" not its name); accepted: {ACCEPTED}"
        ) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # Pillow's own, larger limits: an error past 2x its MAX_IMAGE_PIXELS, a
        # warning past 1x (raised as an exception where warnings are errors).
        raise _too_many_pixels() from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise _damaged(exc) from None
    width, height = image.size
    if width * height > MAX_PIXELS:
        image.close()
        raise _too_many_pixels(width, height)
    return image


def _decoding(step: Callable[[], T]) -> T:
    """Run a Pillow step; a damaged or truncated file becomes PhotoUnsupported."""
    try:
        return step()
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as exc:
        raise _damaged(exc) from None


def _normalise(image: Image.Image) -> Image.Image:
    """RGBA if some pixel is not fully opaque, else RGB (CMYK, palette, grey alike)."""
    if image.has_transparency_data:
        rgba = image.convert("RGBA")
        low, _ = cast(tuple[int, int], rgba.getchannel("A").getextrema())  # one band: (min, max)
        if low < 255:
            return rgba
        return rgba.convert("RGB")  # an alpha channel that is opaque everywhere
    return image.convert("RGB")


def _resized(image: Image.Image, side: int) -> Image.Image:
    """A copy whose longest side is at most ``side`` (aspect ratio kept, never enlarged)."""
    copy = image.copy()
    copy.thumbnail((side, side), Image.Resampling.LANCZOS)
    return copy


def _encode(image: Image.Image, fmt: str) -> Rendition:
    # A new image made from the pixels alone has no info: Pillow writes some metadata
    # from ``image.info`` when saving (a JPEG comment, PNG's ICC profile), so the only
    # sure way to write none is to have none.
    bare = Image.frombytes(image.mode, image.size, image.tobytes())
    out = io.BytesIO()
    if fmt == "JPEG":
        bare.save(out, "JPEG", quality=QUALITY, optimize=True, progressive=True)
    else:
        bare.save(out, "WEBP", quality=QUALITY, method=4)
    return Rendition(out.getvalue(), CONTENT_TYPES[fmt], *bare.size)


def _too_many_pixels(width: int | None = None, height: int | None = None) -> PhotoTooLarge:
    size = f" is {width} x {height} pixels," if width and height else " has"
    return PhotoTooLarge(
        f"the photo{size} more than the limit of {MAX_PIXELS // 1_000_000} megapixels; send a smaller photo"
    )


def _damaged(exc: BaseException) -> PhotoUnsupported:
    return PhotoUnsupported(
        f"the image is damaged or incomplete ({exc}); send the photo again, as {ACCEPTED}"
    )
