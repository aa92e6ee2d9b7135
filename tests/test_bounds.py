"""Every number is bounded at the edge (oms_core.limits): the inputs that used to
answer 500 or corrupt stock now get a clear error and change nothing, stock
counters cannot hold a non-integer, and `flask oms check-stock` survives rows that
overflow a database sum."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from oms_core import limits, money, schema
from oms_core.db import db
from oms_core.errors import NotFound, ValidationError
from oms_core.models import Order, OutboxMessage, Product, StockMove
from oms_core.protocols import TrackingUpdate
from oms_core.services import orders, outbox, queries, shipments, stock
from oms_core.testing import dispose, make_app
from test_admin_orders import shipped_order
from test_schema import empty_url  # noqa: F401  (a fixture: an empty database of each backend)

ADMIN = "/oms/admin"
HUGE = "9223372036854775807"
HUGER = "9" * 30
DIGITS_4301 = "1" * 4301


def fresh(model, row_id):
    db.session.expire_all()
    return db.session.get(model, row_id)


def stock_of(product_id):
    product = fresh(Product, product_id)
    return product.on_hand, product.reserved


# ------------------------------------------------------------------ stock


@pytest.mark.parametrize("delta", [HUGE, "-" + HUGE, HUGER, DIGITS_4301, str(limits.MAX_STOCK + 1),
                                   "²", "①", "٣", "1e3", "0x10", "1_000"])
def test_an_adjustment_beyond_the_bounds_is_refused_and_the_shop_keeps_working(
        staff_client, make_product, delta):
    product = make_product(on_hand=10)
    response = staff_client.post(f"{ADMIN}/products/{product.id}/adjust", htmx=True,
                                 data={"delta": delta, "reason": "receipt", "note": "typo"})
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "Change must be" in body
    assert stock_of(product.id) == (10, 0)
    assert stock.ledger_mismatches() == [] and stock.stock_problems() == []
    for url in ("/replenishment", "/replenishment.csv", f"/products/{product.id}/forecast", "/products",
                f"/products/{product.id}", "/"):
        assert staff_client.get(ADMIN + url).status_code == 200, url


def test_stock_cannot_grow_past_the_bound(make_product):
    product = make_product(on_hand=limits.MAX_STOCK - 5)
    with pytest.raises(ValidationError, match="cannot hold more than 1,000,000,000"):
        stock.adjust(product.id, 6, reason="receipt", note="", actor="test")
    stock.adjust(product.id, 5, reason="receipt", note="", actor="test")
    assert stock_of(product.id) == (limits.MAX_STOCK, 0)
    for delta in (int(HUGE), -int(HUGE), 10**5000, 1.0, True, "5"):
        with pytest.raises(ValidationError):
            stock.adjust(product.id, delta, reason="adjustment", note="x", actor="test")
    assert stock_of(product.id) == (limits.MAX_STOCK, 0) and stock.ledger_mismatches() == []


@pytest.mark.parametrize("values", [
    {"on_hand": limits.MAX_STOCK + 1}, {"on_hand": 2.5}, {"price_minor": 2**31}, {"price_minor": True},
    {"low_stock_threshold": 10**30}, {"sku": "X" * 65}, {"name": "N" * 201}, {"sku": "A\x00B"},
])
def test_create_product_refuses_values_the_database_cannot_hold(make_product, values):
    with pytest.raises(ValidationError):
        make_product(**values)
    assert db.session.scalar(select(func.count()).select_from(Product)) == 0


@pytest.mark.parametrize("sql", [
    "UPDATE oms_product SET on_hand = 2000000000",
    "UPDATE oms_product SET on_hand = on_hand + 9223372036854775807",
    "UPDATE oms_product SET on_hand = 10.5",
    "UPDATE oms_product SET reserved = 0.5",
])
def test_stock_columns_hold_only_whole_numbers_in_range(app, make_product, backend, sql):
    product = make_product(on_hand=10)
    if backend == "postgresql" and "." in sql:
        # PostgreSQL's INTEGER rounds a fraction: what it stores is still a whole number.
        db.session.execute(text(sql))
        db.session.commit()
        assert all(type(value) is int for value in stock_of(product.id))
        return
    with pytest.raises(Exception) as raised:  # a CHECK, or PostgreSQL's "integer out of range"
        db.session.execute(text(sql))
        db.session.commit()
    db.session.rollback()
    if backend == "sqlite" or "2000000000" in sql:
        assert isinstance(raised.value, IntegrityError)
    assert stock_of(product.id) == (10, 0)


def test_check_stock_survives_rows_whose_sum_overflows(app, runner, make_product, backend):
    good = make_product(sku="GOOD", on_hand=4)
    bad = make_product(sku="BAD", on_hand=10)
    # Rows no real change can write (from before the bounds): +huge then -huge. SQLite's
    # sum() overflows on them; PostgreSQL's INTEGER holds at most 2**31-1.
    big = int(HUGE) if backend == "sqlite" else 2**31 - 1
    for delta in (big, -big):
        db.session.add(StockMove(product_id=bad.id, on_hand_delta=delta, reserved_delta=0,
                                 reason="adjustment", note="typo", actor="test"))
    db.session.commit()
    assert stock.ledger_mismatches() == []  # they cancel out: the counter agrees with the ledger
    assert [line.split(":")[0] for line in stock.stock_problems()] == ["BAD", "BAD"]
    result = runner.invoke(args=["oms", "check-stock"])
    assert result.exit_code == 1, result.output
    assert "ledger row #" in result.output and f"moves on hand {big}" in result.output
    assert "2 value(s) out of range." in result.output and "GOOD" not in result.output

    # A counter that drifted from such a ledger is reported with the exact sum.
    db.session.add(StockMove(product_id=bad.id, on_hand_delta=big, reserved_delta=0, reason="adjustment",
                             note="again", actor="test"))
    db.session.commit()
    assert stock.ledger_mismatches() == [("BAD", 10, 10 + big, 0, 0)]
    assert good.id  # untouched


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_check_stock_reports_a_counter_stored_as_a_real(app, runner, make_product):
    """What the overflowing adjustment left behind before the CHECK existed (written
    here with the CHECK out of the way by a table without it)."""
    make_product(sku="REAL", on_hand=10)
    db.session.remove()
    with db.engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA ignore_check_constraints = ON")
        connection.exec_driver_sql("UPDATE oms_product SET on_hand = 9.223372036854776e18 WHERE sku = 'REAL'")
        connection.commit()
        connection.exec_driver_sql("PRAGMA ignore_check_constraints = OFF")
    result = runner.invoke(args=["oms", "check-stock"])
    assert result.exit_code == 1
    assert "REAL: on hand 9.223372036854776e+18 vs ledger 10" in result.output
    assert ("REAL: on hand is 9.223372036854776e+18, not a whole number within 0..1,000,000,000"
            in result.output)


@pytest.fixture
def at_0004(empty_url):  # noqa: F811  (the fixture imported above)
    app = make_app(empty_url, upgrade=False)
    with app.app_context():
        schema.upgrade("0004")
        yield app
        db.session.remove()
    dispose(app)


def insert_0004_product(on_hand) -> None:
    db.session.execute(text(
        "INSERT INTO oms_product (sku, name, description, price_minor, currency, on_hand, reserved, "
        "low_stock_threshold, active, created_at) VALUES ('OLD', 'Old', '', 100, 'EUR', :on_hand, 0, 3, "
        "true, CURRENT_TIMESTAMP)"), {"on_hand": on_hand})
    db.session.commit()


def test_the_migration_refuses_counters_out_of_range_naming_them(at_0004):
    insert_0004_product(2_000_000_000)
    with pytest.raises(RuntimeError, match=r"OLD: on hand 2000000000.*flask oms check-stock"):
        schema.upgrade()
    assert schema.current_revision() == "0004"
    db.session.execute(text("UPDATE oms_product SET on_hand = 5"))
    db.session.commit()
    schema.upgrade()
    assert schema.current_revision() == schema.head_revision()


def test_the_migration_keeps_each_orders_name_and_phone(at_0004):
    insert_0004_product(5)
    db.session.execute(text(
        "INSERT INTO oms_customer (email, name, phone, created_at) "
        "VALUES ('ann@example.com', 'Ann Renamed', '555', CURRENT_TIMESTAMP)"))
    db.session.execute(text(
        "INSERT INTO oms_order (status, customer_id, channel, currency, subtotal_minor, shipping_minor, "
        "total_minor, paid_minor, payment_method, payment_status, pays_on_delivery, ship_name, ship_line1, "
        "ship_line2, ship_postal_code, ship_city, ship_country, note, created_at, updated_at, "
        "status_changed_at) SELECT 'placed', id, 'web', 'EUR', 100, 0, 100, 0, 'bank_transfer', 'unpaid', "
        "false, 'Ann Typed', '', '', '', '', 'NL', '', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, "
        "CURRENT_TIMESTAMP FROM oms_customer"))
    db.session.commit()
    schema.upgrade()
    order = db.session.scalar(select(Order))
    assert (order.customer_name, order.customer_phone) == ("Ann Typed", "555")


# ------------------------------------------------------------------ ids and cursors


@pytest.mark.parametrize("segment", [HUGE, HUGER, DIGITS_4301, "2147483648", "0", "²", "①", "%D9%A3",
                                     "%EF%BC%91"])
def test_ids_in_urls_out_of_range_or_not_ascii_are_404(staff_client, place, segment):
    order = place()
    assert order.id == 1
    for url in (f"/orders/{segment}", f"/products/{segment}", f"/products/{segment}/forecast"):
        assert staff_client.get(ADMIN + url).status_code == 404, url
    for url in (f"/orders/{segment}/notes", f"/outbox/{segment}/retry", f"/products/{segment}/adjust"):
        assert staff_client.post(ADMIN + url, data={"text": "x", "delta": "1"}).status_code == 404, url
    assert len(fresh(Order, order.id).events) == 1


@pytest.mark.parametrize("before", [HUGE, HUGER, DIGITS_4301, "²", "٣", "-1", "0", "1.5", "abc"])
def test_a_cursor_that_is_no_order_id_is_a_400(staff_client, place, before):
    place()
    response = staff_client.get(f"{ADMIN}/orders", query_string={"before": before})
    assert response.status_code == 400
    assert "is not a valid before value" in response.get_data(as_text=True)
    assert staff_client.get(f"{ADMIN}/orders", query_string={"before": "2"}).status_code == 200


@pytest.mark.parametrize("term", ["#" + HUGE, HUGER, "#" + DIGITS_4301, "²", "#²", "①", "٣", "#0"])
def test_searching_for_numbers_no_order_has_finds_nothing(staff_client, place, term):
    place()
    response = staff_client.get(f"{ADMIN}/orders", query_string={"q": term})
    assert response.status_code == 200
    assert 'href="/oms/admin/orders/1"' not in response.get_data(as_text=True)
    assert queries.list_orders(search="#1").orders[0].id == 1


def test_services_refuse_ids_out_of_range(app):
    for bad in (int(HUGE), 2**31, 10**5000, 0, -1, True, "1"):
        with pytest.raises(NotFound):
            orders.get_order(bad)
        with pytest.raises(NotFound):
            outbox.retry_now(bad)
        with pytest.raises(NotFound):
            stock.adjust(bad, 1, reason="receipt", note="", actor="test")
    with pytest.raises(ValidationError):
        queries.list_orders(before=int(HUGE))
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_a_nul_character_is_a_400_and_changes_nothing(staff_client, place, make_product):
    order = place()
    assert staff_client.get(f"{ADMIN}/orders", query_string={"q": "a\x00b"}).status_code == 400
    assert staff_client.get(f"{ADMIN}/products", query_string={"after": "\x00"}).status_code == 400
    response = staff_client.post(f"{ADMIN}/orders/{order.id}/notes", data={"text": "a\x00b"})
    assert response.status_code == 400
    assert len(fresh(Order, order.id).events) == 1
    assert staff_client.client.get("/oms/storefront/stock/A%00B").status_code == 404


# ------------------------------------------------------------------ money, dates, percentages


@pytest.mark.parametrize("shipping, says", [
    (HUGE, "at most 21,474,836.47 EUR"), (DIGITS_4301, "at most 21,474,836.47 EUR"),
    ("1E+999999999999999999", "is not an amount"), ("²", "is not an amount"), ("٣", "is not an amount"),
])
def test_shipping_out_of_range_shows_the_form_again(staff_client, make_product, shipping, says):
    make_product(sku="MUG")
    response = staff_client.post(f"{ADMIN}/orders/new", data={
        "email": "x@example.com", "name": "X", "channel": "phone", "payment_method": "bank_transfer",
        "sku": "MUG", "quantity": "1", "shipping": shipping})
    assert response.status_code == 400 and says in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Order)) == 0


def test_an_order_total_beyond_an_integer_column_is_refused(place, make_product):
    product = make_product(sku="GOLD", price_minor=limits.MAX_AMOUNT_MINOR, on_hand=5)
    with pytest.raises(ValidationError, match="total"):
        place([(product.sku, 2)])
    with pytest.raises(ValidationError, match="total"):
        place([(product.sku, 1)], shipping_minor=1)
    with pytest.raises(ValidationError, match="Shipping"):
        place([(product.sku, 1)], shipping_minor=10**5000)
    assert db.session.scalar(select(func.count()).select_from(Order)) == 0


@pytest.mark.parametrize("level", ["1E+999999999999999999", "1e2", "9" * 5000, "95.5555", "NaN", "²"])
def test_a_service_level_that_is_no_percentage_is_refused(staff_client, make_product, level):
    product = make_product()
    response = staff_client.post(f"{ADMIN}/products/{product.id}/replenishment", htmx=True,
                                 data={"service_level": level})
    assert response.status_code == 200
    assert "Service level must be a percentage" in response.get_data(as_text=True)
    assert fresh(Product, product.id).service_level is None


@pytest.mark.parametrize("when", ["0001-01-01T00:00+05:00", "0001-01-01T00:00", "9999-12-31T23:59-05:00",
                                  "1999-12-31T23:59"])
def test_tracking_times_beyond_the_calendar_are_refused(staff_client, place, when):
    order, shipment = shipped_order(place)
    response = staff_client.post(f"{ADMIN}/orders/{order.id}/tracking", htmx=True, data={
        "shipment_id": str(shipment.id), "status": "in_transit", "occurred_at": when})
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "is not a date" in body or "before 2000" in body or "future" in body
    db.session.expire_all()
    assert fresh(type(shipment), shipment.id).events == []


def test_the_tracking_service_refuses_events_before_2000(place):
    from datetime import datetime, timezone

    _, shipment = shipped_order(place)
    update = TrackingUpdate(tracking_number=shipment.tracking_number, status="in_transit",
                            occurred_at=datetime(1, 1, 1, tzinfo=timezone.utc))
    with pytest.raises(ValidationError, match="before 2000"):
        shipments.add_tracking_update(shipment.id, update, source="test")


def test_money_parsing_has_bounds():
    assert money.parse_amount(str(limits.MAX_AMOUNT_MINOR / 100), "EUR") == limits.MAX_AMOUNT_MINOR
    for text_ in ("21474836.48", HUGE, DIGITS_4301, "-" + HUGE):
        with pytest.raises(ValidationError, match="at most"):
            money.parse_amount(text_, "EUR")
    with pytest.raises(ValidationError, match="at most"):
        money.parse_amount(10**5000, "EUR")
