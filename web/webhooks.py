"""Webhook endpoints where payment gateways and carriers report back:
POST {OMS_WEBHOOK_PREFIX}/payments/<gateway id> and .../carriers/<carrier id>.

CSRF-exempt (mounted so by the extension): each delivery is authenticated by the
plugin (a signature made with its `webhook_secret`, or its own documented way). Every
delivery to an installed plugin is stored raw before it is read, with what came of
it (the back-office's webhook inbox). Answers are JSON, `{"ok": true, "received",
"applied", "duplicates", "unmatched", "flagged"}` or `{"ok": false, "error"}`; what
each status means to the sender:

- 200: every event applied (or applied before: a retry is harmless). Do not retry.
- 202: accepted; some events fit no shipment or order yet (a tracking number not
  booked yet) and are kept and applied when it turns up. Do not retry.
- 400: refused by the plugin: bad or missing signature, unreadable body. Nothing
  changed; the same delivery will be refused again.
- 404: no such gateway or carrier, or one that takes no webhooks. Nothing kept for
  an unknown id.
- 413: body larger than 1 MiB; not kept.
- 422: well signed, but an event does not fit (unknown status, time in the future,
  malformed amount). Nothing applied: the events of a delivery apply all or none.
- 500: the plugin or the core failed; the delivery is kept. Retry later.
- 503: the plugin has no webhook secret configured (or the schema is outdated);
  the delivery is kept but not applied. Retry later.
"""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from oms_core.errors import DomainError
from oms_core.services import inbox, webhooks

blueprint = Blueprint("oms_webhooks", __name__)


def _answer(receive, plugin_id: str):
    # The raw body (signatures are over the exact bytes); one byte over the limit is
    # enough for the service to refuse it, without reading a huge body into memory.
    body = request.stream.read(inbox.MAX_BODY_BYTES + 1)
    receipt = receive(plugin_id, body, request.headers)
    return jsonify(receipt.as_dict()), receipt.status_code


@blueprint.post("/payments/<gateway_id>")
def payment_webhook(gateway_id: str):
    return _answer(webhooks.receive_payment_webhook, gateway_id)


@blueprint.post("/carriers/<carrier_id>")
def carrier_webhook(carrier_id: str):
    return _answer(webhooks.receive_carrier_webhook, carrier_id)


@blueprint.errorhandler(DomainError)
def _refused(exc: DomainError):
    return jsonify(ok=False, error=str(exc)), exc.status_code
