"""Order edits before shipping (services/order_edits.py, docs/architecture.md "Order
edits"): quantities, added and removed lines, address and phone; stock reserved and
released with ledger rows; totals and taxes again; money refunded or asked for;
an issued invoice credited and issued again; the timeline; refusals that change
nothing; an edit racing a checkout for the last units, and two staff at once.
Every test runs on SQLite and PostgreSQL."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from oms_core import order_states as S
from oms_core.db import db
from oms_core.errors import DomainError, OutOfStock, ValidationError
from oms_core.models import (
    Document,
    Order,
    OutboxMessage,
    Product,
    Refund,
    Shipment,
    ShipmentLine,
    StockMove,
    TimelineEvent,
)
from oms_core.services import documents, notifications, order_edits, payment_ops, payments, shipments, stock
from oms_core.services.order_edits import OrderChanged, OrderEdit
from oms_core.testing import post_signed_webhook, run_worker_once
from oms_core.testing.fakes import FakeCardGateway, plugin_registering
from test_concurrency import outcomes, race

ACTOR = "staff:editor@example.com"
SHOP = {"legal_name": "Kettle & Crumb B.V.", "country": "NL", "iban": "NL91 ABNA 0417 1643 00",
        "bic": "ABNANL2A", "bank_name": "ABN AMRO"}
CLASSES = {"standard": {"NL": 2100, "DE": 1900, "*": 2100}, "reduced": {"NL": 900, "DE": 700, "*": 900}}
card = FakeCardGateway()


@pytest.fixture
def app_config():
    return {"OMS_SHOP": SHOP, "OMS_TAX_CLASSES": CLASSES, "extra_plugins": [plugin_registering(card)],
            "OMS_PLUGINS": {"fakecard": {"webhook_secret": "whsec_test", "capture": "now"}},
            "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 10, "max_overflow": 5}}


@pytest.fixture(autouse=True)
def fresh_card():
    card.__init__()


@pytest.fixture
def mug(make_product):
    return make_product(sku="MUG", name="Mug", price_minor=1000, on_hand=10)


@pytest.fixture
def tea(make_product):
    return make_product(sku="TEA", name="Tea", price_minor=500, on_hand=10, tax_class="reduced")


def fresh(order_id: int) -> Order:
    db.session.remove()
    return db.session.get(Order, order_id)


def held(sku: str) -> tuple[int, int]:
    db.session.remove()
    product = db.session.scalar(select(Product).where(Product.sku == sku))
    return product.on_hand, product.reserved


def ledger(order_id: int) -> list[tuple[str, int]]:
    db.session.remove()
    return [(m.reason, m.reserved_delta) for m in db.session.scalars(
        select(StockMove).where(StockMove.order_id == order_id).order_by(StockMove.id))]


def line_view(order_id: int) -> list[tuple[str, int, int, int, int]]:
    return [(line.sku, line.quantity, line.net_minor, line.tax_minor, line.gross_minor)
            for line in fresh(order_id).lines]


def edit(order_id: int, **changes):
    return order_edits.edit_order(order_id, OrderEdit(version=fresh(order_id).version, **changes), actor=ACTOR)


def everything(order_id: int) -> dict:
    """What a refused edit must leave as it was."""
    order = fresh(order_id)
    return {"order": {c.key: getattr(order, c.key) for c in Order.__mapper__.column_attrs if c.key != "updated_at"},
            "lines": line_view(order_id), "ledger": ledger(order_id),
            "stock": db.session.execute(select(Product.sku, Product.on_hand, Product.reserved)
                                        .order_by(Product.id)).all(),
            "events": db.session.scalars(select(TimelineEvent.id).where(TimelineEvent.order_id == order_id)).all(),
            "documents": [d.number for d in documents.documents_for(order_id)],
            "refunds": db.session.scalars(select(Refund.id)).all(),
            "outbox": db.session.scalars(select(OutboxMessage.id)).all()}


def pay_in_full(order_id: int):
    order = fresh(order_id)
    payments.record_payment(order_id, gateway_id="bank_transfer", amount_minor=order.balance_minor,
                            currency=order.currency, reference="TRX-1", actor=ACTOR)


def edits_on_timeline(order_id: int) -> list[tuple[str, str, bool]]:
    db.session.remove()
    return [(e.actor, e.message, e.public) for e in db.session.scalars(select(TimelineEvent).where(
        TimelineEvent.order_id == order_id, TimelineEvent.kind == "order_edited").order_by(TimelineEvent.id))]


# ------------------------------------------------------------------ each kind of edit


def test_quantities_added_and_removed_lines_move_stock_totals_taxes_and_the_timeline(place, mug, tea, make_product):
    make_product(sku="PIN", name="Pin", price_minor=100, on_hand=5)
    order = place([("MUG", 2), ("PIN", 1)], confirm=True, shipping_minor=495)
    mug_line, pin_line = [line.id for line in order.lines]
    assert held("MUG") == (10, 2) and held("PIN") == (5, 1)

    effect = edit(order.id, quantities={mug_line: 3, pin_line: 0}, added=[("TEA", 1)], reason="Phoned in")
    assert effect.changes == ("qty MUG 2 -> 3", "removed PIN", "added TEA x1")
    assert held("MUG") == (10, 3) and held("PIN") == (5, 0) and held("TEA") == (10, 1)
    # In product id order (MUG, TEA, PIN), like confirming.
    assert ledger(order.id)[-3:] == [("order_edit", 1), ("order_edit", 1), ("order_edit", -1)]
    assert not stock.ledger_mismatches()
    # Prices include tax: 30.00 of mugs at 21%, 5.00 of tea at 9% (the reduced class), 4.95 shipping.
    assert line_view(order.id) == [("MUG", 3, 2479, 521, 3000), ("TEA", 1, 459, 41, 500)]
    order = fresh(order.id)
    assert (order.subtotal_minor, order.shipping_minor, order.total_minor) == (3500, 495, 3995)
    assert order.tax_minor == 521 + 41 + order.shipping_tax_minor
    assert order.version == 1 and effect.total_before == 2595 and effect.total_after == 3995
    assert edits_on_timeline(order.id) == [(ACTOR, "qty MUG 2 -> 3, removed PIN, added TEA x1 (Phoned in)", False)]


def test_adding_an_item_the_order_has_adds_to_its_line_at_its_price(place, mug):
    order = place([("MUG", 1)], confirm=True)
    mug.price_minor = 9999  # the catalogue price changed since: the line keeps the price it was sold at
    db.session.commit()
    edit(order.id, added=[("MUG", 2)])
    assert line_view(order.id) == [("MUG", 3, 2479, 521, 3000)]
    assert edits_on_timeline(order.id)[0][1] == "qty MUG 1 -> 3"


def test_address_and_phone_change_and_a_new_country_taxes_again(place, mug):
    order = place([("MUG", 1)], confirm=True, shipping_minor=500)
    address = {"name": "Bea Other", "line1": "Hauptstr. 1", "line2": "", "postal_code": "10115",
               "city": "Berlin", "country": "de"}
    edit(order.id, address=address, phone="+49 30 123")
    order = fresh(order.id)
    assert order.shipping_address == {**address, "country": "DE"} and order.customer_phone == "+49 30 123"
    # German VAT (19%) on the mug and the shipping; gross prices stay as sold.
    assert line_view(order.id) == [("MUG", 1, 840, 160, 1000)]
    assert (order.shipping_tax_rate_bp, order.shipping_tax_minor, order.total_minor) == (1900, 80, 1500)
    assert edits_on_timeline(order.id)[0][1] == "address changed, phone changed"
    assert ledger(order.id) == [("reservation", 1)]  # no stock moved


def test_a_placed_order_holds_no_stock_so_an_edit_moves_none(place, mug):
    order = place([("MUG", 1)], confirm=False)
    edit(order.id, quantities={order.lines[0].id: 4})
    assert held("MUG") == (10, 0) and ledger(order.id) == []
    assert fresh(order.id).total_minor == 4000


def test_shipping_changes_only_when_staff_change_it(place, mug):
    order = place([("MUG", 1)], confirm=True, shipping_minor=495)
    edit(order.id, quantities={order.lines[0].id: 2})
    assert fresh(order.id).shipping_minor == 495
    edit(order.id, shipping_minor=0)
    order = fresh(order.id)
    assert (order.shipping_minor, order.shipping_tax_minor, order.total_minor) == (0, 0, 2000)
    assert edits_on_timeline(order.id)[-1][1] == "shipping 4.95 EUR -> 0.00 EUR"


# ------------------------------------------------------------------ refusals


@pytest.mark.parametrize("changes, message", [
    ({"quantities": {"line": -1}}, "Quantity of MUG"),
    ({"quantities": {"line": 1001}}, "Quantity of MUG"),
    ({"quantities": {"line": True}}, "Quantity of MUG"),
    ({"quantities": {"line": 1.5}}, "Quantity of MUG"),
    ({"quantities": {"line": 0}}, "cancel the order"),
    ({"quantities": {999_999: 1}}, "lines of this order"),
    ({"added": [("NOPE", 1)]}, "Unknown or unavailable product: NOPE"),
    ({"added": [("TEA", 0)]}, "Quantity of TEA"),
    ({"added": [("", 1)]}, "Pick a product"),
    ({"added": [("TEA", 600), ("TEA", 600)]}, "Quantity of TEA"),
    ({"address": {"name": "", "city": "X"}}, "name to deliver to"),
    ({"address": {"name": "A", "country": "Germany"}}, "two-letter code"),
    ({"phone": "1" * 51}, "Phone"),
    ({"shipping_minor": -1}, "Shipping"),
    ({}, "Nothing to change"),
])
def test_bad_edits_are_refused_and_change_nothing(place, mug, tea, changes, message):
    order = place([("MUG", 2)], confirm=True)
    if "quantities" in changes:
        changes = {"quantities": {order.lines[0].id if k == "line" else k: v
                                  for k, v in changes["quantities"].items()}}
    before = everything(order.id)
    with pytest.raises(ValidationError, match=message):
        edit(order.id, **changes)
    assert everything(order.id) == before


def test_an_edit_that_would_oversell_is_refused_whole(place, mug, tea):
    order = place([("MUG", 2), ("TEA", 1)], confirm=True)
    place([("TEA", 8)], confirm=True, email="other@example.com")  # one tea left
    before = everything(order.id)
    with pytest.raises(OutOfStock, match="TEA: 2 requested, 1 available"):
        edit(order.id, quantities={order.lines[0].id: 1, order.lines[1].id: 3})
    assert everything(order.id) == before and held("TEA") == (10, 9) and held("MUG") == (10, 2)


@pytest.mark.parametrize("status", [S.SHIPPED, S.CANCELLED])
def test_an_order_that_shipped_or_was_cancelled_cannot_be_edited(place, mug, status):
    order = place([("MUG", 1)], confirm=True)
    line_id = order.lines[0].id
    if status == S.SHIPPED:
        pay_in_full(order.id)
        shipments.create_shipment(order.id, carrier_id="manual", service="DHL", tracking_number="JD1", actor=ACTOR)
    else:
        from oms_core.services import orders
        orders.cancel_order(order.id, actor=ACTOR, reason="test")
    assert fresh(order.id).status == status
    before = everything(order.id)
    with pytest.raises(ValidationError, match="can be edited only before anything ships"):
        edit(order.id, quantities={line_id: 2})
    assert everything(order.id) == before


def test_units_in_a_parcel_stay_while_the_rest_may_change(place, mug, tea):
    order = place([("MUG", 3), ("TEA", 1)], confirm=True)
    pay_in_full(order.id)
    mug_line, tea_line = [line.id for line in order.lines]
    # A parcel of two mugs waits for its booking (manual carriers book at once: use a pending one).
    parcel = Shipment(order_id=order.id, carrier_id="manual", carrier_name="DHL", service="DHL", status="unknown")
    db.session.add(parcel)
    db.session.flush()
    db.session.add(ShipmentLine(shipment_id=parcel.id, order_line_id=mug_line, quantity=2))
    parcel_id = parcel.id
    db.session.commit()
    with pytest.raises(ValidationError, match="2 of MUG are packed in a parcel"):
        edit(order.id, quantities={mug_line: 1})
    edit(order.id, quantities={mug_line: 2, tea_line: 3})  # the same total: nothing to refund
    assert [(sku, qty) for sku, qty, *_ in line_view(order.id)] == [("MUG", 2), ("TEA", 3)]
    # A cancelled parcel frees its units, but its record keeps the line.
    db.session.get(Shipment, parcel_id).status = "cancelled"
    db.session.commit()
    edit(order.id, quantities={mug_line: 1, tea_line: 5})
    with pytest.raises(ValidationError, match="MUG was in a parcel"):
        edit(order.id, quantities={mug_line: 0})


def test_an_edit_from_an_older_version_is_refused(place, mug):
    order = place([("MUG", 1)], confirm=True)
    edit(order.id, quantities={order.lines[0].id: 2})
    before = everything(order.id)
    with pytest.raises(OrderChanged, match="reload"):
        order_edits.edit_order(order.id, OrderEdit(version=0, quantities={order.lines[0].id: 5}), actor=ACTOR)
    assert everything(order.id) == before


# ------------------------------------------------------------------ money


def test_a_paid_order_made_cheaper_is_refunded_by_hand_with_a_reference(place, mug):
    order = place([("MUG", 3)], confirm=True)
    pay_in_full(order.id)
    assert fresh(order.id).status == S.PAID
    preview = order_edits.preview(order.id, OrderEdit(version=1 - 1, quantities={order.lines[0].id: 1}))
    assert (preview.total_after, preview.refund_minor, preview.due_minor, preview.refunds_by_hand) == (
        1000, 2000, 0, True)
    before = everything(order.id)
    with pytest.raises(ValidationError, match="give the reference"):
        edit(order.id, quantities={order.lines[0].id: 1})
    assert everything(order.id) == before
    edit(order.id, quantities={order.lines[0].id: 1}, refund_reference="BACK-7")
    order = fresh(order.id)
    refund = db.session.scalar(select(Refund).where(Refund.order_id == order.id))
    assert (refund.amount_minor, refund.state, refund.external_id, refund.credit_note) == (
        2000, "succeeded", "BACK-7", False)
    assert held("MUG") == (10, 1)
    # What the edit gave back was paid beyond the new total: neither paid nor refunded for the order.
    assert (order.total_minor, order.paid_minor, order.refunded_minor, order.status, order.payment_status) == (
        1000, 1000, 0, S.PAID, "paid")
    # Made dearer again, the customer is asked for what was given back.
    effect = edit(order.id, quantities={fresh(order.id).lines[0].id: 3})
    assert (effect.due_minor, fresh(order.id).status, fresh(order.id).balance_minor) == (2000, S.CONFIRMED, 2000)
    assert held("MUG") == (10, 3)


def test_a_card_order_made_cheaper_is_refunded_through_the_gateway(app, client, place, mug):
    order = place([("MUG", 2)], payment_method="fakecard", confirm=True)
    line_id = order.lines[0].id
    pay_by_card(client, order.id)
    assert fresh(order.id).payment_status == "paid"
    edit(order.id, quantities={line_id: 1})
    refund = db.session.scalar(select(Refund).where(Refund.order_id == order.id))
    assert (refund.amount_minor, refund.state) == (1000, "pending")
    refund_id = refund.id
    for _ in range(2):
        run_worker_once(app)
    db.session.remove()
    assert db.session.get(Refund, refund_id).state == "succeeded"
    assert [op for op, _key in card.calls if op == "refund"] == ["refund"]
    order = fresh(order.id)
    assert (order.total_minor, order.paid_minor, order.refunded_minor, order.payment_status) == (1000, 1000, 0, "paid")
    # The invoice was credited and issued again by the edit; the refund adds no credit note of its own.
    assert [d.kind for d in documents.documents_for(order.id)].count("credit_note") == 1


def pay_by_card(client, order_id: int) -> None:
    """The customer pays on the gateway's hosted page; its webhook says so."""
    url = payment_ops.start_payment(order_id, success_url="https://shop.example/ok",
                                    cancel_url="https://shop.example/no")
    intent_id = url.rsplit("/", 1)[1]
    card.customer_pays(intent_id)
    response = post_signed_webhook(client, "payment", "fakecard", card.event_for(intent_id), sign=card.signed)
    assert response.status_code in (200, 202), response.get_data(as_text=True)


def balance_email(order_id: int) -> OutboxMessage:
    return db.session.scalar(select(OutboxMessage).where(
        OutboxMessage.order_id == order_id, OutboxMessage.payload["status"].as_string() == "balance_due"))


def test_a_paid_order_made_dearer_asks_for_the_difference_with_bank_details(place, mug, tea):
    order = place([("MUG", 1)], confirm=True)
    pay_in_full(order.id)
    effect = edit(order.id, added=[("TEA", 2)])
    assert (effect.due_minor, effect.refund_minor) == (1000, 0)
    order = fresh(order.id)
    assert (order.status, order.payment_status, order.balance_minor) == (S.CONFIRMED, "partially_paid", 1000)
    email = notifications.compose(balance_email(order.id))
    assert email["subject"] == f"Order {order.number} changed: €10.00 to pay"  # the customer's locale (en_GB here)
    assert "IBAN NL91 ABNA 0417 1643 00" in email["text"] and "Pay now" not in email["text"]
    assert "€20.00" in email["text"]  # the new total, as the customer's locale writes it
    # The customer pays the difference: paid again, with its receipt.
    pay_in_full(order.id)
    assert (fresh(order.id).status, fresh(order.id).payment_status) == (S.PAID, "paid")


def test_a_card_order_made_dearer_gets_a_pay_now_link(client, place, mug):
    order = place([("MUG", 1)], payment_method="fakecard", confirm=True)
    line_id = order.lines[0].id
    pay_by_card(client, order.id)
    edit(order.id, quantities={line_id: 2})
    email = notifications.compose(balance_email(order.id))
    assert "Pay now: http" in email["text"] and "/pay?code=" in email["text"] and "IBAN" not in email["text"]


# ------------------------------------------------------------------ invoices


def test_an_issued_invoice_is_credited_and_issued_again_numbers_in_a_row(place, mug, tea):
    order = place([("MUG", 2)], confirm=True)
    pay_in_full(order.id)
    first = documents.current_invoice(fresh(order.id))
    year = first.year
    assert first.number == f"INV-{year}-000001"
    edit(order.id, added=[("TEA", 1)])
    pay_in_full(order.id)
    edit(order.id, quantities={fresh(order.id).lines[1].id: 2})
    pay_in_full(order.id)
    docs = {(d.kind, d.number): d for d in documents.documents_for(order.id)}
    invoices = sorted(n for k, n in docs if k == "invoice")
    credits = sorted(n for k, n in docs if k == "credit_note")
    assert invoices == [f"INV-{year}-{n:06d}" for n in (1, 2, 3)]
    assert credits == [f"CN-{year}-{n:06d}" for n in (1, 2)]
    current = documents.current_invoice(fresh(order.id))
    assert current.number == f"INV-{year}-000003"
    db.session.remove()
    credit = db.session.scalar(select(Document).where(Document.number == f"CN-{year}-000001"))
    old = db.session.scalar(select(Document).where(Document.number == f"INV-{year}-000001"))
    # The credit note mirrors the old invoice exactly, and names the one replacing it.
    assert credit.data["totals"] == old.data["totals"] and credit.data["lines"] == old.data["lines"]
    assert (credit.data["invoice_number"], credit.data["replaced_by"]) == (old.number, f"INV-{year}-000002")
    assert db.session.scalar(select(Document).where(Document.number == current.number)).data["totals"]["gross"] \
        == fresh(order.id).total_minor == 3000
    assert "replaced by invoice" in pdf_text(credit.id)


def pdf_text(document_id: int) -> str:
    import io

    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(documents.pdf_bytes(document_id)))
    return " ".join(" ".join(page.extract_text().split()) for page in reader.pages)


def test_only_the_phone_changes_no_invoice_is_corrected(place, mug):
    order = place([("MUG", 1)], confirm=True)
    pay_in_full(order.id)
    edit(order.id, phone="+31 6 1234")
    assert [d.kind for d in documents.documents_for(order.id)] == ["receipt", "invoice"]


# ------------------------------------------------------------------ concurrency


def test_an_edit_and_a_checkout_race_for_the_last_units(app, place, make_product):
    make_product(sku="LAST", on_hand=3)
    order = place([("LAST", 1)], confirm=True)  # two left
    version, line_id = order.version, order.lines[0].id

    def work(i):
        if i == 0:
            return order_edits.edit_order(order.id, OrderEdit(version=version, quantities={line_id: 3}), actor=ACTOR)
        return place([("LAST", 2)], confirm=True, email=f"buyer{i}@example.com")

    results = race(app, 2, work)
    assert outcomes(results) == {"ok": 1, "OutOfStock": 1}, results
    assert held("LAST") == (3, 3)
    assert not stock.ledger_mismatches()


def test_two_staff_editing_at_once_one_is_told_to_reload(app, place, mug):
    order = place([("MUG", 1)], confirm=True)
    line_id = order.lines[0].id
    results = race(app, 2, lambda i: order_edits.edit_order(
        order.id, OrderEdit(version=0, quantities={line_id: 2 + i}), actor=ACTOR))
    assert outcomes(results) == {"ok": 1, "OrderChanged": 1}, results
    assert fresh(order.id).version == 1 and held("MUG")[1] == fresh(order.id).lines[0].quantity
    assert len(edits_on_timeline(order.id)) == 1
    assert all(isinstance(v, (DomainError, order_edits.Effect)) for _, v in results)


@pytest.mark.parametrize("app_config", [{
    "OMS_SHOP": SHOP, "OMS_TAX_CLASSES": CLASSES, "extra_plugins": [plugin_registering(card)],
    "OMS_PLUGINS": {"fakecard": {"webhook_secret": "whsec_test", "capture": "on_ship"}}}])
def test_the_total_cannot_change_while_an_authorization_is_held(client, place, mug):
    order = place([("MUG", 1)], payment_method="fakecard", confirm=True)
    line_id = order.lines[0].id
    pay_by_card(client, order.id)  # authorized: captured when the order ships
    assert fresh(order.id).payment_status == "authorized"
    before = everything(order.id)
    with pytest.raises(ValidationError, match="capture or void it"):
        edit(order.id, quantities={line_id: 2})
    assert everything(order.id) == before
    edit(order.id, phone="+31 6 5")  # what does not change the total is fine
    assert fresh(order.id).customer_phone == "+31 6 5"


@pytest.mark.parametrize("app_config", [{"OMS_SHOP": SHOP, "OMS_TAX_CLASSES": CLASSES}])
def test_cash_on_delivery_collects_the_difference_at_the_door(place, mug):
    order = place([("MUG", 1)], payment_method="cash_on_delivery", confirm=True)
    edit(order.id, quantities={fresh(order.id).lines[0].id: 2})
    assert fresh(order.id).total_minor == 2000
    assert not db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.payload["status"].as_string() == "balance_due")).all()
