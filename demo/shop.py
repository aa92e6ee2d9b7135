"""The shop's pages: products with live stock badges, the cart, checkout and the
confirmation with the tracking code. Orders go through the OMS storefront API."""
from __future__ import annotations

from flask import (Blueprint, abort, flash, redirect, render_template, request, session,
                   url_for)
from flask_htmx import HTMX

from oms_core import tracking_codes
from oms_core.errors import DomainError, NotFound, OutOfStock
from oms_core.services import catalog, orders, storefront
from oms_web.storefront import checkout_payment_methods, pay_now_url, place_checkout_order

from . import cart, pricing

blueprint = Blueprint("shop", __name__)
htmx = HTMX()  # reads the HX-* request headers; the OMS extension set up the app side
LAST_ORDER_KEY = "last_order_id"
# This shop ships everything, so it asks for the whole address (but a second line).
ADDRESS_FIELDS = [key for key in orders.ADDRESS_FIELDS if key != "line2"]
LABELS = {"name": "Full name", "email": "Email", **orders.ADDRESS_FIELDS}
COUNTRIES = (("NL", "Netherlands"), ("BE", "Belgium"), ("DE", "Germany"), ("FR", "France"),
             ("LU", "Luxembourg"))


@blueprint.get("/")
def products():
    return render_template("products.html", products=catalog.products_on_sale(by="sku"))


@blueprint.post("/cart/add")
def add_to_cart():
    sku = request.form.get("sku", "")
    wanted = cart.quantities().get(sku, 0) + max(1, cart.parse_quantity(request.form.get("quantity")))
    badge = storefront.stock_badge(sku)  # with the name: one query for the whole request
    if badge.state == storefront.UNAVAILABLE:
        abort(404)
    if badge.available < wanted:
        message, category = badge.shortfall(), "error"
    else:
        cart.set_quantity(sku, wanted)
        message, category = f"Added {badge.name} to your cart.", "info"
    if htmx:
        return render_template("_cart_added.html", message=message, category=category, count=cart.count())
    flash(message, category)
    return redirect(url_for("shop.products"))


@blueprint.get("/cart")
def view_cart():
    return render_template("cart.html", cart=pricing.cart_view(cart.quantities()))


@blueprint.post("/cart/update")
def update_cart():
    sku = request.form.get("sku", "")
    if sku in cart.quantities():  # a line added through add_to_cart's checks, never a new one
        cart.set_quantity(sku, cart.parse_quantity(request.form.get("quantity"), 0))
    return redirect(url_for("shop.view_cart"))


@blueprint.post("/cart/remove")
def remove_from_cart():
    cart.set_quantity(request.form.get("sku", ""), 0)
    return redirect(url_for("shop.view_cart"))


def _checkout_page(form: dict, error: str = "", status: int = 200):
    return render_template("checkout.html", cart=pricing.cart_view(cart.quantities()), form=form,
                           error=error, methods=checkout_payment_methods(), countries=COUNTRIES,
                           labels=LABELS), status


@blueprint.route("/checkout", methods=["GET", "POST"])
def checkout():
    quantities = cart.quantities()
    if not quantities:
        flash("Your cart is empty.", "info")
        return redirect(url_for("shop.products"))
    if request.method == "GET":
        return _checkout_page({"country": "NL"})
    form = {key: request.form.get(key, "").strip()
            for key in ("name", "email", "payment_method", *ADDRESS_FIELDS)}
    missing = [LABELS[key].lower() for key in ("name", "email", *ADDRESS_FIELDS) if not form[key]]
    if missing:
        return _checkout_page(form, f"Please fill in: {', '.join(missing)}.", 400)
    priced = pricing.cart_view(quantities)
    try:
        order = place_checkout_order(
            email=form["email"], name=form["name"], payment_method=form["payment_method"],
            lines=[(line.sku, line.quantity) for line in priced.lines],
            address={key: form[key] for key in ADDRESS_FIELDS}, shipping_minor=priced.shipping_minor)
    except OutOfStock as exc:
        name = next((line.name for line in priced.lines if line.sku == exc.sku), exc.sku)
        # Not exc.available: the exact count is told only when low, like the badge.
        left = storefront.stock_badge(exc.sku).shown_available
        told = "not that many left" if left is None else f"{left} left"
        return _checkout_page(form, f"Sorry, {name} sold out while you were shopping: {told}, "
                                    f"{exc.requested} in your cart. Nothing was ordered; please "
                                    "change your cart.", 409)
    except DomainError as exc:
        return _checkout_page(form, str(exc), 400)
    cart.clear()
    session[LAST_ORDER_KEY] = order.id
    # A card method: straight on to the gateway's page; it sends the customer back to tracking.
    return redirect(pay_now_url(order) or url_for("shop.confirmation"))


@blueprint.get("/checkout/done")
def confirmation():
    # Only the browser that placed the order sees it: the id comes from its session.
    order_id = session.get(LAST_ORDER_KEY)
    if not order_id:
        return redirect(url_for("shop.products"))
    try:
        order = orders.get_order(order_id)
    except NotFound:  # the shop's data was reset since
        session.pop(LAST_ORDER_KEY, None)
        return redirect(url_for("shop.products"))
    code = tracking_codes.display(order.tracking_code) if order.tracking_code else ""
    return render_template("confirmation.html", order=order, tracking_code=code, pay_url=pay_now_url(order))


@blueprint.app_context_processor
def _cart_count():
    return {"cart_count": cart.count}
