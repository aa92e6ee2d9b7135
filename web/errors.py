"""How the OMS's pages answer an error: a DomainError (bad input, an illegal step,
something not found) and, in the back-office, a 403 or 404 too.

Only the OMS's own blueprints answer this way: the host app's pages behave as if
the OMS were not there (docs/architecture.md). HTMX requests get an inline
fragment (oms.js shows it), plain requests the back-office page with the message.
"""
from __future__ import annotations

from flask import Blueprint, render_template
from werkzeug.exceptions import HTTPException

from oms_core.errors import DomainError

INLINE = "oms/error.html"
TITLES = {403: "Not allowed", 404: "Not found"}


def describe(error: Exception) -> tuple[str, int]:
    """The message for the user and the HTTP status."""
    if isinstance(error, DomainError):
        return str(error), error.status_code
    if isinstance(error, HTTPException):
        return error.description or error.name, error.code or 500
    raise TypeError(f"not an error the OMS answers: {error!r}")


def inline_error(error: Exception):
    message, status = describe(error)
    return render_template(INLINE, message=message), status


def answer_domain_errors_inline(blueprint: Blueprint) -> None:
    """A DomainError escaping one of `blueprint`'s views becomes its message."""
    blueprint.register_error_handler(DomainError, inline_error)
