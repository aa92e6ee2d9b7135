"""Errors inside the back-office render in its layout: a page for normal requests,
an inline fragment for HTMX. URLs under the prefix that match no view are the
back-office's 404 too (a blueprint's 404 handler sees only its own routes), and,
like every back-office URL, need a login first."""
from __future__ import annotations

from flask import abort, render_template

from oms_core.errors import DomainError

from ..errors import TITLES, describe, inline_error
from . import blueprint
from .responses import wants_fragment


@blueprint.errorhandler(DomainError)
@blueprint.errorhandler(403)
@blueprint.errorhandler(404)
def error_page(error):
    if wants_fragment():
        return inline_error(error)
    message, status = describe(error)
    return render_template("oms/admin/error.html", message=message, status=status,
                           title=TITLES.get(status, "That did not work")), status


@blueprint.route("/<path:unknown>", methods=["GET", "POST"])
def not_found(unknown: str):
    abort(404)
