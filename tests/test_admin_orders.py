"""Back-office orders: the list (filter, search, keyset pagination) and every action
on the order page, as a plain form post and as an HTMX swap, with refused input
changing nothing."""
from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from sqlalchemy import update

from oms_core import runtime, tracking_codes
from oms_core.db import db
from oms_core.hookspecs import hookimpl
from oms_core.models import Order, Payment, Product, Shipment, TimelineEvent
from oms_core.models._base import utcnow
from oms_core.services import orders, payments, shipments

ADMIN = "/oms/admin"


@pytest.fixture
def app_config():
    return {"OMS_PAGE_SIZE": 3}


def order_url(order_id, action=""):
    return f"{ADMIN}/orders/{order_id}" + (f"/{action}" if action else "")


def fresh(order_id) -> Order:
    db.session.expire_all()
    return db.session.get(Order, order_id)


def assert_fragment(response):
    """An HTMX answer: the order body alone, never a whole page."""
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "<html" not in body and "<nav" not in body
    assert 'id="order-body"' in body
    return html.unescape(body)


def assert_redirect_with_flash(client, response, order_id, text):
    assert response.status_code == 302
    assert response.headers["Location"].endswith(order_url(order_id))
    page = client.get(order_url(order_id)).get_data(as_text=True)
    assert text in page
    return page


def paid_order(place, **kw):
    order = place(confirm=True, **kw)
    payments.record_payment(order.id, gateway_id="bank_transfer", amount_minor=order.total_minor,
                            currency=order.currency, reference="T", actor="test")
    return order


def shipped_order(place):
    order = paid_order(place)
    shipment = shipments.create_shipment(order.id, carrier_id="manual", service="DHL",
                                         tracking_number="JD0001", actor="test")
    return order, shipment


# ----------------------------------------------------------------- list


def test_orders_list_renders_and_filters_by_status(staff_client, place):
    placed = place()
    confirmed = place(confirm=True, email="bob@example.com", name="Bob Buyer")
    page = staff_client.get(f"{ADMIN}/orders").get_data(as_text=True)
    assert placed.number in page and confirmed.number in page and "<html" in page

    page = staff_client.get(f"{ADMIN}/orders?status=confirmed").get_data(as_text=True)
    assert confirmed.number in page and f">{placed.number}<" not in page
    assert tracking_codes.display(fresh(confirmed.id).tracking_code) in page


def test_orders_list_htmx_returns_only_the_results(staff_client, place):
    order = place(confirm=True)
    response = staff_client.get(f"{ADMIN}/orders?status=confirmed", headers={"HX-Request": "true"})
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body
    assert body.lstrip().startswith('<div id="orders-results">') and order.number in body
    assert "HX-Request" in response.headers.get("Vary", "")
    # A history restore needs the whole page.
    restore = staff_client.get(f"{ADMIN}/orders", headers={"HX-Request": "true",
                                                           "HX-History-Restore-Request": "true"})
    assert "<html" in restore.get_data(as_text=True)


def test_orders_search_by_number_tracking_code_and_email(staff_client, place):
    ann = place(confirm=True, email="ann@example.com")
    bob = place(confirm=True, email="bob@shop.example", name="Bob")
    ann_code = fresh(ann.id).tracking_code

    def numbers(query):
        page = staff_client.get(f"{ADMIN}/orders", query_string={"q": query}).get_data(as_text=True)
        return set(re.findall(r'href="/oms/admin/orders/(\d+)"', page))

    assert numbers(ann.number) == {str(ann.id)}
    assert numbers(f"#{bob.id}") == {str(bob.id)}
    assert numbers(tracking_codes.display(ann_code).lower()) == {str(ann.id)}
    assert numbers("bob@") == {str(bob.id)}
    assert numbers("BOB@SHOP") == {str(bob.id)}
    assert numbers("nobody@") == set()
    assert "No orders match" in staff_client.get(f"{ADMIN}/orders?q=nobody@").get_data(as_text=True)


def test_orders_keyset_pagination(staff_client, place, make_product):
    product = make_product(on_hand=100)
    ids = [place([(product.sku, 1)]).id for _ in range(7)]  # page size is 3
    seen = []
    url = f"{ADMIN}/orders"
    while url:
        page = staff_client.get(url).get_data(as_text=True)
        seen.extend(int(i) for i in re.findall(r'href="/oms/admin/orders/(\d+)"', page))
        older = re.search(r'id="older" href="([^"]+)"', page)
        url = older.group(1).replace("&amp;", "&") if older else None
    assert seen == sorted(ids, reverse=True)


def test_orders_pagination_keeps_the_filter(staff_client, place, make_product):
    product = make_product(on_hand=100)
    confirmed = [place([(product.sku, 1)], confirm=True).id for _ in range(4)]
    place([(product.sku, 1)])
    first = staff_client.get(f"{ADMIN}/orders?status=confirmed").get_data(as_text=True)
    older = re.search(r'id="older" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    assert "status=confirmed" in older and f"before={confirmed[1]}" in older
    second = staff_client.get(older).get_data(as_text=True)
    assert re.findall(r'href="/oms/admin/orders/(\d+)"', second) == [str(confirmed[0])]


def test_attention_lists_match_dashboard_counts(staff_client, place, make_product):
    product = make_product(on_hand=100)
    place([(product.sku, 1)])                                              # unconfirmed
    unpaid = place([(product.sku, 1)], confirm=True)                       # unpaid
    cod = place([(product.sku, 1)], confirm=True, payment_method="cash_on_delivery")
    late = paid_order(place, lines=[(product.sku, 1)])
    db.session.execute(update(Order).where(Order.id.in_([late.id, cod.id]))
                       .values(status_changed_at=utcnow() - timedelta(days=5)))
    db.session.commit()
    dashboard = staff_client.get(f"{ADMIN}/").get_data(as_text=True)
    for kind, expected in (("unpaid", {unpaid.id}), ("late", {late.id, cod.id}),
                           ("shipment_problems", set())):
        count = re.search(rf'id="count-{kind}" href="([^"]+)">\s*<span class="count">(\d+)', dashboard)
        href, number = count.group(1).replace("&amp;", "&"), int(count.group(2))
        listed = staff_client.get(href).get_data(as_text=True)
        found = {int(i) for i in re.findall(r'href="/oms/admin/orders/(\d+)"', listed)}
        assert found == expected and number == len(expected), kind


# ----------------------------------------------------------------- order page


def test_order_page_shows_everything(staff_client, place):
    order, shipment = shipped_order(place)
    orders.add_note(order.id, "Customer called about gift wrap", actor="staff:sam@example.com")
    shipments.add_tracking_update(shipment.id, shipments.TrackingUpdate(
        "JD0001", "in_transit", utcnow(), message="Left the depot", location="Utrecht"), source="test")
    page = staff_client.get(order_url(order.id)).get_data(as_text=True)
    order = fresh(order.id)
    for text in ("Ann Example", "ann@example.com", "1 Main St", "Springfield", "JD0001", "Left the depot",
                 "Utrecht", "Customer called about gift wrap", "staff:sam@example.com", "private",
                 "Balance due", tracking_codes.display(order.tracking_code), "Shipped", "In transit",
                 "dhl.com"):
        assert text in page, text
    assert 'id="tracking-form"' in page and 'id="note-form"' in page
    assert 'id="cancel-form"' not in page and 'id="payment-form"' not in page


@pytest.mark.parametrize("state, shown, hidden", [
    ("placed", {"confirm-form", "cancel-form", "note-form"}, {"payment-form", "shipment-form", "tracking-form", "close-form"}),
    ("confirmed", {"payment-form", "cancel-form"}, {"confirm-form", "shipment-form", "close-form"}),
    # A paid order is cancelled with its refund, and refunded from the page.
    ("paid", {"shipment-form", "cancel-form", "refund-form"}, {"payment-form", "confirm-form"}),
])
def test_order_page_offers_only_allowed_actions(staff_client, place, state, shown, hidden):
    order = {"placed": lambda: place(), "confirmed": lambda: place(confirm=True),
             "paid": lambda: paid_order(place)}[state]()
    page = staff_client.get(order_url(order.id)).get_data(as_text=True)
    for form_id in shown:
        assert f'id="{form_id}"' in page, form_id
    for form_id in hidden:
        assert f'id="{form_id}"' not in page, form_id


def test_cash_on_delivery_can_ship_before_payment(staff_client, place):
    order = place(confirm=True, payment_method="cash_on_delivery")
    page = staff_client.get(order_url(order.id)).get_data(as_text=True)
    assert 'id="shipment-form"' in page and 'id="payment-form"' in page


def test_missing_order_is_404(staff_client):
    assert staff_client.get(order_url(999)).status_code == 404


def test_plugin_panels_are_joined_on_the_order_page(staff_client, place):
    class Panel:
        @hookimpl
        def order_page_panels(self, order, user):
            return f'<section class="panel" id="loyalty-panel">Points for {order.number}</section>'

    runtime.registry().pm.register(Panel(), name="loyalty-test")
    order = place()
    page = staff_client.get(order_url(order.id)).get_data(as_text=True)
    assert f'<section class="panel" id="loyalty-panel">Points for {order.number}</section>' in page


# ----------------------------------------------------------------- actions


@pytest.mark.parametrize("htmx", [False, True])
def test_confirm(staff_client, place, htmx):
    order = place()
    response = staff_client.post(order_url(order.id, "confirm"), htmx=htmx)
    if htmx:
        body = assert_fragment(response)
        assert "Confirmed" in body and 'id="payment-form"' in body
    else:
        assert_redirect_with_flash(staff_client, response, order.id, "confirmed; stock reserved")
    assert fresh(order.id).status == "confirmed"
    assert fresh(order.id).events[-1].actor == "staff:staff@example.com"


@pytest.mark.parametrize("htmx", [False, True])
def test_confirm_out_of_stock_changes_nothing(staff_client, place, make_product, htmx):
    product = make_product(on_hand=1)
    order = place([(product.sku, 2)])
    response = staff_client.post(order_url(order.id, "confirm"), htmx=htmx)
    if htmx:
        assert "Not enough stock" in assert_fragment(response)
    else:
        assert_redirect_with_flash(staff_client, response, order.id, "Not enough stock")
    assert fresh(order.id).status == "placed"
    assert db.session.get(Product, product.id).reserved == 0


@pytest.mark.parametrize("htmx", [False, True])
def test_record_payment_partial_then_full(staff_client, place, htmx):
    order = place(confirm=True)  # 2 x 12.50 EUR
    response = staff_client.post(order_url(order.id, "payments"), htmx=htmx,
                                 data={"gateway_id": "bank_transfer", "amount": "10", "reference": "TR-1"})
    if htmx:
        body = assert_fragment(response)
        assert "Payment of €10.00 recorded." in body and "€15.00" in body  # the shop's locale (en_GB)
    else:
        assert_redirect_with_flash(staff_client, response, order.id, "Payment of €10.00 recorded.")
    assert fresh(order.id).payment_status == "partially_paid"
    staff_client.post(order_url(order.id, "payments"), htmx=htmx,
                      data={"gateway_id": "bank_transfer", "amount": "15,00", "reference": "TR-2"})
    order = fresh(order.id)
    assert (order.status, order.paid_minor, order.balance_minor) == ("paid", 2500, 0)
    assert [p.reference for p in payments.payments_for(order.id)] == ["TR-1", "TR-2"]


@pytest.mark.parametrize("htmx", [False, True])
@pytest.mark.parametrize("amount, reference, message", [
    ("25.01", "X", "more than the balance due"),
    ("abc", "X", "is not an amount"),
    ("1.234", "X", "at most 2 decimals"),
    ("", "X", "Amount is required"),
    ("5", "", "reference"),
])
def test_refused_payment_records_nothing(staff_client, place, htmx, amount, reference, message):
    order = place(confirm=True)
    response = staff_client.post(order_url(order.id, "payments"), htmx=htmx,
                                 data={"gateway_id": "bank_transfer", "amount": amount,
                                       "reference": reference})
    if htmx:
        body = assert_fragment(response)
        assert message in body and 'role="alert"' in body
        # What was typed is kept for correction.
        assert f'name="amount" inputmode="decimal" autocomplete="off" required\n                 value="{amount}"' in body
    else:
        assert_redirect_with_flash(staff_client, response, order.id, message)
    assert db.session.query(Payment).count() == 0
    assert fresh(order.id).paid_minor == 0


@pytest.mark.parametrize("htmx", [False, True])
def test_create_manual_shipment(staff_client, place, htmx):
    order = paid_order(place)
    response = staff_client.post(order_url(order.id, "shipments"), htmx=htmx,
                                 data={"carrier_id": "manual", "service": "DHL", "tracking_number": "JD 123"})
    if htmx:
        body = assert_fragment(response)
        assert "tracking number JD123" in body and 'id="tracking-form"' in body
    else:
        assert_redirect_with_flash(staff_client, response, order.id, "Shipped with DHL")
    assert fresh(order.id).status == "shipped"
    (shipment,) = shipments.shipments_for(order.id)
    assert shipment.tracking_number == "JD123" and "dhl.com" in shipment.tracking_url


@pytest.mark.parametrize("htmx", [False, True])
@pytest.mark.parametrize("form, message", [
    ({"carrier_id": "manual", "service": "DHL", "tracking_number": ""}, "tracking number"),
    ({"carrier_id": "manual", "service": "Pigeon", "tracking_number": "X1"}, "Pick one of"),
    ({"carrier_id": "nope", "service": "DHL", "tracking_number": "X1"}, "No carrier"),
])
def test_refused_shipment_changes_nothing(staff_client, place, htmx, form, message):
    order = paid_order(place)
    response = staff_client.post(order_url(order.id, "shipments"), data=form, htmx=htmx)
    if htmx:
        assert message in assert_fragment(response)
    else:
        assert_redirect_with_flash(staff_client, response, order.id, message)
    assert fresh(order.id).status == "paid"
    assert db.session.query(Shipment).count() == 0


def test_shipment_refused_for_unpaid_order(staff_client, place):
    order = place(confirm=True)
    response = staff_client.post(order_url(order.id, "shipments"), htmx=True,
                                 data={"carrier_id": "manual", "service": "DHL", "tracking_number": "X1"})
    assert "must be paid first" in assert_fragment(response)
    assert fresh(order.id).status == "confirmed"


def test_carrier_services_options(staff_client):
    body = staff_client.get(f"{ADMIN}/carrier-services?carrier_id=manual").get_data(as_text=True)
    assert '<option value="DHL">DHL</option>' in body and "<html" not in body
    assert staff_client.get(f"{ADMIN}/carrier-services?carrier_id=nope").status_code == 404


@pytest.mark.parametrize("htmx", [False, True])
def test_tracking_update_delivers(staff_client, place, htmx):
    order, shipment = shipped_order(place)
    response = staff_client.post(order_url(order.id, "tracking"), htmx=htmx, data={
        "shipment_id": str(shipment.id), "status": "delivered", "message": "Signed by A.",
        "location": "Springfield", "occurred_at": ""})
    if htmx:
        body = assert_fragment(response)
        assert "Signed by A." in body and "Delivered" in body
    else:
        assert_redirect_with_flash(staff_client, response, order.id, "Tracking update added.")
    assert fresh(order.id).status == "delivered"
    (event,) = db.session.get(Shipment, shipment.id).events
    assert (event.source, event.location) == ("staff:staff@example.com", "Springfield")


def test_tracking_update_with_time_and_refusals(staff_client, place):
    order, shipment = shipped_order(place)
    response = staff_client.post(order_url(order.id, "tracking"), htmx=True, data={
        "shipment_id": str(shipment.id), "status": "in_transit", "occurred_at": "2024-03-01T10:30"})
    assert "1 Mar 2024, 10:30:00 UTC" in assert_fragment(response)  # the shop's zone (UTC here) and locale
    for data, message in (
        ({"shipment_id": str(shipment.id), "status": "lost_in_space"}, "Unknown tracking status"),
        ({"shipment_id": "999", "status": "in_transit"}, "Pick one of this order"),
        ({"shipment_id": str(shipment.id), "status": "in_transit", "occurred_at": "yesterday"}, "is not a date"),
        ({"shipment_id": str(shipment.id), "status": "in_transit", "occurred_at": "2999-01-01T00:00"}, "future"),
    ):
        body = assert_fragment(staff_client.post(order_url(order.id, "tracking"), data=data, htmx=True))
        assert message in body, message
    assert len(db.session.get(Shipment, shipment.id).events) == 1


@pytest.mark.parametrize("htmx", [False, True])
def test_cancel_requires_a_reason(staff_client, place, make_product, htmx):
    product = make_product(on_hand=5)
    order = place([(product.sku, 2)], confirm=True)
    response = staff_client.post(order_url(order.id, "cancel"), data={"reason": "  "}, htmx=htmx)
    if htmx:
        assert "A reason for cancelling is required." in assert_fragment(response)
    else:
        assert_redirect_with_flash(staff_client, response, order.id, "A reason for cancelling is required.")
    assert fresh(order.id).status == "confirmed"

    response = staff_client.post(order_url(order.id, "cancel"), data={"reason": "Customer changed mind"},
                                 htmx=htmx)
    if htmx:
        body = assert_fragment(response)
        assert "Customer changed mind" in body and 'id="cancel-form"' not in body
    assert fresh(order.id).status == "cancelled"
    assert db.session.get(Product, product.id).reserved == 0


def test_cancelling_a_paid_order_shows_and_records_the_refund(staff_client, place):
    order = paid_order(place)
    page = staff_client.get(order_url(order.id)).get_data(as_text=True)
    assert "Cancelling refunds <strong>€25.00</strong>" in page and 'name="refund_reference"' in page
    body = assert_fragment(staff_client.post(order_url(order.id, "cancel"), data={"reason": "x"}, htmx=True))
    assert "refunded by hand" in body and fresh(order.id).status == "paid"  # no reference: nothing changes
    body = assert_fragment(staff_client.post(order_url(order.id, "cancel"), htmx=True,
                                             data={"reason": "x", "refund_reference": "BACK-7"}))
    assert "€25.00 refunded" in body and "BACK-7" in body
    assert (fresh(order.id).status, fresh(order.id).refunded_minor) == ("cancelled", order.total_minor)


def test_refund_form_refunds_lines_or_an_amount(staff_client, place):
    order = paid_order(place)
    line = order.lines[0]
    body = assert_fragment(staff_client.post(order_url(order.id, "refunds"), htmx=True, data={
        f"line-{line.id}": "1", "reason": "Broken", "reference": "BACK-1"}))
    assert "Refund of €12.50 recorded." in body and 'id="refunds"' in body
    body = assert_fragment(staff_client.post(order_url(order.id, "refunds"), htmx=True, data={
        "amount": "99", "reason": "Too much", "reference": "BACK-2"}))
    assert "At most 12.50 EUR can be refunded" in body
    assert (fresh(order.id).refunded_minor, fresh(order.id).payment_status) == (1250, "partially_refunded")


@pytest.mark.parametrize("htmx", [False, True])
def test_close_delivered_order(staff_client, place, htmx):
    order, shipment = shipped_order(place)
    shipments.add_tracking_update(shipment.id, shipments.TrackingUpdate("JD0001", "delivered", utcnow()),
                                  source="test")
    assert 'id="close-form"' in staff_client.get(order_url(order.id)).get_data(as_text=True)
    response = staff_client.post(order_url(order.id, "close"), htmx=htmx)
    if htmx:
        assert "closed" in assert_fragment(response)
    else:
        assert_redirect_with_flash(staff_client, response, order.id, "closed")
    assert fresh(order.id).status == "closed"


def test_close_refused_before_delivery(staff_client, place):
    order = place(confirm=True)
    assert "cannot go from" in assert_fragment(staff_client.post(order_url(order.id, "close"), htmx=True))
    assert fresh(order.id).status == "confirmed"


@pytest.mark.parametrize("htmx", [False, True])
def test_add_note(staff_client, place, htmx):
    order = place()
    response = staff_client.post(order_url(order.id, "notes"), data={"text": "Call back at 5"}, htmx=htmx)
    if htmx:
        assert "Call back at 5" in assert_fragment(response)
    else:
        assert_redirect_with_flash(staff_client, response, order.id, "Call back at 5")
    note = db.session.query(TimelineEvent).filter_by(order_id=order.id, kind="note").one()
    assert (note.public, note.actor) == (False, "staff:staff@example.com")
    body = assert_fragment(staff_client.post(order_url(order.id, "notes"), data={"text": ""}, htmx=True))
    assert "Note is required." in body
    assert db.session.query(TimelineEvent).filter_by(order_id=order.id, kind="note").count() == 1


def test_action_on_missing_order_is_404(staff_client):
    assert staff_client.post(order_url(999, "notes"), data={"text": "x"}).status_code == 404
