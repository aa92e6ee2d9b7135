"""Stock (docs/architecture.md, invariant 1): available = on hand - reserved; every change is a
ledger row whose sums equal the counters; nothing goes below zero, not even a raw
UPDATE that bypasses the services."""
from datetime import datetime, timezone

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError

from oms_core import order_states as S
from oms_core.db import db, write_transaction
from oms_core.errors import NotFound, OutOfStock, ValidationError
from oms_core.models import Order, Product, StockMove
from oms_core.protocols import TrackingUpdate
from oms_core.services import orders, payments, shipments, stock

ACTOR = "staff:stock@example.com"


def counters(product_id: int) -> tuple[int, int, int]:
    db.session.remove()
    product = db.session.get(Product, product_id)
    return product.on_hand, product.reserved, product.available


def moves(product_id: int) -> list[tuple]:
    """The product's ledger, oldest first, through a fresh session."""
    db.session.remove()
    return [tuple(r) for r in db.session.execute(
        select(StockMove.reason, StockMove.on_hand_delta, StockMove.reserved_delta,
               StockMove.order_id, StockMove.actor, StockMove.note)
        .where(StockMove.product_id == product_id).order_by(StockMove.id)).all()]


# ------------------------------------------------------------------ the ledger


def test_a_new_product_starts_with_an_initial_ledger_row(make_product):
    product = make_product(on_hand=7)
    assert counters(product.id) == (7, 0, 7)
    assert moves(product.id) == [("initial", 7, 0, None, "test", "")]


def test_a_product_without_stock_has_no_ledger_row(make_product):
    product = make_product(on_hand=0)
    assert counters(product.id) == (0, 0, 0) and moves(product.id) == []


def test_confirm_reserves_cancel_releases(make_product, place):
    product = make_product(on_hand=10)
    order_id = place([(product.sku, 4)], confirm=True).id
    assert counters(product.id) == (10, 4, 6)
    orders.cancel_order(order_id, actor=ACTOR, reason="Customer asked")
    assert counters(product.id) == (10, 0, 10)
    assert moves(product.id)[1:] == [("reservation", 0, 4, order_id, "test", ""),
                                     ("release", 0, -4, order_id, ACTOR, "")]


def test_cancelling_a_placed_order_touches_no_stock(make_product, place):
    product = make_product(on_hand=10)
    order = place([(product.sku, 4)], confirm=False)
    orders.cancel_order(order.id, actor=ACTOR, reason="Duplicate")
    assert counters(product.id) == (10, 0, 10) and len(moves(product.id)) == 1


def test_shipping_deducts_on_hand_and_reserved(make_product, place):
    product_id = make_product(on_hand=10, price_minor=500).id
    order_id = place([(db.session.get(Product, product_id).sku, 3)], confirm=True).id
    assert counters(product_id) == (10, 3, 7)
    payments.record_payment(order_id, gateway_id="bank_transfer", amount_minor=1500, currency="EUR",
                            reference="T", actor=ACTOR)
    shipments.create_shipment(order_id, carrier_id="manual", service="UPS", tracking_number="1Z",
                              actor=ACTOR)
    assert counters(product_id) == (7, 0, 7)
    assert moves(product_id)[-1] == ("shipment", -3, -3, order_id, ACTOR, "")


def test_a_multi_line_order_reserves_all_lines_or_none(make_product, place):
    plenty, scarce = make_product(on_hand=10), make_product(on_hand=1, sku="SCARCE")
    plenty_id, scarce_id = plenty.id, scarce.id
    order_id = place([(plenty.sku, 2), (scarce.sku, 2)], confirm=False).id
    with pytest.raises(OutOfStock) as short:
        orders.confirm_order(order_id, actor=ACTOR)
    assert (short.value.sku, short.value.requested, short.value.available) == ("SCARCE", 2, 1)
    assert "1 available" in str(short.value)
    assert counters(plenty_id) == (10, 0, 10) and counters(scarce_id) == (1, 0, 1)
    assert len(moves(plenty_id)) == len(moves(scarce_id)) == 1
    fresh = db.session.get(Order, order_id)
    assert (fresh.status, fresh.tracking_code) == (S.PLACED, None)


def test_checkout_that_is_out_of_stock_leaves_nothing(make_product, place):
    product = make_product(on_hand=1)
    product_id, sku = product.id, product.sku
    orders_before = db.session.scalar(select(db.func.count()).select_from(Order))
    with pytest.raises(OutOfStock):
        place([(sku, 2)], confirm=True)
    db.session.remove()
    assert db.session.scalar(select(db.func.count()).select_from(Order)) == orders_before
    assert counters(product_id) == (1, 0, 1)


# ------------------------------------------------------------------ adjustments


def test_receipts_and_adjustments_go_to_the_ledger(make_product):
    product = make_product(on_hand=5)
    assert stock.adjust(product.id, 12, reason="receipt", note="", actor=ACTOR).on_hand == 17
    assert stock.adjust(product.id, -2, reason="adjustment", note=" two damaged ",
                        actor=ACTOR).on_hand == 15
    assert counters(product.id) == (15, 0, 15)
    assert moves(product.id)[1:] == [("receipt", 12, 0, None, ACTOR, ""),
                                     ("adjustment", -2, 0, None, ACTOR, "two damaged")]


@pytest.mark.parametrize("delta, reason, note, says", [
    (-1, "adjustment", "", "why"),
    (3, "adjustment", "   ", "why"),
    (1, "theft", "gone", "reason"),
    (0, "adjustment", "recount", "zero"),
    (-3, "receipt", "", "received"),
    (-3, "initial", "", "received"),
])
def test_an_adjustment_must_say_why_and_make_sense(make_product, delta, reason, note, says):
    product = make_product(on_hand=5)
    with pytest.raises(ValidationError, match=says):
        stock.adjust(product.id, delta, reason=reason, note=note, actor=ACTOR)
    assert counters(product.id) == (5, 0, 5) and len(moves(product.id)) == 1


def test_stock_held_for_orders_cannot_be_adjusted_away(make_product, place):
    product = make_product(on_hand=10)
    place([(product.sku, 8)], confirm=True)
    with pytest.raises(ValidationError, match="8 are reserved"):
        stock.adjust(product.id, -3, reason="adjustment", note="recount", actor=ACTOR)
    assert counters(product.id) == (10, 8, 2)
    stock.adjust(product.id, -2, reason="adjustment", note="recount", actor=ACTOR)
    assert counters(product.id) == (8, 8, 0)


def test_stock_cannot_be_adjusted_below_zero(make_product):
    product = make_product(on_hand=2)
    with pytest.raises(ValidationError):
        stock.adjust(product.id, -3, reason="adjustment", note="lost", actor=ACTOR)
    assert counters(product.id) == (2, 0, 2)


def test_adjusting_an_unknown_product(app):
    with pytest.raises(NotFound):
        stock.adjust(424242, 1, reason="receipt", note="", actor=ACTOR)


# ------------------------------------------------------------------ available for sale


def test_available_for_sale(make_product, place):
    product = make_product(on_hand=6)
    hidden = make_product(on_hand=9)
    with write_transaction():
        db.session.get(Product, hidden.id).active = False
    place([(product.sku, 4)], confirm=True)
    assert stock.available_for_sale([product.sku, hidden.sku, "NOPE"]) == {
        product.sku: 2, hidden.sku: 0, "NOPE": 0}
    assert stock.available_for_sale([]) == {}


# ------------------------------------------------------------------ the invariant


def test_ledger_matches_after_a_mixed_day(make_product, place):
    a = make_product(on_hand=20, price_minor=100, sku="A")
    b = make_product(on_hand=3, price_minor=200, sku="B")
    a_id, b_id = a.id, b.id
    shipped_id = place([("A", 2), ("B", 1)], confirm=True, payment_method="cash_on_delivery").id
    shipment = shipments.create_shipment(shipped_id, carrier_id="manual", service="DHL",
                                         tracking_number="D1", actor=ACTOR)
    shipments.add_tracking_update(shipment.id, TrackingUpdate("D1", "delivered",
                                                              datetime.now(timezone.utc)), source="t")
    cancelled_id = place([("A", 5)], confirm=True).id
    orders.cancel_order(cancelled_id, actor=ACTOR, reason="Changed mind")
    held_id = place([("A", 3), ("B", 2)], confirm=True).id
    with pytest.raises(OutOfStock):
        place([("B", 1)], confirm=True)
    stock.adjust(a_id, 10, reason="receipt", note="", actor=ACTOR)
    stock.adjust(a_id, -1, reason="adjustment", note="broken", actor=ACTOR)
    with pytest.raises(ValidationError):
        stock.adjust(b_id, -1, reason="adjustment", note="lost", actor=ACTOR)
    assert stock.ledger_mismatches() == []
    assert counters(a_id) == (20 - 2 + 10 - 1, 3, 20 - 2 + 10 - 1 - 3)
    assert counters(b_id) == (2, 2, 0)
    assert orders.get_order(shipped_id).status == S.DELIVERED
    assert orders.get_order(held_id).status == S.CONFIRMED
    reasons = {r[0] for r in moves(a_id)}
    assert reasons == {"initial", "reservation", "shipment", "release", "receipt", "adjustment"}


def test_ledger_mismatches_finds_a_counter_changed_behind_its_back(make_product):
    product = make_product(on_hand=5, sku="DRIFT")
    with write_transaction():
        db.session.execute(update(Product).where(Product.id == product.id).values(on_hand=6))
    assert stock.ledger_mismatches() == [("DRIFT", 6, 5, 0, 0)]


@pytest.mark.parametrize("sql", [
    "UPDATE oms_product SET on_hand = -1",
    "UPDATE oms_product SET reserved = -1",
    "UPDATE oms_product SET reserved = on_hand + 1",
    "UPDATE oms_product SET price_minor = -5",
])
def test_the_database_refuses_impossible_stock_even_in_raw_sql(make_product, sql):
    product = make_product(on_hand=3)
    with pytest.raises(IntegrityError):
        with write_transaction():
            db.session.execute(text(sql))
    assert counters(product.id) == (3, 0, 3)
