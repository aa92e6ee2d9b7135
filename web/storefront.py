"""Storefront helpers for the host shop's own pages.

- `place_checkout_order(...)`: the Python API a checkout calls. With
  OMS_AUTO_CONFIRM (the default) the stock is reserved in the same transaction, so
  it either returns a confirmed order with its tracking code or raises OutOfStock /
  ValidationError and leaves nothing behind.
- `pay_now_url(order)`: where a checkout sends the customer to pay by card (the
  gateway's hosted page, through the tracking page's pay route) when the chosen
  method can start payments; None otherwise. Confirmation pages link it while the
  order is unpaid.
- `oms_stock_badge(sku)` (Jinja global): a live stock badge that refreshes itself
  every 30 seconds with htmx from GET <OMS_STOREFRONT_PREFIX>/stock/<sku>. The host
  page must load htmx (`url_for('oms_static.static', filename='htmx.min.js')`).
"""
from __future__ import annotations

from flask import Blueprint, Flask, has_request_context, render_template, request, url_for
from markupsafe import Markup

from oms_core import i18n, tracking_codes
from oms_core.models import Order
from oms_core.services import orders, payment_ops, storefront

from .badges import tone
from .errors import answer_domain_errors_inline
from .hardening import without_session

blueprint = Blueprint("oms_storefront", __name__)
answer_domain_errors_inline(blueprint)
without_session(blueprint)  # the badge is the same for everyone

ACTOR = "storefront"


def place_checkout_order(*, email: str, name: str, lines: list[tuple[str, int]], payment_method: str,
                         address: dict | None = None, phone: str = "", note: str = "",
                         shipping_minor: int = 0, billing: dict | None = None,
                         assembly: list[str] | tuple = (), locale: str | None = None) -> Order:
    """Place a web order from a checkout. `lines` are (sku, quantity); `address` has
    line1, line2, postal_code, city, country (ISO 3166 alpha-2); `billing` the same
    keys and "name", when the invoice goes elsewhere (empty: the shipping address);
    `assembly` the SKUs whose offered assembly the customer ticked (products that
    require it get it anyway; `catalog.items_on_sale` says which offer it, at what price);
    `locale` the customer's explicit choice of language (one of i18n.LOCALES), else the
    best match of the browser's Accept-Language among the shipped ones: their emails
    and documents are written in it."""
    if locale is None and has_request_context():
        locale = i18n.best_match(request.headers.get("Accept-Language"))
    return orders.place_order(orders.NewOrder(
        email=email, name=name, lines=list(lines), payment_method=payment_method, phone=phone,
        address=dict(address or {}), channel="web", note=note, shipping_minor=shipping_minor,
        billing=dict(billing or {}), assembly=list(assembly), locale=locale,
    ), actor=ACTOR)


def pay_now_url(order: Order) -> str | None:
    """Where to send the customer to pay the order online (the hosted page, through
    the tracking page's pay route), or None when its method cannot start payments
    or nothing is due. The checkout redirects there; confirmation pages link it."""
    if not order.tracking_code or not payment_ops.can_start(order):
        return None
    return url_for("oms_public.pay", code=tracking_codes.display(order.tracking_code))


def checkout_payment_methods() -> list[tuple[str, str]]:
    """(id, label) pairs for the checkout's payment method choice."""
    return storefront.payment_methods()


def render_stock_badge(sku: str) -> Markup:
    badge = storefront.stock_badge(sku)
    return Markup(render_template("oms/storefront/stock_badge.html", badge=badge,
                                  tone=tone("stock", badge.state)))


@blueprint.route("/stock/<path:sku>")
def stock_badge(sku: str):
    """The badge fragment htmx polls; no login, the same for everyone."""
    return render_stock_badge(sku), 200, {"Cache-Control": "no-store"}


def install_jinja_helpers(app: Flask) -> None:
    app.jinja_env.globals["oms_stock_badge"] = render_stock_badge
