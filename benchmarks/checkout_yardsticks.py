"""The demo shop with its checkout's order write swapped, for bench_http.py's yardsticks.

gunicorn serves `checkout_yardsticks:create_app()` (this folder on PYTHONPATH) with
BENCH_CHECKOUT_WRITE set to one of:

- "none": the checkout runs as in the shop (session, CSRF, form, the cart's pricing
  read, the redirect) but writes no order: what the two requests cost around any
  write, the floor no order service can go below.
- "core": the order's rows are written by bench_checkout_service.py's hand-written
  SQLAlchemy Core writer (the same rows as place_order, one transaction) instead of
  place_order: what the stack allows for this write.

Only the benchmark loads this module; the shop itself never does.
"""
from __future__ import annotations

import os
from types import SimpleNamespace

import bench_checkout_service
from oms_demo import shop
from oms_demo.app import create_app as create_demo_app

from oms_core.services.orders import NewOrder

WRITES = ("none", "core")


def _no_write(**_checkout) -> SimpleNamespace:
    # No tracking code: the shop redirects to its confirmation page, as after a bank transfer order.
    return SimpleNamespace(id=0, tracking_code=None)


def _core_write(*, email, name, lines, payment_method, address, shipping_minor, **_rest) -> SimpleNamespace:
    order_id = bench_checkout_service.write_with_core(
        NewOrder(email=email, name=name, lines=list(lines), payment_method=payment_method,
                 address=dict(address), shipping_minor=shipping_minor), actor="storefront")
    return SimpleNamespace(id=order_id, tracking_code=None)


def create_app():
    write = os.environ.get("BENCH_CHECKOUT_WRITE", "")
    if write not in WRITES:
        raise SystemExit(f"BENCH_CHECKOUT_WRITE must be one of {', '.join(WRITES)}, not {write!r}")
    shop.place_checkout_order = _no_write if write == "none" else _core_write
    return create_demo_app()
