"""Uploaded images (services/uploads.py): only images Pillow verifies and decodes
within the pixel limit are kept, re-encoded with no metadata (EXIF, comments,
appended bytes), within the size and count limits; they are served only by a
random 128-bit token, to staff or to a visitor who proved that order.
SQLite and PostgreSQL where the database is involved."""
from __future__ import annotations

import io
import re
import struct
import zlib

import pytest
from PIL import Image

from oms_core.errors import ValidationError
from oms_core.models import Upload
from oms_core.services import uploads

Incoming = uploads.Incoming


def jpeg(size=(40, 30), color=(200, 30, 30), **save) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="JPEG", **save)
    return out.getvalue()


def png(size=(20, 20), mode="RGBA", color=(0, 120, 0, 128)) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, color).save(out, format="PNG")
    return out.getvalue()


def jpeg_with_exif() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "SecretCam Maker"  # Make
    exif[0x0131] = "GPS-Leaking-Software 1.0"  # Software
    exif[0x0112] = 6  # Orientation: rotate 90 CW to display
    return jpeg(size=(40, 20), exif=exif.tobytes(), comment=b"private comment")


def png_bomb(width=20_000, height=20_000) -> bytes:
    """A tiny PNG that claims (and holds, deflated) a huge grey image."""
    raw_row = b"\x00" + b"\x00" * width
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(raw_row) for _ in range(height)) + compressor.flush()

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


# ------------------------------------------------------------------ what is kept


def test_a_jpeg_is_re_encoded_without_exif_comments_or_orientation_tag(app):
    sent = jpeg_with_exif()
    assert b"SecretCam" in sent and b"private comment" in sent
    clean = uploads.clean_image(Incoming("holiday.jpg", sent))
    assert clean.content_type == "image/jpeg" and clean.data != sent
    assert b"SecretCam" not in clean.data and b"GPS-Leaking" not in clean.data
    assert b"private comment" not in clean.data and b"Exif" not in clean.data
    with Image.open(io.BytesIO(clean.data)) as image:
        assert image.format == "JPEG" and not image.getexif() and "comment" not in image.info
        assert image.size == (20, 40)  # turned as the camera meant, then the tag dropped
    assert (clean.width, clean.height) == (20, 40)


def test_transparency_stays_png_and_metadata_chunks_go(app):
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Author", "Ann Example, 1 Main St")
    out = io.BytesIO()
    Image.new("RGBA", (10, 10), (1, 2, 3, 100)).save(out, format="PNG", pnginfo=info)
    clean = uploads.clean_image(Incoming("a.png", out.getvalue()))
    assert clean.content_type == "image/png"
    assert b"Ann Example" not in clean.data and b"tEXt" not in clean.data
    # An opaque PNG becomes a JPEG.
    opaque = png(mode="RGB", color=(1, 2, 3))
    assert uploads.clean_image(Incoming("b.png", opaque)).content_type == "image/jpeg"


def test_gif_and_webp_are_taken_as_their_first_frame(app):
    for fmt in ("GIF", "WEBP"):
        out = io.BytesIO()
        Image.new("RGB", (12, 12), (9, 9, 9)).save(out, format=fmt)
        assert uploads.clean_image(Incoming(f"x.{fmt.lower()}", out.getvalue())).content_type == "image/jpeg"


# ------------------------------------------------------------------ what is refused


@pytest.mark.parametrize("data", [
    b"",
    b"just some text",
    b"%PDF-1.4\n1 0 obj<<>>endobj\n%%EOF",
    b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(1)</script></svg>',
    b"<!doctype html><html><script>alert(document.cookie)</script></html>",
    b"GIF89a<script>alert(1)</script>",  # a GIF header and then a page: a classic polyglot
    b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,  # a PNG signature and nothing sound after it
], ids=["empty", "text", "pdf", "svg", "html", "gif-html", "broken-png"])
def test_what_is_not_an_image_is_refused(app, data):
    with pytest.raises(ValidationError):
        uploads.clean_image(Incoming("photo.jpg", data))


def test_a_polyglot_image_loses_what_rides_after_it(app):
    sent = jpeg() + b"<html><script>alert(1)</script></html>"
    clean = uploads.clean_image(Incoming("poly.jpg", sent))
    assert b"<script" not in clean.data and b"<html" not in clean.data


def test_a_truncated_image_is_refused(app):
    whole = jpeg(size=(200, 200))
    with pytest.raises(ValidationError):
        uploads.clean_image(Incoming("cut.jpg", whole[: len(whole) // 2]))


def test_a_truncated_image_is_refused_after_weasyprint_loosened_pillow(app, monkeypatch):
    """WeasyPrint and karrio set Pillow's LOAD_TRUNCATED_IMAGES when imported (a worker
    that rendered a PDF): uploads still refuse a cut-off image, and leave the flag as it was."""
    from PIL import ImageFile

    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    whole = jpeg(size=(200, 200))
    with pytest.raises(ValidationError):
        uploads.clean_image(Incoming("cut.jpg", whole[: len(whole) // 2]))
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True
    assert uploads.clean_image(Incoming("whole.jpg", whole)).content_type == "image/jpeg"


@pytest.mark.parametrize("side", [8_000, 20_000], ids=["over-ours", "over-pillows"])
def test_a_decompression_bomb_is_refused_before_it_is_decoded(app, side):
    bomb = png_bomb(side, side)
    assert len(bomb) < 1024 * 1024  # small on the wire: 64 or 400 million pixels inside
    with pytest.raises(ValidationError, match="too many pixels"):
        uploads.clean_image(Incoming("bomb.png", bomb))


@pytest.mark.parametrize("app_config", [{"OMS_UPLOAD_MAX_PIXELS": 100 * 100}])
def test_the_pixel_limit_is_the_setting(app):
    uploads.clean_image(Incoming("ok.jpg", jpeg(size=(100, 100))))
    with pytest.raises(ValidationError, match="too many pixels"):
        uploads.clean_image(Incoming("big.jpg", jpeg(size=(101, 100))))


@pytest.mark.parametrize("app_config", [{"OMS_UPLOAD_MAX_BYTES": 2048, "OMS_UPLOAD_MAX_PER_MESSAGE": 2}])
def test_size_and_count_limits(app):
    small = jpeg(size=(8, 8))
    big = jpeg(size=(300, 300), quality=100)
    assert len(small) <= 2048 < len(big)
    uploads.clean_image(Incoming("small.jpg", small))
    with pytest.raises(ValidationError, match="larger than"):
        uploads.clean_image(Incoming("big.jpg", big))
    with pytest.raises(ValidationError, match="At most 2 photos"):
        uploads.clean_all([Incoming(f"{i}.jpg", small) for i in range(3)])
    # An empty file field (no file chosen) is not a photo.
    assert uploads.clean_all([Incoming("", b"")]) == []


# ------------------------------------------------------------------ stored and found


def test_tokens_are_128_random_bits_and_only_a_token_finds_an_upload(app, place):
    from oms_core.db import db

    order = place(confirm=True)
    clean = uploads.clean_image(Incoming("a.jpg", jpeg()))
    stored = [uploads.store(order.id, clean, actor="test") for _ in range(20)]
    db.session.commit()
    tokens = [u.token for u in stored]
    assert len(set(tokens)) == 20 and all(re.fullmatch(r"[0-9a-f]{32}", t) for t in tokens)
    first = db.session.get(Upload, stored[0].id)
    assert first.sha256 and first.size_bytes == len(clean.data) and first.filename.endswith(".jpg")
    assert uploads.for_order(first.token, order.id)[1] == clean.data
    from oms_core.errors import NotFound
    for wrong in (str(first.id), "0" * 32, first.token[:-1], first.token.upper(), first.token + "0", ""):
        with pytest.raises(NotFound):
            uploads.for_staff(wrong)
    with pytest.raises(NotFound):
        uploads.for_order(first.token, order.id + 1)
