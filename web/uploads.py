"""Uploaded images in and out of requests: the files of a form read up to the
size limit (services.uploads decides what is kept), and a stored image served as
an HTTP response that a browser can never take for a page."""
from __future__ import annotations

from flask import Flask, Response, request

from oms_core.services import uploads

# Served images are shown, never run: nothing loads from them, and a browser that
# opens one as a document treats it as a sandboxed, origin-less page.
IMAGE_CSP = "default-src 'none'; sandbox"


def accepts_uploads(view):
    """Mark a view whose form carries photos: its requests get the upload size limit."""
    view.oms_accepts_uploads = True
    return view


def install_upload_limit(app: Flask) -> None:
    """Refuse (413) a body larger than a message's photos and text could be, before
    anything reads it. URL value preprocessors run before every before_request
    function, CSRF's form parsing included; Flask 3.1 takes the limit per request."""
    @app.url_value_preprocessor
    def _upload_limit(endpoint, _values):
        if getattr(app.view_functions.get(endpoint), "oms_accepts_uploads", False):
            request.max_content_length = uploads.max_bytes() * max(uploads.max_per_message(), 1) + 256 * 1024


def incoming_files(field: str = "photos") -> list[uploads.Incoming]:
    """The files of a form field, each read to one byte past the limit at most."""
    limit = uploads.max_bytes()
    return [uploads.Incoming(filename=(f.filename or "")[:200], data=f.stream.read(limit + 1))
            for f in request.files.getlist(field)]


def image_response(upload, data: bytes) -> Response:
    response = Response(data, mimetype=upload.content_type)
    response.headers["Content-Disposition"] = f'inline; filename="{upload.filename}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = IMAGE_CSP
    response.headers["Cache-Control"] = "private, no-store"
    response.set_etag(upload.sha256)
    return response.make_conditional(request)
