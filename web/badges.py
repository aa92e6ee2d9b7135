"""The tone of a status badge (ok, warn, bad or none): one colour per state for every
page that shows one, back-office, tracking page and storefront alike. The markup is
the `badge` macro of templates/oms/_badge.html."""
from __future__ import annotations

from oms_core import order_states
from oms_core.services import storefront

TONES = {
    "order": {
        order_states.PLACED: "warn", order_states.PARTIALLY_SHIPPED: "ok", order_states.SHIPPED: "ok",
        order_states.DELIVERED: "ok",
        order_states.CLOSED: "ok", order_states.CANCELLED: "bad", order_states.RETURN_REQUESTED: "warn",
        order_states.RETURN_REJECTED: "bad",
    },
    "payment": {"unpaid": "warn", "partially_paid": "warn", "authorized": "warn", "paid": "ok",
                "partially_refunded": "warn", "refunded": "bad"},
    "tracking": {"delivered": "ok", "exception": "bad", "returned_to_sender": "bad",
                 "delivery_attempted": "warn", "cancelled": "bad", "expired": "warn"},
    "stock": {storefront.IN_STOCK: "ok", storefront.LOW: "warn", storefront.OUT: "bad"},
    "inbound": {"received": "warn", "unmatched": "warn", "refused": "bad", "error": "bad", "applied": "ok"},
    "setup": {"configured": "ok", "not configured": "bad"},
    "complaint": {"waiting_on_us": "warn", "open": "warn", "resolved": "ok"},
}


def tone(kind: str, value: str | None) -> str:
    return TONES[kind].get(value or "", "")
