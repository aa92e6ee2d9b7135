"""Back-office products and stock: list, adjustments to the ledger (row and detail
HTMX swaps, plain posts), ledger history, product creation by owners only."""
from __future__ import annotations

import html

import pytest

from oms_core.db import db
from oms_core.models import Product, StockMove
from oms_core.services import stock

ADMIN = "/oms/admin"


def fresh(product_id) -> Product:
    db.session.expire_all()
    return db.session.get(Product, product_id)


def moves(product_id):
    return [(m.reason, m.on_hand_delta, m.note, m.actor) for m in reversed(stock.ledger(product_id))]


def test_products_page_lists_stock(staff_client, make_product, place):
    apple = make_product(sku="APL", name="Apple", on_hand=10, low_stock_threshold=3)
    pear = make_product(sku="PER", name="Pear", on_hand=4, low_stock_threshold=3)
    place([(pear.sku, 2)], confirm=True)
    page = staff_client.get(f"{ADMIN}/products").get_data(as_text=True)
    assert "Apple" in page and "€12.50" in page  # the shop's locale (en_GB)
    row = page.split(f'id="product-{pear.id}"')[1].split("</tr>")[0]
    assert '<td class="num">4</td>' in row and '<td class="num">2</td>' in row  # on hand, reserved/available
    assert "badge-warn" in row
    assert "badge-ok" in page.split(f'id="product-{apple.id}"')[1].split("</tr>")[0]
    assert stock.ledger_mismatches() == []


def test_products_search_and_keyset_pages(staff_client, make_product):
    for i in range(3):
        make_product(sku=f"MUG-{i}", name=f"Mug {i}")
    make_product(sku="TEA-1", name="Green tea")
    page = staff_client.get(f"{ADMIN}/products?q=MUG").get_data(as_text=True)
    assert "MUG-2" in page and "TEA-1" not in page
    page = staff_client.get(f"{ADMIN}/products?q=green").get_data(as_text=True)
    assert "TEA-1" in page and "MUG-0" not in page
    page = staff_client.get(f"{ADMIN}/products?after=MUG-1").get_data(as_text=True)
    assert "MUG-2" in page and "MUG-1<" not in page and "MUG-0" not in page
    fragment = staff_client.get(f"{ADMIN}/products?q=TEA", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert fragment.lstrip().startswith('<div id="products-results">') and "<html" not in fragment


@pytest.mark.parametrize("view", ["row", "detail"])
@pytest.mark.parametrize("htmx", [False, True])
def test_stock_adjustment_writes_the_ledger(staff_client, make_product, view, htmx):
    product = make_product(on_hand=5)
    response = staff_client.post(f"{ADMIN}/products/{product.id}/adjust", htmx=htmx,
                                 data={"delta": "+12", "reason": "receipt", "note": "Delivery 42", "view": view})
    if htmx:
        body = response.get_data(as_text=True)
        assert response.status_code == 200 and "<html" not in body
        marker = f'<tr id="product-{product.id}"' if view == "row" else '<div id="product-detail">'
        assert body.lstrip().startswith(marker), body[:200]
        assert "+12 on hand, now 17" in body
        if view == "detail":
            assert "Delivery 42" in body  # the ledger is part of the swapped fragment
    else:
        assert response.status_code == 302
        expected = f"{ADMIN}/products" + (f"/{product.id}" if view == "detail" else "")
        assert response.headers["Location"].endswith(expected)
        assert "+12 on hand, now 17" in staff_client.get(response.headers["Location"]).get_data(as_text=True)
    assert fresh(product.id).on_hand == 17
    assert moves(product.id)[-1] == ("receipt", 12, "Delivery 42", "staff:staff@example.com")
    assert stock.ledger_mismatches() == []

    staff_client.post(f"{ADMIN}/products/{product.id}/adjust", htmx=htmx,
                      data={"delta": "-2", "reason": "adjustment", "note": "Broken", "view": view})
    assert fresh(product.id).on_hand == 15 and moves(product.id)[-1][:3] == ("adjustment", -2, "Broken")


@pytest.mark.parametrize("htmx", [False, True])
@pytest.mark.parametrize("data, message", [
    ({"delta": "-3", "reason": "adjustment", "note": ""}, "Say why the count changes"),
    ({"delta": "abc", "reason": "receipt", "note": ""}, "Change must be a whole number"),
    ({"delta": "2.5", "reason": "receipt", "note": ""}, "Change must be a whole number"),
    ({"delta": "0", "reason": "receipt", "note": ""}, "must not be zero"),
    ({"delta": "5", "reason": "shipment", "note": "x"}, "Pick a reason"),
    ({"delta": "-4", "reason": "adjustment", "note": "lost"}, "cannot go down by 4"),
])
def test_refused_adjustment_changes_nothing(staff_client, make_product, place, htmx, data, message):
    product = make_product(on_hand=5)
    place([(product.sku, 2)], confirm=True)  # 2 reserved: at most 3 can be adjusted away
    before = moves(product.id)
    response = staff_client.post(f"{ADMIN}/products/{product.id}/adjust", htmx=htmx, data=dict(data, view="row"))
    if htmx:
        body = html.unescape(response.get_data(as_text=True))
        assert response.status_code == 200 and message in body and 'role="alert"' in body
        assert f'value="{data["delta"]}"' in body  # kept for correction
    else:
        assert message in html.unescape(staff_client.get(response.headers["Location"]).get_data(as_text=True))
    assert fresh(product.id).on_hand == 5 and moves(product.id) == before


def test_product_detail_shows_the_ledger(staff_client, make_product, place):
    product = make_product(on_hand=5)
    order = place([(product.sku, 2)], confirm=True)
    stock.adjust(product.id, 3, reason="receipt", note="Supplier X", actor="staff:x@example.com")
    page = staff_client.get(f"{ADMIN}/products/{product.id}").get_data(as_text=True)
    ledger = page.split('id="ledger"')[1]
    assert ledger.index("Supplier X") < ledger.index("reservation") < ledger.index("initial")  # newest first
    assert f'href="{ADMIN}/orders/{order.id}"' in ledger and "+5" in ledger and "+3" in ledger
    assert staff_client.get(f"{ADMIN}/products/999").status_code == 404


def test_owner_creates_a_product(owner_client):
    response = owner_client.post(f"{ADMIN}/products/new", data={
        "sku": "NEW-1", "name": "Teapot", "price": "12.50", "currency": "eur", "on_hand": "7",
        "low_stock_threshold": "2", "description": "Blue", "category": " kitchen "})
    assert response.status_code == 302
    product = db.session.query(Product).filter_by(sku="NEW-1").one()
    assert (product.price_minor, product.currency, product.on_hand, product.low_stock_threshold) == (1250, "EUR", 7, 2)
    assert product.category == "kitchen"  # its return window: OMS_RETURN_WINDOW_DAYS_BY_CATEGORY
    assert moves(product.id) == [("initial", 7, "", "staff:owner@example.com")]
    assert "Product NEW-1 created." in owner_client.get(response.headers["Location"]).get_data(as_text=True)


@pytest.mark.parametrize("data, message", [
    ({"sku": "N", "name": "Teapot", "price": "12.505"}, "at most 2 decimals"),
    ({"sku": "N", "name": "Teapot", "price": ""}, "Price is required"),
    ({"sku": "", "name": "Teapot", "price": "3"}, "needs a SKU and a name"),
    ({"sku": "N", "name": "Teapot", "price": "3", "on_hand": "-1"}, "Stock on hand must be a whole number"),
    ({"sku": "N", "name": "Teapot", "price": "3", "currency": "EURO"}, "three-letter currency"),
    ({"sku": "OLD", "name": "Teapot", "price": "3"}, "SKU OLD exists already"),
    ({"sku": "N", "name": "Teapot", "price": "3", "category": "c" * 65}, "Category is longer than 64"),
])
def test_refused_product_keeps_the_form(owner_client, make_product, data, message):
    make_product(sku="OLD")
    response = owner_client.post(f"{ADMIN}/products/new", data=data)
    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 400 and message in page
    assert 'value="Teapot"' in page and "<details class=\"panel\" id=\"create-product\" open>" in page
    assert db.session.query(Product).count() == 1


def test_staff_cannot_create_products(staff_client):
    assert 'id="product-form"' not in staff_client.get(f"{ADMIN}/products").get_data(as_text=True)
    response = staff_client.post(f"{ADMIN}/products/new", data={"sku": "X", "name": "X", "price": "1"})
    assert response.status_code == 403
    assert db.session.query(Product).count() == 0
    assert db.session.query(StockMove).count() == 0
