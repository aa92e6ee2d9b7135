"""The tone of a status badge (ok, warn, bad or none): one colour per state for every
page that shows one, back-office, tracking page and storefront alike. The markup is
the `badge` macro of templates/oms/_badge.html."""
from __future__ import annotations

from oms_core import order_states, return_states
from oms_core.services import storefront

TONES = {
    "order": {
        order_states.PLACED: "warn", order_states.PARTIALLY_SHIPPED: "ok", order_states.SHIPPED: "ok",
        order_states.DELIVERED: "ok",
        order_states.CLOSED: "ok", order_states.CANCELLED: "bad",
    },
    "return": {return_states.REQUESTED: "warn", return_states.APPROVED: "warn",
               return_states.RECEIVED: "warn", return_states.REJECTED: "bad", return_states.REFUNDED: "ok",
               return_states.EXCHANGED: "ok", return_states.CLOSED: "ok"},
    "payment": {"unpaid": "warn", "partially_paid": "warn", "authorized": "warn", "paid": "ok",
                "partially_refunded": "warn", "refunded": "bad"},
    "tracking": {"delivered": "ok", "exception": "bad", "returned_to_sender": "bad",
                 "delivery_attempted": "warn", "cancelled": "bad", "expired": "warn"},
    "stock": {storefront.IN_STOCK: "ok", storefront.LOW: "warn", storefront.OUT: "bad"},
    "inbound": {"received": "warn", "unmatched": "warn", "refused": "bad", "error": "bad", "applied": "ok"},
    "webhook": {"pending": "warn", "retrying": "warn", "delivered": "ok", "failed": "bad", "cancelled": ""},
    "bulk": {True: "ok", False: "bad"},
    "setup": {"configured": "ok", "not configured": "bad"},
    "complaint": {"waiting_on_us": "warn", "open": "warn", "resolved": "ok"},
}


def tone(kind: str, value) -> str:
    return TONES[kind].get(value if isinstance(value, bool) else (value or ""), "")
