"""The hand-entered order form (phone and in-shop orders)."""
from __future__ import annotations

import html

from oms_core.db import db
from oms_core.models import Customer, Order, Product

URL = "/oms/admin/orders/new"


def form(**overrides):
    data = {"email": "carl@example.com", "name": "Carl Caller", "phone": "+31 6 1234",
            "line1": "2 High St", "line2": "", "postal_code": "1234 AB", "city": "Leiden",
            "country": "nl", "channel": "phone", "payment_method": "bank_transfer",
            "shipping": "4.95", "note": "Leave at the door", "confirm": "1",
            "sku": ["", "", ""], "quantity": ["1", "1", "1"]}
    data.update(overrides)
    return data


def test_form_renders_with_products_and_methods(staff_client, make_product):
    make_product(sku="MUG", name="Mug")
    page = staff_client.get(URL).get_data(as_text=True)
    assert 'id="new-order-form"' in page and '<option value="MUG">Mug (MUG)' in page
    assert '<option value="cash_on_delivery">' in page and '<option value="shop">' in page
    assert page.count('name="sku"') == 5
    line = staff_client.get(f"{URL}/line", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert line.lstrip().startswith("<tr>") and 'name="sku"' in line and "<html" not in line


def test_place_and_confirm_a_phone_order(staff_client, make_product):
    mug = make_product(sku="MUG", on_hand=5, price_minor=800)
    tea = make_product(sku="TEA", on_hand=5, price_minor=450)
    response = staff_client.post(URL, data=form(sku=["MUG", "", "TEA"], quantity=["2", "1", "3"]))
    assert response.status_code == 302
    order = db.session.query(Order).one()
    assert response.headers["Location"].endswith(f"/oms/admin/orders/{order.id}")
    assert (order.status, order.channel, order.payment_method) == ("confirmed", "phone", "bank_transfer")
    assert (order.subtotal_minor, order.shipping_minor, order.total_minor) == (2 * 800 + 3 * 450, 495, 3445)
    assert (order.ship_city, order.ship_country, order.note) == ("Leiden", "NL", "Leave at the door")
    assert order.customer.phone == "+31 6 1234"
    assert order.events[0].actor == "staff:staff@example.com"
    assert db.session.get(Product, mug.id).reserved == 2 and db.session.get(Product, tea.id).reserved == 3
    page = staff_client.get(response.headers["Location"]).get_data(as_text=True)
    assert f"Order {order.number} placed and confirmed." in page


def test_place_without_confirming(staff_client, make_product):
    make_product(sku="MUG", on_hand=5)
    data = form(sku=["MUG"], quantity=["1"], channel="shop", shipping="")
    del data["confirm"]
    assert staff_client.post(URL, data=data).status_code == 302
    order = db.session.query(Order).one()
    assert (order.status, order.channel, order.shipping_minor, order.tracking_code) == ("placed", "shop", 0, None)


def test_bad_input_shows_the_form_again_and_saves_nothing(staff_client, make_product):
    make_product(sku="MUG", on_hand=1)
    cases = [
        (form(sku=["MUG"], quantity=["2"]), "Not enough stock for MUG"),
        (form(sku=["", ""], quantity=["1", "1"]), "An order needs at least one item"),
        (form(sku=["MUG"], quantity=["two"]), "Quantity of MUG must be a whole number"),
        (form(sku=["MUG"], quantity=["1"], email="not-an-email"), "is not an email address"),
        (form(sku=["MUG"], quantity=["1"], name=""), "Name is required"),
        (form(sku=["MUG"], quantity=["1"], shipping="4.999"), "at most 2 decimals"),
        (form(sku=["GONE"], quantity=["1"]), "Unknown or unavailable product: GONE"),
        (form(sku=["MUG"], quantity=["1"], channel="web"), "Unknown channel"),
        (form(sku=["MUG"], quantity=["1"], payment_method="bitcoin"), "No payment method"),
    ]
    for data, message in cases:
        response = staff_client.post(URL, data=data)
        page = html.unescape(response.get_data(as_text=True))
        assert response.status_code == 400, message
        assert message in page, message
        assert 'value="2 High St"' in page and "Leave at the door" in page  # what was typed is kept
    mug_selected = html.unescape(staff_client.post(URL, data=cases[0][0]).get_data(as_text=True))
    assert '<option value="MUG" selected>' in mug_selected and 'name="quantity" aria-label="Quantity" inputmode="numeric" size="4" value="2"' in mug_selected
    assert db.session.query(Order).count() == 0 and db.session.query(Customer).count() == 0
    assert db.session.query(Product).one().reserved == 0


def test_add_line_without_javascript_keeps_values(staff_client, make_product):
    make_product(sku="MUG")
    response = staff_client.post(URL, data=form(sku=["MUG", ""], quantity=["3", "1"], add_line="1"))
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and page.count('name="sku"') == 3
    assert '<option value="MUG" selected>' in page and 'value="Carl Caller"' in page
    assert db.session.query(Order).count() == 0


def test_a_billing_address_of_its_own(staff_client, make_product):
    make_product(sku="MUG", on_hand=5, price_minor=800)
    response = staff_client.post(URL, data=form(sku=["MUG", "", ""], bill_name="Acme B.V.",
                                                bill_line1="Dam 1", bill_city="Amsterdam", bill_country="nl"))
    assert response.status_code == 302
    order = db.session.query(Order).one()
    assert order.billing_address == {"name": "Acme B.V.", "line1": "Dam 1", "line2": "", "postal_code": "",
                                     "city": "Amsterdam", "country": "NL"}
    assert order.ship_city == "Leiden"
    page = staff_client.post(URL, data=form(sku=["MUG", "", ""], bill_line1="x", bill_country="Germany"))
    assert page.status_code == 400 and "two-letter" in page.get_data(as_text=True)
