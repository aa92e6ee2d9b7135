"""Images customers and staff upload (complaint photos; returns can use them too).

Only images are kept, and never the bytes that were sent: Pillow must recognise a
JPEG, PNG, GIF or WebP, verify it and decode it within OMS_UPLOAD_MAX_PIXELS (a
small file can unpack to gigabytes: a decompression bomb), and it is then
re-encoded (PNG when it has transparency, else JPEG) with no metadata: no EXIF
(GPS position, camera), no comments, no ICC profile, nothing appended (a file
that is also HTML or a script loses the second half). The result is stored in
the database with its sha256 under a random 128-bit token, and served only
through that token to staff or to a visitor who proved the upload's order
(docs/architecture.md, "Complaints and uploads").

Pillow is imported here, when an image is handled, never when a worker starts.
"""
from __future__ import annotations

import hashlib
import io
import re
import threading
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import select

from .. import runtime
from ..db import db
from ..errors import NotFound, ValidationError
from ..models import Upload
from ..models.complaints import new_token

# What Pillow may try to decode: nothing else is even attempted (no SVG, no PDF, no
# formats with parsers that run code or read other files).
ACCEPTED_FORMATS = ("JPEG", "PNG", "GIF", "WEBP")
TOKEN = re.compile(r"[0-9a-f]{32}")
NOT_AN_IMAGE = "Only photos can be attached (JPEG, PNG, GIF or WebP)."
JPEG_QUALITY = 88


@dataclass(frozen=True)
class CleanImage:
    data: bytes
    content_type: str
    extension: str
    width: int
    height: int


@dataclass(frozen=True)
class Incoming:
    """A file as a form sent it: its name (only for the error messages) and bytes,
    read up to one byte past OMS_UPLOAD_MAX_BYTES (so an oversize file is known
    without reading all of it)."""
    filename: str
    data: bytes


def max_bytes() -> int:
    return runtime.whole_setting("UPLOAD_MAX_BYTES", 1024, 50 * 1024 * 1024)


def max_per_message() -> int:
    return runtime.whole_setting("UPLOAD_MAX_PER_MESSAGE", 0, 20)


def _max_pixels() -> int:
    return runtime.whole_setting("UPLOAD_MAX_PIXELS", 1, 200_000_000)


def _label(filename: str) -> str:
    return f"'{filename[:60]}'" if filename else "The file"


_PILLOW_FLAG = threading.Lock()


@contextmanager
def _truncated_images_refused():
    """WeasyPrint and karrio set Pillow's process-wide LOAD_TRUNCATED_IMAGES on import,
    which would let a cut-off upload decode (padded grey) in any process that has
    rendered a PDF or loaded a carrier: refuse them here whatever the flag says."""
    from PIL import ImageFile

    with _PILLOW_FLAG:
        before, ImageFile.LOAD_TRUNCATED_IMAGES = ImageFile.LOAD_TRUNCATED_IMAGES, False
        try:
            yield
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = before


def clean_image(incoming: Incoming) -> CleanImage:
    """The image re-encoded without metadata, or ValidationError (nothing kept)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    label = _label(incoming.filename)
    if not incoming.data:
        raise ValidationError(f"{label} is empty.")
    if len(incoming.data) > max_bytes():
        raise ValidationError(f"{label} is larger than {max_bytes() // (1024 * 1024) or 1} MB.")
    limit = _max_pixels()
    try:
        with _truncated_images_refused(), \
                Image.open(io.BytesIO(incoming.data), formats=ACCEPTED_FORMATS) as probe:
            width, height = probe.size
            if width * height > limit:  # checked before anything is decoded
                raise ValidationError(f"{label} has too many pixels ({width}×{height}).")
            probe.verify()
        with _truncated_images_refused(), \
                Image.open(io.BytesIO(incoming.data), formats=ACCEPTED_FORMATS) as image:
            image.seek(0)  # an animation keeps its first frame
            image.load()
            image = ImageOps.exif_transpose(image)  # keep how it was shot, then drop the EXIF
    except ValidationError:
        raise
    except Image.DecompressionBombError as exc:  # Pillow's own, far larger bound
        raise ValidationError(f"{label} has too many pixels.") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError,
            EOFError) as exc:
        raise ValidationError(f"{label}: {NOT_AN_IMAGE}") from exc
    transparent = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    mode = "RGBA" if transparent else "RGB"
    # A new image from the pixels alone: Pillow's save() writes back what `info` holds
    # (a JPEG comment, an ICC profile, EXIF), so nothing of the original's is kept.
    pixels = Image.frombytes(mode, image.size, image.convert(mode).tobytes())
    out = io.BytesIO()
    if transparent:
        pixels.save(out, format="PNG", optimize=True)
        content_type, extension = "image/png", "png"
    else:
        pixels.save(out, format="JPEG", quality=JPEG_QUALITY, optimize=True)
        content_type, extension = "image/jpeg", "jpg"
    return CleanImage(data=out.getvalue(), content_type=content_type, extension=extension,
                      width=image.width, height=image.height)


def clean_all(files: list[Incoming]) -> list[CleanImage]:
    """Every file of one message cleaned, or ValidationError for the first that is
    not (checked before anything is written)."""
    files = [f for f in files if f.data or f.filename]
    if len(files) > max_per_message():
        raise ValidationError(f"At most {max_per_message()} photos per message.")
    return [clean_image(f) for f in files]


def store(order_id: int, image: CleanImage, *, actor: str) -> Upload:
    """Keep a cleaned image for an order (caller's transaction)."""
    upload = Upload(token=new_token(), order_id=order_id, content_type=image.content_type,
                    size_bytes=len(image.data),
                    width=image.width, height=image.height, sha256=hashlib.sha256(image.data).hexdigest(),
                    data=image.data, actor=actor, filename="")
    upload.filename = f"photo-{upload.token[:8]}.{image.extension}"
    db.session.add(upload)
    return upload


def _find(token: str) -> Upload:
    upload = None
    if isinstance(token, str) and TOKEN.fullmatch(token):
        upload = db.session.scalar(select(Upload).where(Upload.token == token))
    if upload is None:
        raise NotFound("No such file.")
    return upload


def for_order(token: str, order_id: int) -> tuple[Upload, bytes]:
    """An upload of this order (a proven customer's view) and its bytes; NotFound
    for anything else, whether it exists for another order or not at all."""
    upload = _find(token)
    if upload.order_id != order_id:
        raise NotFound("No such file.")
    return upload, upload.data


def for_staff(token: str) -> tuple[Upload, bytes]:
    upload = _find(token)
    return upload, upload.data
