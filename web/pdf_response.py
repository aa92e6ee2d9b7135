"""A stored document as an HTTP response: the bytes as stored, never re-rendered,
with their sha256 as ETag, for staff and for customers who proved the order; and
other stored files (carrier labels) as downloads."""
from __future__ import annotations

from flask import Response, request


def pdf_response(document, pdf: bytes) -> Response:
    response = Response(pdf, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="{document.filename}"'
    response.headers["Cache-Control"] = "private, no-store"
    response.set_etag(document.sha256)
    return response.make_conditional(request)  # a copy the browser holds: 304, no bytes


def attachment(data: bytes, media_type: str, filename: str) -> Response:
    """Stored bytes (a carrier's label) as a download, never cached."""
    response = Response(data, mimetype=media_type)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response
