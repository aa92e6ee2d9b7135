"""Storefront helpers: the checkout API and the live stock badge."""
from __future__ import annotations

import re

import pytest
from flask import render_template_string

from oms_core.db import db
from oms_core.errors import OutOfStock, ValidationError
from oms_core.models import Order, Product
from oms_core.services import orders, stock
from oms_web.storefront import checkout_payment_methods, place_checkout_order

ADDRESS = {"line1": "1 Main St", "postal_code": "1000", "city": "Springfield", "country": "nl"}


def checkout(sku, quantity=1, **kw):
    return place_checkout_order(email=kw.pop("email", "ann@example.com"), name="Ann Example",
                                lines=[(sku, quantity)], payment_method=kw.pop("payment_method", "bank_transfer"),
                                address=ADDRESS, **kw)


def test_checkout_places_a_confirmed_order_with_its_stock_reserved(app, make_product):
    product = make_product(on_hand=5, price_minor=1990)
    order = checkout(product.sku, 2, shipping_minor=495)
    assert order.status == "confirmed" and order.tracking_code
    assert order.total_minor == 2 * 1990 + 495 and order.channel == "web"
    assert order.ship_country == "NL"
    db.session.refresh(product)
    assert (product.on_hand, product.reserved) == (5, 2)
    assert any(e.actor == "storefront" for e in orders.get_order(order.id).events)


def test_checkout_out_of_stock_places_nothing(app, make_product):
    product = make_product(on_hand=1)
    with pytest.raises(OutOfStock):
        checkout(product.sku, 2)
    with pytest.raises(ValidationError):
        checkout("NO-SUCH-SKU")
    assert db.session.query(Order).count() == 0
    db.session.refresh(product)
    assert product.reserved == 0 and stock.ledger_mismatches() == []


def test_payment_methods_come_from_the_registry(app):
    methods = dict(checkout_payment_methods())
    assert methods["bank_transfer"] == "Bank transfer"
    assert "cash_on_delivery" in methods


def badge_html(client, sku):
    response = client.get(f"/oms/storefront/stock/{sku}")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    return response.get_data(as_text=True)


def badge_text(html):
    return re.sub(r"<[^>]+>", "", html).strip()


def test_badge_states(client, make_product):
    plenty = make_product(sku="MUG-1", on_hand=20, low_stock_threshold=3)
    low = make_product(sku="MUG-2", on_hand=5, low_stock_threshold=3)
    empty = make_product(sku="MUG-3", on_hand=0)
    assert badge_text(badge_html(client, plenty.sku)) == "In stock"
    assert badge_text(badge_html(client, empty.sku)) == "Out of stock"
    assert badge_text(badge_html(client, low.sku)) == "In stock"
    checkout(low.sku, 2)  # 3 available: at the threshold
    assert badge_text(badge_html(client, low.sku)) == "3 left"
    checkout(low.sku, 3)
    assert badge_text(badge_html(client, low.sku)) == "Out of stock"
    assert badge_text(badge_html(client, "NO-SUCH-SKU")) == "Unavailable"
    db.session.get(Product, plenty.id).active = False
    db.session.commit()
    assert badge_text(badge_html(client, plenty.sku)) == "Unavailable"


def test_badge_refreshes_itself_with_htmx(client, make_product):
    product = make_product(sku="TEA/GREEN 1", on_hand=20)
    html = badge_html(client, "TEA/GREEN%201")
    assert 'hx-get="/oms/storefront/stock/TEA/GREEN%201"' in html
    assert 'hx-trigger="every 30s"' in html and 'hx-swap="outerHTML"' in html
    assert 'data-stock="in_stock"' in html and product.sku in html


def test_jinja_global_renders_the_same_badge(app, client, make_product):
    product = make_product(sku="POT-1", on_hand=2, low_stock_threshold=3)
    with app.test_request_context("/"):
        html = render_template_string("<div>{{ oms_stock_badge(sku) }}</div>", sku=product.sku)
    assert html.startswith("<div><span") and ">2 left</span>" in html
    assert 'hx-get="/oms/storefront/stock/POT-1"' in html
    assert html.removeprefix("<div>").removesuffix("</div>") == badge_html(client, product.sku)


def test_badge_escapes_the_sku(client):
    html = badge_html(client, "<b>x</b>")
    assert "<b>" not in html and "Unavailable" in html


def test_badge_needs_no_login_and_no_csrf(client, make_product):
    make_product(sku="FREE-1")
    response = client.get("/oms/storefront/stock/FREE-1")
    assert response.status_code == 200 and "Set-Cookie" not in response.headers
