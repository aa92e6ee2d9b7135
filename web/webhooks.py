"""Webhook endpoints where payment gateways and carriers report back.

CSRF-exempt (mounted so by the extension): each delivery is authenticated by the
sender's signature, which the plugin checks. Answers are JSON for the sender's
logs: 200 applied (or already applied), 400 bad signature or body, 404 unknown
gateway/carrier, 413 too large, 422 does not fit our data.
"""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from oms_core.errors import DomainError
from oms_core.services import webhooks

blueprint = Blueprint("oms_webhooks", __name__)

MAX_BODY_BYTES = 1024 * 1024


def _body() -> bytes | None:
    """The raw body (signatures are over the exact bytes), or None when too large."""
    data = request.stream.read(MAX_BODY_BYTES + 1)
    return None if len(data) > MAX_BODY_BYTES else data


@blueprint.post("/payments/<gateway_id>")
def payment_webhook(gateway_id: str):
    body = _body()
    if body is None:
        return jsonify(ok=False, error="Body too large."), 413
    return jsonify(webhooks.receive_payment_webhook(gateway_id, body, request.headers).as_dict())


@blueprint.post("/carriers/<carrier_id>")
def carrier_webhook(carrier_id: str):
    body = _body()
    if body is None:
        return jsonify(ok=False, error="Body too large."), 413
    return jsonify(webhooks.receive_carrier_webhook(carrier_id, body, request.headers).as_dict())


@blueprint.errorhandler(DomainError)
def _refused(exc: DomainError):
    return jsonify(ok=False, error=str(exc)), exc.status_code
