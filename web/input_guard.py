"""Input no OMS view should ever see, refused before it reaches one.

- An id in the URL beyond what the database holds (werkzeug's `<int:...>` takes any
  size: SQLite cannot even bind one above 2**63) or spelled in other digits than
  ASCII (werkzeug's `\\d` takes "٣" as 3): 404, like any id that does not exist.
- A NUL character in the query string or a form: 400. No one types one, and
  PostgreSQL refuses it in text with an error no one could read.

Scoped to the OMS's blueprints; the host app's own routes are left alone. Webhook
bodies are not read here: they are bytes checked against a signature.
"""
from __future__ import annotations

from flask import Flask, abort, request

from oms_core import limits
from oms_core.errors import ValidationError

from . import webhooks


def _oms_request() -> bool:
    return (request.blueprint or "").startswith("oms_")


def _has_nul(multidict) -> bool:
    return any("\x00" in key or "\x00" in value for key, value in multidict.items(multi=True)
               if isinstance(value, str))


def install_input_guard(app: Flask) -> None:
    @app.url_value_preprocessor
    def _ids_in_range(_endpoint, values):
        if not values or not _oms_request():
            return
        for value in values.values():
            if isinstance(value, int) and not isinstance(value, bool) and (
                    not limits.is_id(value) or not request.path.isascii()):
                abort(404)
            if isinstance(value, str) and "\x00" in value:
                abort(404)

    @app.before_request
    def _no_nul_characters():
        if not _oms_request():
            return None
        reads_form = request.blueprint != webhooks.blueprint.name
        if _has_nul(request.args) or (reads_form and _has_nul(request.form)):
            raise ValidationError("The request holds a NUL character, which no field takes.")
        return None
