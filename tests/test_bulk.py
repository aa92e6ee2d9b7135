"""Bulk actions on the orders list (services/bulk.py, web/admin/bulk.py): confirm,
create shipments with the preferred carrier, packing slips in one PDF, export as CSV;
each with eligible and refused orders reported per order, each order in its own
transaction; bounds, bad and unknown ids, CSRF, roles. Both databases."""
from __future__ import annotations

import csv
import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pypdf import PdfReader
from sqlalchemy import func, select

from oms_core import limits
from oms_core.db import db
from oms_core.errors import ValidationError
from oms_core.models import Order, OutboxMessage, Shipment, StockMove
from oms_core.services import bulk, payments, shipments
from oms_core.testing.carrier_server import CarrierServer, HttpCarrier
from oms_core.testing.fakes import plugin_registering

ADMIN = "/oms/admin"
ACTOR = "staff:ops@example.com"
BOX = {"code": "box", "label": "Box", "outer_mm": [300, 200, 100], "weight_grams": 150}
BAG = {"code": "bag", "label": "Bag", "weight_grams": 20, "default": True}


@pytest.fixture
def server():
    with CarrierServer() as running:
        yield running


@pytest.fixture
def app_config(server):
    return {"extra_plugins": [plugin_registering(HttpCarrier(server.url))], "OMS_PACKAGING": [BOX, BAG],
            "OMS_SHIPPING_RULES": [{"countries": ["NL"], "carrier": "httppost", "service": "std"}]}


def fresh(order_id) -> Order:
    db.session.expire_all()
    return db.session.get(Order, order_id)


def outcomes(report) -> dict[int, tuple[bool, str]]:
    return {o.order_id: (o.ok, o.message) for o in report.outcomes}


def test_confirm_confirms_what_it_can_and_says_why_not_for_the_rest(app, place, make_product):
    scarce = make_product(sku="SCARCE", on_hand=1)
    ok_1, ok_2 = place(), place()
    already = place(confirm=True)
    too_many = place([("SCARCE", 2)])
    report = bulk.run("confirm", [ok_1.id, already.id, too_many.id, ok_2.id, 999_999], actor=ACTOR)
    result = outcomes(report)
    assert [o.order_id for o in report.outcomes] == [ok_1.id, already.id, too_many.id, ok_2.id, 999_999]
    assert result[ok_1.id] == (True, "Confirmed; stock reserved.") and result[ok_2.id][0]
    assert not result[already.id][0] and "confirmed" in result[already.id][1]
    assert not result[too_many.id][0] and "SCARCE" in result[too_many.id][1]
    assert result[999_999] == (False, "No order 999999.")
    assert (len(report.succeeded), len(report.refused)) == (2, 3)
    # One refusal undid nothing of the others, and changed nothing of its own order.
    assert fresh(ok_1.id).status == fresh(ok_2.id).status == "confirmed"
    assert fresh(too_many.id).status == "placed" and db.session.get(type(scarce), scarce.id).reserved == 0


def test_ship_books_the_preferred_carrier_with_the_default_packaging(app, server, place):
    ready = place(confirm=True, payment_method="cash_on_delivery")
    unpaid = place(confirm=True)  # bank transfer not paid: may not be fulfilled
    placed = place()
    report = bulk.run("ship", [ready.id, unpaid.id, placed.id], actor=ACTOR)
    result = outcomes(report)
    assert result[ready.id][0] and "booking queued" in result[ready.id][1]
    assert not result[unpaid.id][0] and not result[placed.id][0]
    (parcel,) = db.session.scalars(select(Shipment).where(Shipment.order_id == ready.id)).all()
    assert (parcel.carrier_id, parcel.service, parcel.packaging) == ("httppost", "std", "bag")
    assert sum(line.quantity for line in parcel.lines) == sum(line.quantity for line in fresh(ready.id).lines)
    assert db.session.scalar(select(func.count()).where(OutboxMessage.kind == shipments.BOOK_KIND)) == 1
    # Again: every unit is in a parcel already.
    again = bulk.run("ship", [ready.id], actor=ACTOR)
    assert again.outcomes[0].ok is False and "parcel already" in again.outcomes[0].message


def test_ship_refuses_where_no_rule_or_a_manual_carrier_applies(app, place, make_product):
    app.config["OMS_SHIPPING_RULES"] = [{"countries": ["BE"], "carrier": "httppost"}]
    order = place(confirm=True, payment_method="cash_on_delivery")
    (outcome,) = bulk.run("ship", [order.id], actor=ACTOR).outcomes
    assert not outcome.ok and "No shipping rule" in outcome.message
    app.config["OMS_SHIPPING_RULES"] = [{"carrier": "manual", "service": "DHL"}]
    (outcome,) = bulk.run("ship", [order.id], actor=ACTOR).outcomes
    assert not outcome.ok and "tracking number" in outcome.message
    assert db.session.scalar(select(func.count()).select_from(Shipment)) == 0


def test_packing_slips_in_one_pdf_for_the_orders_with_parcels(app, place):
    with_parcel = [place(confirm=True, payment_method="cash_on_delivery") for _ in range(2)]
    for order in with_parcel:
        shipments.create_shipment(order.id, carrier_id="manual", service="DHL", tracking_number=f"T{order.id}",
                                  actor=ACTOR)
    without = place(confirm=True)
    report = bulk.run("slips", [with_parcel[0].id, without.id, with_parcel[1].id], actor=ACTOR)
    assert [o.ok for o in report.outcomes] == [True, False, True]
    assert "No parcel yet" in report.refused[0].message
    pages = PdfReader(io.BytesIO(report.data)).pages
    assert len(pages) == 2 and report.media_type == "application/pdf"
    text = "".join(page.extract_text() for page in pages)
    assert with_parcel[0].number in text and with_parcel[1].number in text and without.number not in text


def test_export_is_an_excel_friendly_csv_of_the_picked_orders(app, place):
    first = place(name="=HYPERLINK(\"http://evil\")", email="ann@example.com")
    second = place(confirm=True, name="Zoë Müller", email="zoe@example.com")
    payments.record_payment(second.id, gateway_id="bank_transfer", amount_minor=second.total_minor,
                            currency="EUR", reference="T", actor=ACTOR)
    report = bulk.run("export", [second.id, first.id, 424242], actor=ACTOR)
    assert [o.ok for o in report.outcomes] == [True, True, False]
    assert report.data.startswith("\ufeff".encode())
    rows = {row["order"]: row for row in csv.DictReader(io.StringIO(report.data.decode("utf-8-sig")))}
    assert set(rows) == {second.number, first.number}  # the list's own export columns, only the picked
    assert rows[second.number]["name"] == "Zoë Müller"
    assert rows[second.number]["paid"] == rows[second.number]["total"] == "25.00"
    assert rows[first.number]["name"].startswith("'=")  # a formula is text, not run


@pytest.mark.parametrize("ids, message", [
    ([], "at least one"), (list(range(1, limits.MAX_BULK_ORDERS + 2)), "at most"),
    ([0], "from the list"), ([-1], "from the list"), ([2**31], "from the list"), (["1"], "from the list"),
    ([True], "from the list"),
])
def test_bad_ids_or_too_many_refuse_the_whole_request(app, place, ids, message):
    order = place()
    with pytest.raises(ValidationError, match=message):
        bulk.run("confirm", ids + ([order.id] if ids else []), actor=ACTOR)
    assert fresh(order.id).status == "placed"


def test_duplicates_are_done_once_and_unknown_actions_refused(app, place):
    order = place()
    report = bulk.run("confirm", [order.id, order.id], actor=ACTOR)
    assert len(report.outcomes) == 1 and report.outcomes[0].ok
    with pytest.raises(ValidationError):
        bulk.run("delete", [order.id], actor=ACTOR)


# ------------------------------------------------------------------ the web side


def test_the_list_offers_the_actions_and_the_panel_reports_per_order(staff_client, place, make_product):
    make_product(sku="ONE", on_hand=1)
    good, taken = place(), place([("ONE", 2)])
    page = staff_client.get(f"{ADMIN}/orders").get_data(as_text=True)
    assert 'id="bulk-confirm"' in page and f'hx-post="{ADMIN}/orders/bulk/confirm"' in page
    answer = staff_client.post(f"{ADMIN}/orders/bulk/confirm", {"order_id": [str(good.id), str(taken.id)]},
                               htmx=True)
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200 and "1 succeeded" in html and "1 refused" in html
    assert "ONE" in html and fresh(good.id).status == "confirmed"


def test_a_plain_post_downloads_the_file_or_flashes(staff_client, place):
    order = place(name="Ann")
    answer = staff_client.post(f"{ADMIN}/orders/bulk/export", {"order_id": [str(order.id)]})
    assert answer.status_code == 200 and answer.headers["Content-Disposition"] == 'attachment; filename="orders.csv"'
    assert answer.headers["Cache-Control"] == "private, no-store"
    answer = staff_client.post(f"{ADMIN}/orders/bulk/slips", {"order_id": [str(order.id)]}, follow_redirects=True)
    assert "No parcel yet" in answer.get_data(as_text=True)
    html = staff_client.post(f"{ADMIN}/orders/bulk/slips", {"order_id": [str(order.id)]}, htmx=True).get_data(
        as_text=True)
    assert "0 succeeded" in html and "bulk-download" not in html


def test_the_web_refuses_bad_ids_too_many_and_unknown_actions(staff_client, place):
    order = place()
    for ids in (["x"], ["²"], ["9" * 30], [str(order.id)] * 0, [str(i) for i in range(1, limits.MAX_BULK_ORDERS + 2)]):
        html = staff_client.post(f"{ADMIN}/orders/bulk/confirm", {"order_id": ids}, htmx=True).get_data(as_text=True)
        assert 'class="error"' in html
    assert staff_client.post(f"{ADMIN}/orders/bulk/drop", {"order_id": [str(order.id)]}).status_code == 404
    assert fresh(order.id).status == "placed"


def test_bulk_actions_need_csrf_and_a_login(client, staff_client, place):
    order = place()
    refused = staff_client.client.post(f"{ADMIN}/orders/bulk/confirm", data={"order_id": str(order.id)},
                                       headers={"HX-Request": "true"})
    assert refused.status_code == 400 and fresh(order.id).status == "placed"
    staff_client.post(f"{ADMIN}/logout")
    answer = client.post(f"{ADMIN}/orders/bulk/confirm", data={"order_id": str(order.id),
                                                               "csrf_token": staff_client.csrf})
    assert answer.status_code in (302, 400) and fresh(order.id).status == "placed"


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(ids=st.lists(st.one_of(st.integers(min_value=-5, max_value=2**40).map(str),
                              st.sampled_from(["", "#1", "1.5", "²", "٣", "9" * 4301, "\x00", "1e3"]),
                              st.text(max_size=20)), max_size=8),
       action=st.sampled_from(["confirm", "ship", "slips", "export", "nope"]))
def test_fuzzed_bulk_forms_never_fail_and_refusals_change_nothing(staff_client, ids, action):
    before = (db.session.scalar(select(func.count()).select_from(StockMove)),
              db.session.scalar(select(func.count()).select_from(Shipment)))
    db.session.commit()
    for htmx in (True, False):
        answer = staff_client.post(f"{ADMIN}/orders/bulk/{action}", {"order_id": ids}, htmx=htmx)
        assert answer.status_code < 500
    # No order ids exist in this test: whatever was sent, nothing changed.
    assert (db.session.scalar(select(func.count()).select_from(StockMove)),
            db.session.scalar(select(func.count()).select_from(Shipment))) == before


def test_two_staff_confirming_the_same_orders_at_once_confirm_each_once(app, place, make_product):
    from test_concurrency import race

    product = make_product(sku="RACE", on_hand=100)
    ids = [place([("RACE", 3)]).id for _ in range(5)]
    db.session.commit()
    results = race(app, 2, lambda i: bulk.run("confirm", ids, actor=f"staff:{i}"))
    reports = [value for kind, value in results if kind == "ok"]
    assert len(reports) == 2, results
    for index in range(5):
        assert sorted(report.outcomes[index].ok for report in reports) == [False, True]
    db.session.expire_all()
    assert db.session.get(type(product), product.id).reserved == 15
    assert {fresh(i).status for i in ids} == {"confirmed"}
