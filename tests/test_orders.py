"""Placing orders: what a checkout or the back-office form hands in is checked,
priced from the catalogue, and either stored whole (with its stock reserved when
confirmed at once) or refused with a clear error that leaves nothing behind."""
import pytest
from sqlalchemy import event, func, select

from oms_core import order_states as S
from oms_core import tracking_codes
from oms_core.db import db, write_transaction
from oms_core.errors import NotFound, ValidationError
from oms_core.hookspecs import hookimpl
from oms_core.models import Customer, Order, OrderLine, Product, TimelineEvent
from oms_core.services import orders
from oms_core.services.orders import MAX_QUANTITY, NewOrder, place_order

ACTOR = "staff:desk@example.com"
ADDRESS = {"line1": " 1 Main St ", "line2": "", "postal_code": "1000", "city": "Springfield",
           "country": "nl"}


class PlacedRecorder:
    def __init__(self):
        self.placed = []

    @hookimpl
    def on_order_placed(self, order):
        # Called after commit: the order is already visible from another session.
        self.placed.append((order.id, order.status))


@pytest.fixture
def recorder():
    return PlacedRecorder()


@pytest.fixture
def app_config(recorder):
    return {"extra_plugins": [recorder]}


def new(lines, **kw) -> NewOrder:
    values = dict(email="ann@example.com", name="Ann Example", payment_method="bank_transfer",
                  address=dict(ADDRESS))
    values.update(kw)
    return NewOrder(lines=lines, **values)


def count(model) -> int:
    db.session.remove()
    return db.session.scalar(select(func.count()).select_from(model))


# ------------------------------------------------------------------ what is stored


def test_an_order_is_priced_from_the_catalogue(make_product, recorder):
    make_product(sku="MUG", name="Mug", price_minor=1250)
    make_product(sku="TEA", name="Tea", price_minor=399)
    order = place_order(new([("MUG", 2), (" TEA ", "3"), ("MUG", 1)], shipping_minor=495,
                            channel="phone", phone=" +31 6 1234 ", note="Leave at door"),
                        actor=ACTOR)
    db.session.remove()
    order = orders.get_order(order.id)
    assert [(line.sku, line.name, line.unit_price_minor, line.quantity, line.total_minor)
            for line in order.lines] == [
        ("MUG", "Mug", 1250, 3, 3750), ("TEA", "Tea", 399, 3, 1197)]
    assert (order.subtotal_minor, order.shipping_minor, order.total_minor) == (4947, 495, 5442)
    assert (order.paid_minor, order.balance_minor, order.payment_status) == (0, 5442, "unpaid")
    assert (order.currency, order.channel, order.payment_method) == ("EUR", "phone", "bank_transfer")
    assert (order.status, order.tracking_code) == (S.PLACED, None)  # phone orders wait for staff
    assert (order.ship_name, order.ship_line1, order.ship_city, order.ship_country) == (
        "Ann Example", "1 Main St", "Springfield", "NL")
    assert order.customer.phone == "+31 6 1234" and order.note == "Leave at door"
    assert order.number == f"{order.id:06d}"
    event = order.events[0]
    assert (event.kind, event.from_status, event.to_status, event.actor, event.public) == (
        "status_changed", None, S.PLACED, ACTOR, True)
    assert recorder.placed == [(order.id, S.PLACED)]


def test_web_orders_are_confirmed_at_once_by_default(make_product):
    make_product(sku="MUG", on_hand=5)
    order = place_order(new([("MUG", 2)]), actor="storefront")
    assert order.status == S.CONFIRMED and tracking_codes.is_well_formed(order.tracking_code)
    assert db.session.scalar(select(Product.reserved).where(Product.sku == "MUG")) == 2


def test_the_order_returned_holds_what_the_database_holds_without_reading_it_back(make_product):
    make_product(sku="MUG", price_minor=1250)
    make_product(sku="TEA", price_minor=399)
    statements = []

    def before(_conn, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", before)
    try:
        order = place_order(new([("MUG", 2), ("TEA", 1)], note="Ring twice"), actor="storefront")
        returned = {"order": columns_of(order), "lines": [columns_of(line) for line in order.lines],
                    "backrefs": [line.order is order for line in order.lines]}
    finally:
        event.remove(db.engine, "before_cursor_execute", before)
    # One read: the products (with whether any webhook endpoint is active).
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 1 and "FROM oms_product" in selects[0]
    db.session.remove()
    stored = db.session.get(Order, order.id)
    assert returned == {"order": columns_of(stored), "lines": [columns_of(line) for line in stored.lines],
                        "backrefs": [True, True]}
    assert [line.sku for line in stored.lines] == ["MUG", "TEA"]


def columns_of(instance) -> dict:
    return {column.key: getattr(instance, column.key) for column in instance.__table__.columns}


@pytest.mark.parametrize("app_config", [{"OMS_AUTO_CONFIRM": False}])
def test_auto_confirm_can_be_switched_off(make_product):
    make_product(sku="MUG")
    assert place_order(new([("MUG", 1)]), actor="storefront").status == S.PLACED
    assert place_order(new([("MUG", 1)]), actor="storefront", confirm=True).status == S.CONFIRMED


def test_prices_are_a_snapshot(make_product):
    product = make_product(sku="MUG", price_minor=1000)
    order_id = place_order(new([("MUG", 1)]), actor=ACTOR, confirm=False).id
    with write_transaction():
        db.session.get(Product, product.id).price_minor = 2000
    db.session.remove()
    order = orders.get_order(order_id)
    assert (order.lines[0].unit_price_minor, order.total_minor) == (1000, 1000)


def test_a_returning_customer_is_found_by_email(make_product):
    make_product(sku="MUG")
    first = place_order(new([("MUG", 1)], email="Ann@Example.COM", phone="123"), actor=ACTOR,
                        confirm=False).id
    second = place_order(new([("MUG", 1)], email=" ann@example.com ", name="Ann Smith", phone="456"),
                         actor=ACTOR, confirm=False).id
    db.session.remove()
    assert orders.get_order(first).customer_id == orders.get_order(second).customer_id
    assert count(Customer) == 1
    # Each order keeps what was typed for it; the customer keeps what it was created with.
    first, second = orders.get_order(first), orders.get_order(second)
    assert (first.customer_name, first.customer_phone) == ("Ann Example", "123")
    assert (second.customer_name, second.customer_phone) == ("Ann Smith", "456")
    customer = db.session.scalar(select(Customer))
    assert (customer.email, customer.name, customer.phone) == ("ann@example.com", "Ann Example", "123")


def test_cash_on_delivery_is_remembered_on_the_order(make_product):
    make_product(sku="MUG")
    order = place_order(new([("MUG", 1)], payment_method="cash_on_delivery"), actor=ACTOR, confirm=False)
    assert order.pays_on_delivery is True and order.payment_method == "cash_on_delivery"


# ------------------------------------------------------------------ what is refused


@pytest.mark.parametrize("change, says", [
    ({"email": "not-an-email"}, "email"),
    ({"email": ""}, "email"),
    ({"name": "  "}, "Name"),
    ({"name": "x" * 201}, "Name"),
    ({"channel": "fax"}, "channel"),
    ({"shipping_minor": -1}, "Shipping"),
    ({"lines": []}, "at least one item"),
    ({"lines": [("MUG", 0), ("MUG", -2)]}, "at least one item"),
    ({"lines": [("MUG", "two")]}, "whole number"),
    ({"lines": [("MUG", 1.5)]}, "whole number"),
    ({"lines": [("MUG", True)]}, "whole number"),
    ({"lines": [("MUG", MAX_QUANTITY), ("MUG", 1)]}, f"At most {MAX_QUANTITY}"),
    ({"lines": [("NOPE", 1)]}, "NOPE"),
    ({"lines": [("HIDDEN", 1)]}, "HIDDEN"),
    ({"lines": [("MUG", 1), ("DOLLAR", 1)]}, "one currency"),
    ({"address": dict(ADDRESS, country="Netherlands")}, "two-letter"),
    ({"address": dict(ADDRESS, country="N1")}, "two-letter"),
    ({"address": dict(ADDRESS, city="x" * 201)}, "City"),
    ({"note": "x" * 2001}, "Note"),
])
def test_bad_input_is_refused_and_leaves_nothing(make_product, recorder, change, says):
    make_product(sku="MUG", on_hand=MAX_QUANTITY + 5)
    hidden = make_product(sku="HIDDEN")
    make_product(sku="DOLLAR", currency="USD")
    with write_transaction():
        db.session.get(Product, hidden.id).active = False
    values = {"lines": [("MUG", 1)], **change}
    with pytest.raises(ValidationError, match=says):
        place_order(new(**values), actor=ACTOR, confirm=True)
    assert count(Order) == count(OrderLine) == count(Customer) == count(TimelineEvent) == 0
    assert db.session.scalar(select(func.sum(Product.reserved))) == 0
    assert recorder.placed == []


def test_an_unknown_payment_method_is_refused(make_product):
    make_product(sku="MUG")
    with pytest.raises(NotFound, match="payment method"):
        place_order(new([("MUG", 1)], payment_method="bitcoin"), actor=ACTOR)
    assert count(Order) == 0


def test_an_empty_country_is_allowed(make_product):
    make_product(sku="MUG")
    order = place_order(new([("MUG", 1)], address={}), actor=ACTOR, confirm=False)
    assert order.ship_country == "" and order.ship_line1 == ""


# ------------------------------------------------------------------ lookups and notes


def test_notes_are_private_timeline_events(place):
    order_id = place(confirm=False).id
    orders.add_note(order_id, " Customer called about the colour ", actor=ACTOR)
    db.session.remove()
    note = orders.get_order(order_id).events[-1]
    assert (note.kind, note.message, note.actor, note.public) == (
        "note", "Customer called about the colour", ACTOR, False)
    with pytest.raises(ValidationError):
        orders.add_note(order_id, " ", actor=ACTOR)
    with pytest.raises(NotFound):
        orders.add_note(123456, "hello", actor=ACTOR)


def test_get_and_find(place):
    order = place(confirm=True)
    assert orders.get_order(order.id).id == order.id
    assert orders.find_by_tracking_code(order.tracking_code).id == order.id
    assert orders.find_by_tracking_code("0" * 14) is None
    with pytest.raises(NotFound):
        orders.get_order(987654)
    for action in (orders.confirm_order, orders.close_order):
        with pytest.raises(NotFound):
            action(987654, actor=ACTOR)
