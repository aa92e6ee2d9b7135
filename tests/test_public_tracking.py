"""The public tracking page: found / mistyped / unknown, no personal data in the
HTML, private headers, a fixed number of queries, and the rate limit."""
from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timezone

import pytest
from sqlalchemy import event

from oms_core import tracking_codes
from oms_core.db import db
from oms_core.protocols import TrackingUpdate
from oms_core.services import orders, payments, shipments
from oms_web.storefront import place_checkout_order

CUSTOMER = {
    "email": "zelda.quintessa@example.org",
    "name": "Zelda Quintessa Marchbanks",
    "phone": "+31 6 5550 4321",
    "address": {"line1": "742 Evergreen Terrace", "line2": "Flat 3B", "postal_code": "9876 ZX",
                "city": "Utrecht", "country": "NL"},
}
PRIVATE_NOTE = "Customer is a difficult person, ask for ID"
STAFF = "staff:olive.owner@example.com"


def _shipped_order(make_product, *, lines=1):
    products = [make_product(on_hand=10, price_minor=1000, name=f"Teapot model {i}") for i in range(lines)]
    order = place_checkout_order(lines=[(p.sku, 1) for p in products], payment_method="bank_transfer",
                                 **CUSTOMER)
    orders.add_note(order.id, PRIVATE_NOTE, actor=STAFF)
    payments.record_payment(order.id, gateway_id="bank_transfer", amount_minor=order.total_minor,
                            currency="EUR", reference="BANK-REF-1", actor=STAFF)
    shipments.create_shipment(order.id, carrier_id="manual", service="DHL",
                              tracking_number="JD014600006281", actor=STAFF)
    return orders.get_order(order.id)


def _page(client, code):
    response = client.get("/track", query_string={"code": code})
    return response, response.get_data(as_text=True)


def test_form_without_code(client):
    response = client.get("/track")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'name="code"' in html and "Track your order" in html
    assert "mistyped" not in html and "No order" not in html


def test_found_order_shows_status_shipment_items_and_public_events(client, make_product):
    order = _shipped_order(make_product)
    # The display form, lower-cased, is read back to the same code.
    response, html = _page(client, tracking_codes.display(order.tracking_code).lower())
    assert response.status_code == 200
    assert f"Order {order.number}" in html
    assert 'data-status="shipped"' in html and ">Shipped<" in html
    assert "DHL" in html and "JD014600006281" in html
    assert "https://www.dhl.com/global-en/home/tracking/tracking-parcel.html?tracking-id=JD014600006281" in html
    assert "Teapot model 0" in html
    for label in ("Order received", "Order confirmed", "Payment received", "Being prepared"):
        assert label in html


def test_found_page_leaks_no_personal_data(client, make_product):
    order = _shipped_order(make_product)
    _, html = _page(client, order.tracking_code)
    assert "Shipped" in html
    leaks = [CUSTOMER["email"], CUSTOMER["phone"], CUSTOMER["name"], "Zelda", "Marchbanks",
             CUSTOMER["address"]["line1"], "Evergreen", CUSTOMER["address"]["line2"],
             CUSTOMER["address"]["postal_code"], PRIVATE_NOTE, "olive.owner", "staff:",
             "BANK-REF-1", "storefront", "@example"]
    assert [text for text in leaks if text in html] == []


def test_staff_typed_cancel_reason_is_not_shown(client, make_product):
    product = make_product()
    order = place_checkout_order(lines=[(product.sku, 1)], payment_method="bank_transfer", **CUSTOMER)
    orders.cancel_order(order.id, actor=STAFF, reason="Suspected fraud, do not ship")
    _, html = _page(client, order.tracking_code)
    assert 'data-status="cancelled"' in html and "Cancelled" in html
    assert "fraud" not in html


def test_carrier_updates_show_on_the_timeline(client, make_product):
    order = _shipped_order(make_product)
    shipment = shipments.shipments_for(order.id)[0]
    shipments.add_tracking_update(shipment.id, TrackingUpdate(
        "JD014600006281", "delivered", datetime.now(timezone.utc), raw_code="DLV",
        location="Utrecht depot"), source="carrier:manual")
    _, html = _page(client, order.tracking_code)
    assert 'data-status="delivered"' in html
    assert "Delivered - Utrecht depot" in html
    assert 'data-shipment-status="delivered"' in html


def test_mistyped_code_is_told_apart_from_unknown(client, make_product):
    order = _shipped_order(make_product)
    code = order.tracking_code
    wrong = code[:3] + ("A" if code[3] != "A" else "B") + code[4:]  # one symbol mistyped
    assert not tracking_codes.is_well_formed(wrong)
    response, html = _page(client, wrong)
    assert response.status_code == 200
    assert "This code looks mistyped: check it" in html and "No order with this code" not in html
    assert order.number not in html

    response, html = _page(client, "hello")
    assert "This code looks mistyped" in html

    unknown = tracking_codes.generate()
    response, html = _page(client, tracking_codes.display(unknown))
    assert response.status_code == 200
    assert "No order with this code" in html and "mistyped" not in html


def test_private_headers_and_no_cookie(client, make_product):
    order = _shipped_order(make_product)
    for query in ({}, {"code": order.tracking_code}, {"code": "nonsense"}):
        response = client.get("/track", query_string=query)
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["X-Robots-Tag"] == "noindex"
        assert "Set-Cookie" not in response.headers


def test_user_text_is_escaped(client, make_product):
    product = make_product(name="<script>alert(1)</script> mug")
    order = place_checkout_order(lines=[(product.sku, 1)], payment_method="bank_transfer", **CUSTOMER)
    _, html = _page(client, order.tracking_code)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; mug" in html


@contextmanager
def _count_queries():
    statements = []

    def before(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith(("SELECT", "(SELECT")):
            statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", before)


def test_lookup_takes_a_fixed_number_of_queries(client, make_product):
    small = _shipped_order(make_product, lines=1)
    big = _shipped_order(make_product, lines=6)
    for n in range(5):
        orders.add_note(big.id, f"note {n}", actor=STAFF)
    _page(client, small.tracking_code)  # warm up (schema check, first connection)
    counts = []
    for code in (small.tracking_code, big.tracking_code):
        db.session.remove()
        with _count_queries() as statements:
            response, _ = _page(client, code)
        assert response.status_code == 200
        counts.append(len(statements))
    assert counts[0] == counts[1] == 1  # one UNION: the order, its lines, shipments and events


@pytest.mark.parametrize("app_config", [{"OMS_TRACKING_RATE_LIMIT": "3 per minute"}])
def test_lookups_are_rate_limited(client, make_product):
    order = _shipped_order(make_product)
    for _ in range(3):
        assert _page(client, tracking_codes.generate())[0].status_code == 200
    response, html = _page(client, order.tracking_code)
    assert response.status_code == 429
    assert "Too many lookups" in html and order.number not in html
    assert response.headers["Cache-Control"] == "no-store"
    # The empty form is not a lookup: still served.
    assert client.get("/track").status_code == 200
