"""Refuse to serve the OMS's pages against an outdated database schema, with a clear
message. The host shop's own routes are left alone: they may not touch OMS tables."""
from __future__ import annotations

from flask import Flask, Response, request

from oms_core import runtime, schema
from oms_core.constants import CONFIG_PREFIX
from oms_core.errors import SchemaOutdated


def install_schema_guard(app: Flask) -> None:
    @app.before_request
    def _check_schema():
        if not (request.blueprint or "").startswith("oms_"):
            return None
        state = runtime.state()
        if state.schema_checked or not app.config[CONFIG_PREFIX + "CHECK_SCHEMA"]:
            return None
        try:
            schema.check_current()
        except SchemaOutdated as exc:
            return Response(str(exc), status=503, mimetype="text/plain")
        state.schema_checked = True
        return None
