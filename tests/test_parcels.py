"""Parcels with lines: an order in several parcels, over-picking refused, stock
leaving per parcel line, partially shipped -> shipped -> delivered, a cancelled
parcel's units packed again, what the carrier is asked, parcel emails once each,
labels stored and printed with the packing slip, and polling carriers without
webhooks (batches, backoff). SQLite and PostgreSQL."""
from __future__ import annotations

import io
from types import SimpleNamespace
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from oms_core.db import db
from oms_core.errors import ValidationError
from oms_core.models import Order, OutboxMessage, Product, Shipment, StockMove
from oms_core.protocols import TrackingUpdate
from oms_core.services import dashboard, labels, notifications, outbox, parcels, shipments, stock, tracking_poll
from oms_core.testing.carrier_server import LABEL_PDF, CarrierServer, HttpCarrier
from oms_core.testing.fakes import plugin_registering

SHIP_FROM = {"code": "main", "name": "Shop", "line1": "Damrak 1", "city": "Amsterdam", "postal_code": "1012LG",
             "country": "NL", "default": True}
BOX = {"code": "box", "label": "Box", "outer_mm": [300, 200, 100], "weight_grams": 150}


@pytest.fixture
def server():
    with CarrierServer() as running:
        yield running


@pytest.fixture
def app_config(server):
    return {"extra_plugins": [plugin_registering(HttpCarrier(server.url))], "OMS_SHIP_FROM": [SHIP_FROM],
            "OMS_PACKAGING": [BOX], "OMS_TRACK_EVERY_MINUTES": 0,
            "OMS_SHIPPING_RULES": [{"zone": "EU", "max_weight_grams": 30000, "carrier": "httppost", "service": "std"}]}


@pytest.fixture
def two_line_order(place, make_product):
    cup_id = make_product(sku="CUP", on_hand=10).id
    pot_id = make_product(sku="POT", on_hand=10).id
    order = place([("CUP", 3), ("POT", 1)], payment_method="cash_on_delivery", confirm=True)
    return SimpleNamespace(id=order.id), cup_id, pot_id  # ids: the tests end the session often


def line_ids(order_id):
    order = db.session.get(Order, order_id)
    return {line.sku: line.id for line in order.lines}


def fresh(model, ident):
    db.session.remove()
    return db.session.get(model, ident)


def ledger(product_id, reason="shipment"):
    return db.session.scalars(select(StockMove.on_hand_delta).where(
        StockMove.product_id == product_id, StockMove.reason == reason).order_by(StockMove.id)).all()


def deliver(shipment_id, status="delivered"):
    number = fresh(Shipment, shipment_id).tracking_number
    return shipments.add_tracking_update(shipment_id, TrackingUpdate(number, status, datetime.now(timezone.utc)),
                                         source="test")


def test_an_order_in_two_parcels_ships_partially_then_fully_then_is_delivered(app, two_line_order):
    order, cup_id, pot_id = two_line_order
    ids = line_ids(order.id)
    first = shipments.create_shipment(order.id, carrier_id="httppost", actor="test", lines={ids["CUP"]: 2},
                                      packaging="box").id
    assert parcels.remaining_units(fresh(Order, order.id)) == {ids["CUP"]: 1, ids["POT"]: 1}
    outbox.run_once()
    assert fresh(Order, order.id).status == "partially_shipped"
    assert ledger(cup_id) == [-2] and ledger(pot_id) == []  # stock leaves with the parcel
    assert fresh(Product, cup_id).reserved == 1
    second = shipments.create_shipment(order.id, carrier_id="httppost", actor="test").id  # the rest
    packed = [(line.order_line.sku, line.quantity) for line in fresh(Shipment, second).lines]
    assert packed == [("CUP", 1), ("POT", 1)]
    outbox.run_once()
    assert fresh(Order, order.id).status == "shipped"
    assert ledger(cup_id) == [-2, -1] and ledger(pot_id) == [-1] and stock.ledger_mismatches() == []
    deliver(first)
    assert fresh(Order, order.id).status == "shipped"
    deliver(second)
    order_now = fresh(Order, order.id)
    assert order_now.status == "delivered"
    assert [e.to_status for e in order_now.events if e.kind == "status_changed"][-3:] == [
        "partially_shipped", "shipped", "delivered"]


def test_more_units_than_are_left_are_refused_and_change_nothing(app, two_line_order):
    order, _cup, _pot = two_line_order
    ids = line_ids(order.id)
    for wanted, message in (({ids["CUP"]: 4}, "Only 3 of CUP"), ({ids["CUP"]: -1}, "whole|at least"),
                            ({ids["CUP"]: 1.5}, "whole number"), ({999999: 1}, "Pick lines of this order"),
                            ({ids["CUP"]: 0}, "at least one unit")):
        with pytest.raises(ValidationError, match=message):
            shipments.create_shipment(order.id, carrier_id="httppost", actor="test", lines=wanted)
    shipments.create_shipment(order.id, carrier_id="httppost", actor="test", lines={ids["CUP"]: 3})
    with pytest.raises(ValidationError, match="Only 0 of CUP"):
        shipments.create_shipment(order.id, carrier_id="httppost", actor="test", lines={ids["CUP"]: 1})
    shipments.create_shipment(order.id, carrier_id="httppost", actor="test")
    with pytest.raises(ValidationError, match="every unit is in a parcel"):
        shipments.create_shipment(order.id, carrier_id="httppost", actor="test")
    assert db.session.scalar(select(func.count(Shipment.id)).where(Shipment.order_id == order.id)) == 2


def test_a_cancelled_parcel_gives_its_units_back_to_pack_again(app, two_line_order, server):
    order, cup_id, _pot = two_line_order
    ids = line_ids(order.id)
    server.fail_next = 0
    failing = shipments.create_shipment(order.id, carrier_id="httppost", actor="test", lines={ids["CUP"]: 3})
    with db.session.begin():
        db.session.get(Shipment, failing.id).booking_error = "refused by the carrier"
        outbox.withdraw(db.session.get(Shipment, failing.id).booking_key)
    shipments.cancel_shipment(order.id, failing.id, actor="test")
    assert parcels.remaining_units(fresh(Order, order.id)) == {ids["CUP"]: 3, ids["POT"]: 1}
    assert ledger(cup_id) == [] and fresh(Product, cup_id).reserved == 3


def test_the_carrier_gets_addresses_parcel_contents_and_options(app, two_line_order, make_product):
    order, cup_id, _pot = two_line_order
    with db.session.begin():
        db.session.get(Product, cup_id).weight_grams = 400
    ids = line_ids(order.id)
    shipment = shipments.create_shipment(order.id, carrier_id="httppost", actor="test", lines={ids["CUP"]: 2},
                                         packaging="box", signature=True, insurance_minor=5000)
    shipment = fresh(Shipment, shipment.id)
    request = parcels.shipment_request(shipment, shipment.booking_key)
    assert request.ship_from.city == "Amsterdam" and request.ship_to.city == "Springfield"
    assert request.ship_to.email == "ann@example.com"
    assert request.parcel.weight_grams == 2 * 400 + 150 and request.parcel.length_mm == 300
    assert [(c.sku, c.quantity, c.hs_code) for c in request.contents] == [("CUP", 2, "")]  # NL -> NL: no customs
    assert request.options.signature and request.options.insurance_minor == 5000
    assert parcels.default_choice(fresh(Order, order.id), 1000) == ("httppost", "std")


def test_customs_fields_go_with_a_parcel_leaving_the_eu(app, place, make_product):
    product = make_product(sku="MUG", on_hand=5)
    with db.session.begin():
        row = db.session.get(Product, product.id)
        row.hs_code, row.origin_country, row.weight_grams = "691200", "NL", 300
    order_id = place([("MUG", 1)], payment_method="cash_on_delivery", confirm=True).id
    with db.session.begin():
        db.session.get(Order, order_id).ship_country = "GB"  # leaving the customs union
    shipment = fresh(Shipment, shipments.create_shipment(order_id, carrier_id="httppost", actor="test").id)
    contents = parcels.shipment_request(shipment, "k").contents
    assert [(c.hs_code, c.origin_country, c.weight_grams) for c in contents] == [("691200", "NL", 300)]


def test_labels_are_stored_and_printed_with_the_packing_slip(app, two_line_order):
    from pypdf import PdfReader

    from oms_core.services import documents

    order, _cup, _pot = two_line_order
    shipment_id = shipments.create_shipment(order.id, carrier_id="httppost", actor="test").id
    outbox.run_once()
    documents.render_pending()
    data, media_type, filename = labels.label(order.id, shipment_id)
    assert (data, media_type) == (LABEL_PDF, "application/pdf") and filename.endswith(".pdf")
    pdf, _name = labels.parcel_pdf(order.id, shipment_id)
    pages = PdfReader(io.BytesIO(pdf)).pages
    assert len(pages) >= 2 and "CUP" in "".join(page.extract_text() for page in pages[1:])
    batch = labels.batch_pdf([order.id])
    assert len(PdfReader(io.BytesIO(batch)).pages) == len(pages)


def parcel_emails(order_id):
    return sorted(m.payload["status"] for m in db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.order_id == order_id, OutboxMessage.kind == notifications.EMAIL_KIND))
        if m.payload["status"].startswith("parcel_") or m.payload["status"] in ("shipped", "delivered"))


def test_each_parcel_email_goes_once(app, two_line_order):
    order, _cup, _pot = two_line_order
    ids = line_ids(order.id)
    first = shipments.create_shipment(order.id, carrier_id="httppost", actor="test", lines={ids["CUP"]: 3}).id
    outbox.run_once()  # partially shipped: the parcel's own email
    second = shipments.create_shipment(order.id, carrier_id="httppost", actor="test").id
    outbox.run_once()  # the order's "shipped" email names both parcels
    for status in ("out_for_delivery", "exception", "exception", "delivered"):
        deliver(first, status)
    deliver(second, "delivered")  # the order's "delivered" email stands for this one
    assert parcel_emails(order.id) == ["delivered", "parcel_delivered", "parcel_out_for_delivery",
                                       "parcel_problem", "parcel_shipped", "shipped"]
    message = db.session.scalars(select(OutboxMessage).where(OutboxMessage.order_id == order.id)
                                 .where(OutboxMessage.payload["status"].as_string() == "shipped")).one()
    text = notifications.compose(message)["text"]
    assert all(fresh(Shipment, s).tracking_number in text for s in (first, second))


def test_a_parcel_in_trouble_is_on_the_attention_list(app, two_line_order):
    order, _cup, _pot = two_line_order
    shipment_id = shipments.create_shipment(order.id, carrier_id="httppost", actor="test").id
    outbox.run_once()
    deliver(shipment_id, "delivery_attempted")
    page = dashboard.attention_orders("shipment_problems")
    assert [o.id for o in page.orders] == [order.id]


def test_polling_asks_in_batches_and_applies_events_once(app, place, server, make_product):
    make_product(sku="BOX", on_hand=50)
    ids = []
    for _ in range(5):
        order_id = place([("BOX", 1)], payment_method="cash_on_delivery", confirm=True).id
        ids.append(shipments.create_shipment(order_id, carrier_id="httppost", actor="test").id)
    outbox.run_once()
    carrier = tracking_poll.pollable_carriers()[0]
    carrier.track_batch_size = 2
    for number in list(server.statuses):
        server.statuses[number] = "in_transit"
    outcome = tracking_poll.poll_carrier(carrier)
    assert (outcome.asked, outcome.applied, outcome.errors) == (5, 5, [])
    assert [len(body["numbers"]) for path, body in server.requests if path == "/track"] == [2, 2, 1]
    assert {fresh(Shipment, i).status for i in ids} == {"in_transit"}
    assert tracking_poll.poll_carrier(carrier).applied == 0  # asked again: nothing new


def test_polling_backs_off_a_failing_carrier_then_recovers(app, place, server):
    order = SimpleNamespace(id=place(payment_method="cash_on_delivery", confirm=True).id)
    shipment_id = shipments.create_shipment(order.id, carrier_id="httppost", actor="test").id
    outbox.run_once()
    now = [0.0]
    poller = tracking_poll.Poller(clock=lambda: now[0])
    server.fail_next = 2
    assert poller()["httppost"].errors
    assert poller() == {}  # waiting out its backoff
    now[0] += tracking_poll.BACKOFF_SECONDS
    assert poller()["httppost"].errors  # second failure: twice as long
    now[0] += tracking_poll.BACKOFF_SECONDS
    assert poller() == {}
    now[0] += tracking_poll.BACKOFF_SECONDS
    server.statuses[fresh(Shipment, shipment_id).tracking_number] = "delivered"
    assert poller()["httppost"].applied == 1
    assert fresh(Order, order.id).status == "delivered"


def test_the_public_page_shows_both_parcels_with_their_events_and_no_carrier_message(app, client, two_line_order):
    order, _cup, _pot = two_line_order
    ids = line_ids(order.id)
    first = shipments.create_shipment(order.id, carrier_id="httppost", actor="test", lines={ids["CUP"]: 3}).id
    outbox.run_once()
    code = fresh(Order, order.id).tracking_code
    page = client.get(f"/track?code={code}").get_data(as_text=True)
    assert "Partly shipped" in page
    second = shipments.create_shipment(order.id, carrier_id="httppost", actor="test").id
    outbox.run_once()
    number = fresh(Shipment, first).tracking_number
    shipments.add_tracking_update(first, TrackingUpdate(number, "delivered", datetime.now(timezone.utc),
                                                        location="Springfield", message="Signed by A. Example"),
                                  source="test")
    page = client.get(f"/track?code={code}").get_data(as_text=True)
    numbers = [fresh(Shipment, s).tracking_number for s in (first, second)]
    assert "2 parcels" in page and all(n in page for n in numbers)
    assert "Delivered, Springfield" in page and "Signed by" not in page


def test_a_label_voided_before_hand_over_puts_its_units_back(app, two_line_order, server):
    from oms_core.services import carrier_ops

    order, cup_id, _pot = two_line_order
    ids = line_ids(order.id)
    first = shipments.create_shipment(order.id, carrier_id="httppost", actor="test", lines={ids["CUP"]: 3}).id
    second = shipments.create_shipment(order.id, carrier_id="httppost", actor="test").id
    outbox.run_once()
    assert fresh(Order, order.id).status == "shipped"
    deliver(second, "in_transit")
    with pytest.raises(ValidationError, match="has the parcel already"):
        carrier_ops.void_label(order.id, second, actor="test")
    carrier_ops.void_label(order.id, first, actor="test")
    carrier_ops.void_label(order.id, first, actor="test")  # asked twice: one request
    outbox.run_once()
    assert fresh(Shipment, first).status == "cancelled" and server.voided == {fresh(Shipment, first).tracking_number}
    assert fresh(Order, order.id).status == "partially_shipped"
    assert ledger(cup_id) == [-3] and ledger(cup_id, "label_voided") == [3] and stock.ledger_mismatches() == []
    assert parcels.remaining_units(fresh(Order, order.id)) == {ids["CUP"]: 3}


def test_quotes_and_a_return_label(app, two_line_order, server):
    from oms_core.services import carrier_ops

    order, _cup, _pot = two_line_order
    quotes = carrier_ops.rates(order.id, carrier_id="httppost", packaging="box")
    assert quotes.ok
    assert [(r.service, r.rate_id) for r in quotes.rates] == [("std", "rate_std"), ("express", "rate_exp")]
    shipment_id = shipments.create_shipment(order.id, carrier_id="httppost", actor="test", rate_id="rate_std").id
    assert fresh(Shipment, shipment_id).rate_id == "rate_std"
    outbox.run_once()
    carrier = tracking_poll.pollable_carriers()[0]
    carrier.create_return_label = carrier.create_shipment  # this fake sells returns like labels
    result = carrier_ops.return_label(shipment_id)
    again = carrier_ops.return_label(shipment_id)
    assert result.ok and result.tracking_number == again.tracking_number  # one return label per parcel
    assert result.tracking_number != fresh(Shipment, shipment_id).tracking_number


def test_the_http_carrier_passes_the_carrier_contract_with_its_capabilities(app, server):
    from oms_core.testing.contracts import check_carrier

    check_carrier(HttpCarrier(server.url))
    paths = {path for path, _ in server.requests}
    assert {"/shipments", "/rates", "/track", "/void"} <= paths


def test_a_product_keeps_its_weight_hs_code_and_origin(app):
    from oms_core.services import catalog

    product = catalog.create_product(sku="VASE", name="Vase", price_minor=2500, currency="EUR", weight_grams=820,
                                     hs_code="6913.10", origin_country="pt", actor="test")
    assert (product.weight_grams, product.hs_code, product.origin_country) == (820, "691310", "PT")
    for bad, message in (({"weight_grams": -1}, "Weight"), ({"hs_code": "12"}, "HS code"),
                         ({"origin_country": "Portugal"}, "longer|two-letter")):
        with pytest.raises(ValidationError, match=message):
            catalog.create_product(sku="BAD", name="Bad", price_minor=1, currency="EUR", actor="test", **bad)


def test_a_cash_on_delivery_order_partly_shipped_still_takes_its_payment(app, two_line_order):
    from oms_core.services import payments

    order, _cup, _pot = two_line_order
    ids = line_ids(order.id)
    shipments.create_shipment(order.id, carrier_id="httppost", actor="test", lines={ids["CUP"]: 1})
    outbox.run_once()
    row = fresh(Order, order.id)
    assert row.status == "partially_shipped"
    payments.record_payment(order.id, gateway_id="cash_on_delivery", amount_minor=row.balance_minor,
                            currency="EUR", reference="COD-1", actor="test")
    assert fresh(Order, order.id).payment_status == "paid"


def test_a_parcel_problem_email_names_the_parcel(app, two_line_order):
    order, _cup, _pot = two_line_order
    shipment_id = shipments.create_shipment(order.id, carrier_id="httppost", actor="test").id
    outbox.run_once()
    deliver(shipment_id, "exception")
    message = db.session.scalars(select(OutboxMessage).where(OutboxMessage.order_id == order.id)).all()
    [problem] = [m for m in message if m.payload.get("status") == "parcel_problem"]
    email = notifications.compose(problem)
    number = fresh(Shipment, shipment_id).tracking_number
    assert "problem" in email["subject"] and number in email["text"] and number in email["html"]


def test_a_carrier_down_is_retried_and_a_refusal_is_not(app, place, server):
    order_id = place(payment_method="cash_on_delivery", confirm=True).id
    shipment_id = shipments.create_shipment(order_id, carrier_id="httppost", ship_from="main", actor="test").id
    key = fresh(Shipment, shipment_id).booking_key
    server.fail_next = 1  # down: retried later
    outbox.run_once()
    message = db.session.scalars(select(OutboxMessage).where(OutboxMessage.idempotency_key == key)).one()
    assert (message.status, message.attempts) == ("pending", 1)
    assert "503" in fresh(Shipment, shipment_id).booking_error

    other_id = place(payment_method="cash_on_delivery", confirm=True).id
    refused_id = shipments.create_shipment(other_id, carrier_id="httppost", ship_from="main", actor="test").id
    app.config["OMS_SHIP_FROM"] = []  # the address it leaves from is gone: the booking cannot be made
    try:
        db.session.remove()
        with db.session.begin():
            db.session.execute(OutboxMessage.__table__.update().where(
                OutboxMessage.idempotency_key == key).values(status="sent"))  # only the other one now
        outbox.run_once()
    finally:
        app.config["OMS_SHIP_FROM"] = [SHIP_FROM]
    refused_key = fresh(Shipment, refused_id).booking_key
    message = db.session.scalars(select(OutboxMessage).where(OutboxMessage.idempotency_key == refused_key)).one()
    assert (message.status, message.attempts) == ("dead", 1)  # not retried
    assert "ship-from" in fresh(Shipment, refused_id).booking_error
    assert other_id in [o.id for o in dashboard.attention_orders("shipment_problems").orders]
