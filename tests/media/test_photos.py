"""Photos: the pure checks and clean-up of broadcaster.media.photos, then upload and serving
through a real server (POST /api/photos, GET /media/...). Every image is made here."""

from __future__ import annotations

import hashlib
import io
import random
import struct
import zlib
from typing import Any

import httpx
import pytest
from PIL import ExifTags, Image, ImageCms
from PIL.PngImagePlugin import PngInfo

from broadcaster.media import photos
from broadcaster.media.photos import PhotoTooLarge, PhotoUnsupported, process
from tests.support.client import Api
from tests.support.server import ServerProcess

RED, BLUE = (255, 0, 0), (0, 0, 255)
SECRETS = [b"secret-comment", b"secret-xmp", b"SecretCam", b"ICC_PROFILE", b"Exif\x00\x00"]
ALLOWED_JPEG_INFO = {"jfif", "jfif_version", "jfif_unit", "jfif_density", "progressive", "progression"}


def encode(image: Image.Image, fmt: str, **options: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def halves(
    size: tuple[int, int], left: tuple[int, ...], right: tuple[int, ...], mode: str = "RGB"
) -> Image.Image:
    """An image whose left half is ``left`` and right half ``right`` (orientation is visible)."""
    image = Image.new(mode, size, left)
    image.paste(right, (size[0] // 2, 0, size[0], size[1]))
    return image


def unique(size: tuple[int, int] = (640, 480)) -> Image.Image:
    """An image no other test uploads (so its id is not in the store yet)."""
    rng = random.Random()
    colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
    return halves(size, colour, (255 - colour[0], rng.randrange(256), rng.randrange(256)))


def phone_jpeg(image: Image.Image) -> bytes:
    """A JPEG as a phone writes it: EXIF with GPS position and orientation 6 (the
    camera was turned 90° clockwise), an ICC profile, XMP and a comment."""
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    exif[ExifTags.Base.Make] = "SecretCam"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (34.0, 45.0, 36.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (113.0, 39.0, 0.0)
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = encode(
        image, "JPEG", exif=exif, icc_profile=icc, comment=b"secret-comment",
        xmp=b'<x:xmpmeta xmlns:x="adobe:ns:meta/">secret-xmp</x:xmpmeta>',
    )  # fmt: skip
    with Image.open(io.BytesIO(data)) as check:  # the input really carries all of it
        assert check.getexif().get_ifd(ExifTags.IFD.GPSInfo)[ExifTags.GPS.GPSLatitudeRef] == "N"
        assert {"exif", "icc_profile", "xmp", "comment"} <= set(check.info)
    return data


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` (a decompression bomb's shape)."""
    data = bytearray(encode(Image.new("L", (1, 1)), "PNG"))
    header = struct.pack(">II", width, height) + data[24:29]  # IHDR: size, then depth, colour...
    data[16:29] = header
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + header))
    return bytes(data)


def jpeg_markers(data: bytes) -> list[int]:
    """The markers of a JPEG's segments up to its first scan (where metadata lives)."""
    assert data[:2] == b"\xff\xd8"
    markers, at = [], 2
    while data[at + 1] != 0xDA:  # SOS: entropy-coded data follows
        assert data[at] == 0xFF
        markers.append(data[at + 1])
        at += 2 + struct.unpack(">H", data[at + 2 : at + 4])[0]
    return markers


def assert_no_metadata(data: bytes) -> None:
    for secret in SECRETS:
        assert secret not in data
    with Image.open(io.BytesIO(data)) as image:
        assert not image.getexif()
        assert not {"exif", "xmp", "icc_profile", "comment", "XML:com.adobe.xmp"} & set(image.info)
        if image.format == "JPEG":
            assert set(image.info) <= ALLOWED_JPEG_INFO, image.info
            # APP1..APP15 (EXIF, XMP, ICC, vendor data) and COM segments: none at all.
            assert not [m for m in jpeg_markers(data) if 0xE1 <= m <= 0xEF or m == 0xFE]


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def close_to(pixel: Any, colour: tuple[int, ...], tolerance: int = 12) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=True))


# --- pure: broadcaster.media.photos ----------------------------------------------------------


def test_phone_jpeg_is_turned_upright_and_loses_every_piece_of_metadata() -> None:
    # Stored 400x200, red left, blue right; orientation 6 means: show it turned 90°
    # clockwise, i.e. 200x400 with red on top.
    photo = process(phone_jpeg(halves((400, 200), RED, BLUE)))
    for rendition in (photo.display, photo.thumb):
        assert rendition.content_type == "image/jpeg"
        assert_no_metadata(rendition.data)
        image = opened(rendition.data)
        assert image.format == "JPEG"
        assert image.size == (rendition.width, rendition.height)
        assert image.height == 2 * image.width
        assert close_to(image.getpixel((image.width // 2, image.height // 10)), RED)
        assert close_to(image.getpixel((image.width // 2, image.height * 9 // 10)), BLUE)
    assert (photo.display.width, photo.display.height) == (200, 400)
    assert photo.source_format == "JPEG"
    assert photo.extension == "jpg"


def test_png_is_accepted_and_becomes_a_clean_progressive_jpeg() -> None:
    source = halves((300, 200), RED, BLUE)
    info = PngInfo()
    info.add_text("Author", "SecretCam")
    photo = process(encode(source, "PNG", pnginfo=info))
    assert photo.source_format == "PNG"
    assert photo.display.content_type == "image/jpeg"
    assert_no_metadata(photo.display.data)
    image = opened(photo.display.data)
    assert image.size == (300, 200)
    assert image.info.get("progressive") == 1
    assert close_to(image.getpixel((10, 100)), RED)
    assert close_to(image.getpixel((290, 100)), BLUE)


def test_webp_is_accepted() -> None:
    photo = process(encode(halves((300, 200), RED, BLUE), "WEBP", quality=90))
    assert photo.source_format == "WEBP"
    assert photo.display.content_type == "image/jpeg"
    assert close_to(opened(photo.display.data).getpixel((290, 100)), BLUE)


def test_transparency_is_kept_as_webp_with_alpha() -> None:
    clear = (0, 0, 255, 0)
    photo = process(encode(halves((300, 200), (255, 0, 0, 255), clear, mode="RGBA"), "PNG"))
    assert photo.extension == "webp"
    for rendition in (photo.display, photo.thumb):
        assert rendition.content_type == "image/webp"
        assert_no_metadata(rendition.data)
        image = opened(rendition.data)
        assert image.format == "WEBP"
        assert image.mode == "RGBA"
        assert image.getpixel((image.width - 5, 5))[3] == 0
        assert image.getpixel((5, 5))[3] == 255


def test_an_alpha_channel_opaque_everywhere_gives_a_jpeg() -> None:
    photo = process(encode(halves((300, 200), (255, 0, 0, 255), (0, 0, 255, 255), mode="RGBA"), "PNG"))
    assert photo.display.content_type == "image/jpeg"
    assert photo.thumb.content_type == "image/jpeg"


@pytest.mark.parametrize(
    ("size", "display", "thumb"),
    [
        ((4000, 3000), (1600, 1200), (480, 360)),
        ((3000, 4000), (1200, 1600), (360, 480)),
        ((6400, 4800), (1600, 1200), (480, 360)),  # decoded at half size (JPEG draft)
        ((800, 600), (800, 600), (480, 360)),  # never enlarged
        ((300, 200), (300, 200), (300, 200)),
    ],
)
def test_display_and_thumbnail_sizes(
    size: tuple[int, int], display: tuple[int, int], thumb: tuple[int, int]
) -> None:
    photo = process(encode(halves(size, RED, BLUE), "JPEG"))
    assert (photo.display.width, photo.display.height) == display
    assert (photo.thumb.width, photo.thumb.height) == thumb
    assert opened(photo.display.data).size == display
    assert opened(photo.thumb.data).size == thumb


def test_id_is_the_hash_of_the_display_bytes_and_repeatable() -> None:
    data = encode(unique(), "PNG")
    photo = process(data)
    assert photo.id == hashlib.sha256(photo.display.data).hexdigest()[:24]
    assert process(data) == photo  # same upload, same bytes and id: safe to store again
    assert process(encode(unique(), "PNG")).id != photo.id


def test_gif_is_refused_naming_the_accepted_types() -> None:
    with pytest.raises(PhotoUnsupported) as refused:
        process(encode(halves((60, 40), RED, BLUE), "GIF"))
    assert "JPEG, PNG or WebP" in str(refused.value)


@pytest.mark.parametrize(
    "data",
    [
        "现场照片.jpg: not a photo at all\n".encode(),
        b"",
        b"\xff\xd8\xff\xe0" + b"\x00" * 64,  # a JPEG's first bytes, then nothing sensible
        b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>",
    ],
    ids=["text", "empty", "jpeg-magic-only", "svg"],
)
def test_what_is_not_an_accepted_image_is_refused(data: bytes) -> None:
    with pytest.raises(PhotoUnsupported) as refused:
        process(data)
    assert "JPEG, PNG or WebP" in str(refused.value)


def test_truncated_jpeg_is_refused_as_damaged() -> None:
    whole = encode(Image.effect_noise((800, 600), 40).convert("RGB"), "JPEG")
    with pytest.raises(PhotoUnsupported) as refused:
        process(whole[: len(whole) // 2])
    assert "damaged or incomplete" in str(refused.value)


def test_more_than_10_mb_is_refused_before_looking_at_the_content() -> None:
    padded = encode(halves((60, 40), RED, BLUE), "JPEG")
    padded += b"\x00" * (photos.MAX_BYTES + 1 - len(padded))  # decoders ignore what follows
    with pytest.raises(PhotoTooLarge) as refused:
        process(padded)
    assert "10 MB" in str(refused.value)
    # Exactly the limit is allowed: the same padded photo, one byte shorter, is accepted.
    assert process(padded[:-1]).display.width == 60


@pytest.mark.parametrize(
    "size",
    [
        (8000, 6000),  # 48 MP: only our limit refuses it (under Pillow's own)
        (10_000, 10_000),  # past Pillow's warning threshold (an error under pytest)
        (100_000, 100_000),  # past Pillow's error threshold
        (1, 50_000_000),  # few bytes per row, still too many pixels
    ],
)
def test_decompression_bomb_is_refused_before_decoding(size: tuple[int, int]) -> None:
    with pytest.raises(PhotoTooLarge) as refused:
        process(png_claiming(*size))
    assert "40 megapixels" in str(refused.value)


def test_at_the_pixel_limit_is_accepted() -> None:
    # 8000 x 5000 = exactly 40 MP (mostly one colour, so the PNG stays small).
    photo = process(encode(Image.new("L", (8000, 5000), 128), "PNG"))
    assert (photo.display.width, photo.display.height) == (1600, 1000)


# --- through the server: POST /api/photos, GET /media/{name} --------------------------


async def upload(client: httpx.AsyncClient, data: bytes, name: str = "IMG_0001.jpg",
                 content_type: str = "image/jpeg") -> httpx.Response:  # fmt: skip
    return await client.post("/api/photos", files={"file": (name, data, content_type)})


def detail(answer: httpx.Response, status: int) -> str:
    assert answer.status_code == status, (answer.status_code, answer.text)
    assert answer.headers["content-type"].startswith("application/json")
    text = answer.json()["detail"]
    assert isinstance(text, str)
    return text


async def test_upload_answers_201_and_media_serves_the_clean_photo(api: Api) -> None:
    data = phone_jpeg(unique((2000, 1500)))
    expected = process(data)  # the server runs the same code on the same bytes
    answer = await upload(api.http, data)
    assert answer.status_code == 201, answer.text
    assert answer.json() == {
        "photo": {
            "id": expected.id,
            "url": f"/media/{expected.id}.jpg",
            "thumb_url": f"/media/{expected.id}.thumb.jpg",
            "width": 1200,  # 1500 x 2000 once turned upright, then fit in 1600 x 1600
            "height": 1600,
        }
    }
    for url, rendition in [(f"/media/{expected.id}.jpg", expected.display),
                           (f"/media/{expected.id}.thumb.jpg", expected.thumb)]:  # fmt: skip
        served = await api.http.get(url)
        assert served.status_code == 200
        assert served.content == rendition.data
        assert served.headers["content-type"] == "image/jpeg"
        assert served.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert served.headers["x-content-type-options"] == "nosniff"
        assert_no_metadata(served.content)


async def test_media_is_public(api: Api, sqlite_server: ServerProcess) -> None:
    photo = (await upload(api.http, encode(unique(), "JPEG"))).json()["photo"]
    async with httpx.AsyncClient(base_url=sqlite_server.url) as anonymous:
        assert (await anonymous.get(photo["url"])).status_code == 200


async def test_the_type_comes_from_the_content_not_the_name(api: Api) -> None:
    answer = await upload(api.http, encode(unique(), "PNG"), "scan.gif", "image/gif")
    assert answer.status_code == 201, answer.text
    assert answer.json()["photo"]["url"].endswith(".jpg")


async def test_transparent_png_is_served_as_webp_under_one_url(api: Api) -> None:
    image = halves((300, 200), (*unique().getpixel((0, 0)), 255), (0, 0, 0, 0), mode="RGBA")
    photo = (await upload(api.http, encode(image, "PNG"), "map.png", "image/png")).json()["photo"]
    assert photo["url"] == f"/media/{photo['id']}.webp"
    assert photo["thumb_url"] == f"/media/{photo['id']}.thumb.webp"
    served = await api.http.get(photo["url"])
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/webp"
    assert opened(served.content).mode == "RGBA"
    assert (await api.http.get(f"/media/{photo['id']}.jpg")).status_code == 404


async def test_anonymous_upload_is_401_and_stores_nothing(api: Api, sqlite_server: ServerProcess) -> None:
    data = encode(unique(), "JPEG")
    async with httpx.AsyncClient(base_url=sqlite_server.url) as anonymous:
        assert "token" in detail(await upload(anonymous, data), 401)
    bad = Api(sqlite_server.url, "not-a-token")
    try:
        assert detail(await upload(bad.http, data), 401)
    finally:
        await bad.aclose()
    assert (await api.http.get(f"/media/{process(data).id}.jpg")).status_code == 404


async def test_text_named_jpg_is_415_saying_what_is_accepted(api: Api) -> None:
    answer = await upload(api.http, "不是照片 — just text\n".encode() * 50, "现场.jpg", "image/jpeg")
    assert "JPEG, PNG or WebP" in detail(answer, 415)


async def test_gif_upload_is_415(api: Api) -> None:
    answer = await upload(api.http, encode(unique(), "GIF"), "anim.gif", "image/gif")
    assert "JPEG, PNG or WebP" in detail(answer, 415)


async def test_oversized_upload_is_413_naming_the_limit(api: Api) -> None:
    # A valid JPEG padded past 10 MB: only its size can refuse it (decoders ignore the tail).
    data = encode(unique(), "JPEG")
    data += b"\x00" * (photos.MAX_BYTES + photos.MAX_BYTES // 20 - len(data))
    assert "larger than" in detail(await upload(api.http, data), 413)


async def test_upload_without_a_file_is_422(api: Api) -> None:
    assert "file" in detail(await api.http.post("/api/photos", data={"caption": "x"}), 422)
    wrong_field = await api.http.post("/api/photos", files={"photo": ("a.jpg", encode(unique(), "JPEG"))})
    assert "file" in detail(wrong_field, 422)
    assert "file" in detail(await api.http.post("/api/photos", json={"file": "x"}), 422)


async def test_two_files_in_one_request_are_refused(api: Api) -> None:
    files = [("file", ("a.jpg", encode(unique(), "JPEG"))), ("file", ("b.jpg", encode(unique(), "JPEG")))]
    answer = await api.http.post("/api/photos", files=files)
    assert answer.status_code == 400, answer.text


@pytest.mark.parametrize(
    "name",
    [
        "0123456789abcdef01234567.jpg",  # well-formed, never stored
        "0123456789ABCDEF01234567.jpg",
        "0123456789abcdef01234567.png",
        "0123456789abcdef0123456.jpg",
        "0123456789abcdef01234567.thumb.thumb.jpg",
        "0123456789abcdef01234567",
        "..%2F..%2Fetc%2Fpasswd",
        "photo:0123456789abcdef01234567",
    ],
)
async def test_unknown_or_malformed_media_names_are_404(api: Api, name: str) -> None:
    assert (await api.http.get(f"/media/{name}")).status_code == 404


async def test_media_name_must_match_a_stored_rendition(api: Api) -> None:
    photo = (await upload(api.http, encode(unique(), "JPEG"))).json()["photo"]
    pid = photo["id"]
    assert (await api.http.get(f"/media/{pid}.jpg")).status_code == 200
    for name in (f"{pid}.webp", f"{pid}.thumb.webp", f"{pid}.JPG", f"{pid}.jpg.", f"{pid}:thumb.jpg"):
        assert (await api.http.get(f"/media/{name}")).status_code == 404, name
