"""The order page's "Edit order" form (web/admin/order_edit_form.py): saving through
HTMX and a plain post, the preview of what saving would do, refusals shown with
nothing changed, and a hypothesis fuzz of every field. SQLite and PostgreSQL."""
from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from oms_core.db import db
from oms_core.models import Order, OutboxMessage, Refund, StockMove, TimelineEvent
from oms_core.services import payments, stock

from test_fuzz import NASTY


@pytest.fixture
def order(make_product, place):
    make_product(sku="MUG", name="Mug", price_minor=1000, on_hand=10)
    make_product(sku="TEA", name="Tea <b>leaf</b>", price_minor=500, on_hand=3)
    return place([("MUG", 2)], confirm=True, shipping_minor=500)


def url(order_id: int, tail: str = "edit") -> str:
    return f"/oms/admin/orders/{order_id}/{tail}"


def fresh(order_id: int) -> Order:
    # Not session.remove(): the logged-in user is kept on the app context between requests.
    db.session.rollback()
    db.session.expire_all()
    return db.session.get(Order, order_id)


def form_for(order: Order, **fields) -> dict:
    """The form as the page renders it (nothing changed), with `fields` typed over it."""
    data = {"version": str(order.version), "ship_name": order.ship_name, "ship_line1": order.ship_line1,
            "ship_line2": order.ship_line2, "ship_postal_code": order.ship_postal_code,
            "ship_city": order.ship_city, "ship_country": order.ship_country, "phone": order.customer_phone,
            "shipping": "5.00", "reason": "", "add_sku": "", "add_quantity": "1"}
    data.update({f"qty-{line.id}": str(line.quantity) for line in order.lines})
    data.update(fields)
    return data


def test_the_order_page_offers_the_form_only_before_shipping(staff_client, order):
    page = staff_client.get(f"/oms/admin/orders/{order.id}").get_data(as_text=True)
    assert 'id="edit-form"' in page and f'name="qty-{order.lines[0].id}"' in page
    assert "Tea &lt;b&gt;leaf&lt;/b&gt;" in page and "<b>leaf</b>" not in page  # escaped
    payments.record_payment(order.id, gateway_id="bank_transfer", amount_minor=order.total_minor,
                            currency="EUR", reference="T", actor="test")
    from oms_core.services import shipments
    shipments.create_shipment(order.id, carrier_id="manual", service="DHL", tracking_number="JD1", actor="test")
    page = staff_client.get(f"/oms/admin/orders/{order.id}").get_data(as_text=True)
    assert 'id="edit-form"' not in page


def test_saving_through_htmx_shows_the_new_total_and_the_timeline_entry(staff_client, order):
    line_id = order.lines[0].id
    data = form_for(order, **{f"qty-{line_id}": "3", "add_sku": "TEA", "add_quantity": "1",
                              "ship_city": "Utrecht", "reason": "Customer called"})
    body = staff_client.post(url(order.id), data=data, htmx=True).get_data(as_text=True)
    assert 'role="alert"' not in body, body[:2000]
    assert "qty MUG 2 -&gt; 3, added TEA x1, address changed" in body
    assert "New total 40.00 EUR" in body or "40.00" in body
    order = fresh(order.id)
    assert (order.total_minor, order.ship_city, order.version) == (4000, "Utrecht", 1)
    assert [(line.sku, line.quantity) for line in order.lines] == [("MUG", 3), ("TEA", 1)]
    assert re.search(r'event-order_edited.*?qty MUG 2 -&gt; 3, added TEA x1, address changed \(Customer called\)',
                     body, re.S)


def test_a_plain_post_redirects_with_a_flash(staff_client, order):
    response = staff_client.post(url(order.id), data=form_for(order, phone="+31 6 1"))
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/orders/{order.id}")
    assert fresh(order.id).customer_phone == "+31 6 1"


def test_the_preview_says_what_saving_would_do_and_saves_nothing(staff_client, order):
    payments.record_payment(order.id, gateway_id="bank_transfer", amount_minor=order.total_minor,
                            currency="EUR", reference="T", actor="test")
    documents_before = fresh(order.id).version
    body = staff_client.post(url(order.id, "edit/preview"), htmx=True,
                             data=form_for(fresh(order.id), **{f"qty-{order.lines[0].id}": "1"})).get_data(as_text=True)
    assert 'id="edit-new-total">15.00 EUR' in body.replace("\u00a0", " ") or "15.00" in body
    assert 'id="edit-refund"' in body and "10.00" in body and "by hand" in body
    assert 'id="edit-invoice"' in body and "INV-" in body
    assert fresh(order.id).version == documents_before and fresh(order.id).total_minor == 2500
    body = staff_client.post(url(order.id, "edit/preview"), htmx=True,
                             data=form_for(fresh(order.id), add_sku="TEA", add_quantity="1")).get_data(as_text=True)
    assert 'id="edit-due"' in body and "5.00" in body
    body = staff_client.post(url(order.id, "edit/preview"), htmx=True,
                             data=form_for(fresh(order.id), add_sku="TEA", add_quantity="9")).get_data(as_text=True)
    assert 'id="edit-preview"' in body  # stock is checked when saving, not in the preview


@pytest.mark.parametrize("fields, message", [
    ({"add_sku": "TEA", "add_quantity": "4"}, "Not enough stock for TEA: 4 requested, 3 available"),
    ({"version": "7"}, "changed since you opened the form"),
    ({"qty-LINE": "-1"}, "must be a whole number"),
    ({"qty-LINE": "0"}, "cancel the order"),
    ({"add_sku": "NOPE"}, "Unknown or unavailable product: NOPE"),
    ({"ship_country": "Netherlands"}, "two-letter code"),
    ({"shipping": "abc"}, ""),
    ({}, "Nothing to change"),
])
def test_refusals_are_shown_in_the_form_and_change_nothing(staff_client, order, fields, message):
    line_id = order.lines[0].id
    fields = {k.replace("LINE", str(line_id)): v for k, v in fields.items()}
    before = counts(), fresh(order.id).total_minor
    body = staff_client.post(url(order.id), data=form_for(order, **fields), htmx=True).get_data(as_text=True)
    error = re.search(r'<p class="error" role="alert">(.*?)</p>', body, re.S)
    assert error and message in error.group(1), body[:1500]
    assert (counts(), fresh(order.id).total_minor) == before
    assert '<details open>' in body  # the form stays open with what was typed
    preview = staff_client.post(url(order.id, "edit/preview"), data=form_for(order, **fields), htmx=True)
    assert preview.status_code == 200


def counts() -> tuple:
    db.session.rollback()
    return tuple(db.session.scalar(select(func.count()).select_from(model))
                 for model in (StockMove, TimelineEvent, Refund, OutboxMessage))


FIELD_VALUES = st.one_of(st.sampled_from(NASTY), st.integers(min_value=-5, max_value=1200).map(str),
                         st.text(max_size=10))


# What the fuzz may type into: the form's fields, and its quantity fields by the line's
# place. The choices must not depend on the order, which an accepted edit changes
# between examples (hypothesis replays choices and refuses a strategy that moved).
FORM_FIELDS = sorted(form_for(Order(version=0, lines=[])))
LINE_PLACES = 3


def typed_field(order: Order, key: str) -> str:
    """The form field a drawn key stands for: "line N" is the Nth line's quantity (a
    line the order lacks, past its last one: a field the form ignores)."""
    if not key.startswith("line "):
        return key
    place = int(key.split()[1])
    return f"qty-{order.lines[place].id}" if place < len(order.lines) else f"qty-line-{place}"


@settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_the_form_survives_fuzzing_and_a_refusal_changes_nothing(staff_client, order, data):
    current = fresh(order.id)
    fields = form_for(current)
    keys = FORM_FIELDS + [f"line {place}" for place in range(LINE_PLACES)]
    for key in data.draw(st.lists(st.sampled_from(keys), unique=True, max_size=5)):
        fields[typed_field(current, key)] = data.draw(
            st.one_of(FIELD_VALUES, st.sampled_from(["TEA", "MUG", "2", "0", "NL", "DE"])), label=key)
    before = counts(), current.total_minor, current.version
    response = staff_client.post(url(order.id), data=fields, htmx=True)
    assert response.status_code in (200, 400), response.status_code  # 400: the input guard (a NUL)
    body = response.get_data(as_text=True)
    after = fresh(order.id)
    if response.status_code == 400 or 'role="alert"' in body:
        assert (counts(), after.total_minor, after.version) == before, fields
    else:
        assert after.version == before[2] + 1
        assert after.total_minor == sum(line.gross_minor for line in after.lines) + after.shipping_minor
        assert not stock.ledger_mismatches() and not stock.stock_problems()
        held = sum(line.quantity for line in after.lines)
        assert held == sum(db.session.scalars(select(StockMove.reserved_delta).where(StockMove.order_id == order.id)))
    assert staff_client.post(url(order.id, "edit/preview"), data=fields, htmx=True).status_code in (200, 400)
