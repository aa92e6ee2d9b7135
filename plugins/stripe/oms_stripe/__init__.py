"""Stripe: card payments for Flask-OMS through Stripe Checkout (plugins/stripe/README.md).

The customer pays on Stripe's hosted Checkout page (`start_payment`); Stripe's
signed webhooks say what became of the payment (`parse_webhook`); staff capture,
void and refund through the core, which calls the gateway from its outbox with an
idempotency key.

Settings, in the shop's config or in the environment:

    OMS_PLUGINS["stripe"] = {"secret_key": "sk_live_...", ...}
    OMS_PLUGIN_STRIPE_<NAME>

    secret_key       required: the account's secret (or restricted) API key
    webhook_secret   required: the webhook endpoint's signing secret (whsec_...)
    capture          "now" (default): take the money at checkout;
                     "on_ship": authorize at checkout, capture when the order ships
    api_base         another API address (the local stand-in, oms_stripe.testing)
    network_retries  the SDK's retries of a failed call, 0 to 5 (default 2)

Stripe sends its webhooks to
https://<shop><OMS_WEBHOOK_PREFIX>/payments/stripe
(OMS_WEBHOOK_PREFIX is /oms/webhooks unless the shop changed it).
"""
from __future__ import annotations

from oms_core.hookspecs import hookimpl
from oms_core.protocols import CAPTURE_NOW

from .events import EVENT_TYPES
from .gateway import DEFAULT_NETWORK_RETRIES, GATEWAY_ID, StripeGateway

__all__ = ["EVENT_TYPES", "GATEWAY_ID", "StripeGateway", "register_payment_gateways"]


@hookimpl
def register_payment_gateways(settings):
    """Called once at the shop's start-up with its plugin settings."""
    mine = settings.for_id(GATEWAY_ID)
    raw = mine.get("network_retries")
    retries = str(DEFAULT_NETWORK_RETRIES if raw in (None, "") else raw).strip()
    if not retries.isdigit():
        raise ValueError(f"the Stripe setting network_retries must be a whole number, not {retries!r}")
    return [StripeGateway(mine.get("secret_key"), capture=mine.get("capture") or CAPTURE_NOW,
                          api_base=mine.get("api_base"), network_retries=int(retries))]
