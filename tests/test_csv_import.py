"""Orders from other channels, products and stock from CSV files
(services/csv_import.py): the report row by row, nothing half-imported, idempotent
re-imports (also at once), oversells refused, Shopify's export, the file's
encoding, delimiter and bounds, the CLI, the upload page, and hypothesis on the
parser."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from oms_core.db import db
from oms_core.errors import ValidationError
from oms_core.models import Order, Payment, Product, StockMove
from oms_core.services import csv_import, stock

ACTOR = "staff:ops@example.com"
HEADER = "channel,external_order_id,email,name,line1,postal_code,city,country,sku,quantity,unit_price,currency,paid\n"


def orders_in_db() -> int:
    db.session.commit()
    return db.session.scalar(select(func.count()).select_from(Order))


def csv_bytes(*rows: str, header: str = HEADER) -> bytes:
    return (header + "".join(row + "\n" for row in rows)).encode()


@pytest.fixture
def mugs(make_product):
    return make_product(sku="MUG", on_hand=10, price_minor=1200), make_product(sku="TEA", on_hand=2, price_minor=500)


def test_broken_rows_are_reported_and_their_orders_not_half_imported(app, mugs):
    data = csv_bytes(
        "etsy,E-1,ann@example.com,Ann,1 Main St,1000,Springfield,NL,MUG,2,11.00,EUR,yes",   # row 2: good
        "etsy,E-1,,,,,,,TEA,1,,EUR,",                                                         # row 3: same order
        "etsy,E-2,bob@example.com,Bob,2 Side St,1000,Springfield,NL,MUG,1,,EUR,no",           # row 4: good line
        "etsy,E-2,,,,,,,TEA,two,,EUR,",                                                       # row 5: bad quantity
        "etsy,E-3,cy@example.com,Cy,,,,,NOPE,1,,EUR,no",                                      # row 6: unknown SKU
        "etsy,E-4,di@example.com,Di,,,,,TEA,5,,EUR,no",                                       # row 7: oversell
        "web,W-1,ed@example.com,Ed,,,,,MUG,1,,EUR,no",                                        # row 8: not imported from
        "etsy,E-5,fay@example.com,Fay,,,,,MUG,1,,EUR,maybe",                                  # row 9: paid?
        "etsy,E-6,gus@example.com,Gus,,,,,MUG,1,,EUR,no",                                     # row 10: good
        "etsy,E-6,other@example.com,,,,,,MUG,1,,EUR,",                                        # row 11: another email
        "etsy,E-7,hal@example.com,Hal,,,,,MUG,1,,EUR,no",                                     # row 12: good
    )
    report = csv_import.import_orders(data, actor=ACTOR)

    assert [label for label, _ in report.created] == ["etsy E-1", "etsy E-7"]
    errors = {problem.rows: problem.message for problem in report.errors}
    assert set(errors) == {(4, 5), (6,), (7,), (8,), (9,), (10, 11)}
    assert "row 5: the quantity must be a whole number" in errors[(4, 5)]
    assert "NOPE" in errors[(6,)]
    assert "Not enough stock for TEA: 5 requested, 1 available" in errors[(7,)]
    assert "Channel 'web'" in errors[(8,)]
    assert "Paid must be yes or no" in errors[(9,)]
    assert "row 11: email differs from row 10's" in errors[(10, 11)]
    assert report.rows == 11 and not report.ok

    assert orders_in_db() == 2  # nothing of E-2 .. E-6
    first = db.session.scalar(select(Order).where(Order.external_id == "E-1"))
    assert (first.channel, first.status, first.payment_status) == ("etsy", "paid", "paid")
    assert {(line.sku, line.quantity, line.unit_price_minor) for line in first.lines} == {("MUG", 2, 1100),
                                                                                          ("TEA", 1, 500)}
    assert first.total_minor == 2 * 1100 + 500
    payment = db.session.scalar(select(Payment).where(Payment.order_id == first.id))
    assert (payment.amount_minor, payment.reference) == (first.total_minor, "etsy E-1")
    assert "Order placed (etsy)." in [event.message for event in first.events]
    mug, tea = (db.session.scalar(select(Product).where(Product.sku == sku)) for sku in ("MUG", "TEA"))
    assert (mug.reserved, tea.reserved) == (3, 1)
    assert stock.ledger_mismatches() == []


def test_importing_the_same_file_twice_creates_nothing_new(app, mugs):
    data = csv_bytes("amazon,A-1,ann@example.com,Ann,,,,,MUG,1,,EUR,no",
                     "amazon,A-2,bob@example.com,Bob,,,,,TEA,1,,EUR,yes")
    first = csv_import.import_orders(data, actor=ACTOR)
    moves = db.session.scalar(select(func.count()).select_from(StockMove))
    second = csv_import.import_orders(data, actor=ACTOR)
    assert len(first.created) == 2 and second.created == [] and second.errors == []
    assert sorted(label for label, _ in second.unchanged) == ["amazon A-1", "amazon A-2"]
    assert orders_in_db() == 2
    assert db.session.scalar(select(func.count()).select_from(StockMove)) == moves
    # The same external id in another channel is another order.
    third = csv_import.import_orders(csv_bytes("ebay,A-1,ann@example.com,Ann,,,,,MUG,1,,EUR,no"), actor=ACTOR)
    assert len(third.created) == 1


def test_two_imports_of_one_file_at_once_create_each_order_once(app, make_product):
    from test_concurrency import race

    make_product(sku="MUG", on_hand=100)
    data = csv_bytes(*(f"shopify,#{n},c{n}@example.com,C {n},,,,,MUG,1,,EUR,no" for n in range(8)))
    results = race(app, 3, lambda _i: csv_import.import_orders(data, actor=ACTOR))
    assert all(kind == "ok" for kind, _ in results), results
    reports = [report for _, report in results]
    assert sum(len(report.created) for report in reports) == 8
    assert all(len(report.created) + len(report.unchanged) == 8 and report.ok for report in reports)
    assert orders_in_db() == 8
    assert stock.ledger_mismatches() == []


SHOPIFY = (
    "Name,Email,Financial Status,Paid at,Fulfillment Status,Currency,Subtotal,Shipping,Taxes,Total,"
    "Lineitem quantity,Lineitem name,Lineitem price,Lineitem sku,Billing Name,Shipping Name,"
    "Shipping Street,Shipping Address1,Shipping Address2,Shipping Company,Shipping City,Shipping Zip,"
    "Shipping Province,Shipping Country,Shipping Phone,Notes\r\n"
    "#1001,zoë@example.com,paid,2026-11-29 10:00:00 +0100,unfulfilled,EUR,29.00,4.95,5.03,33.95,"
    "2,Stoneware mug,12.00,MUG,Zoë Zed,Zoë Zed,Keizersgracht 1,Keizersgracht 1,,,"
    "Amsterdam,1015 AA,,NL,+31 20 123,\"Gift, please\"\r\n"
    "#1001,zoë@example.com,,,,,,,,,1,Tea,5.00,TEA,,,,,,,,,,,,\r\n"
    "#1002,yan@example.com,pending,,unfulfilled,EUR,5.00,0.00,0.87,5.00,1,Tea,5.00,TEA,Yan,Yan,"
    "Main 2,Main 2,,,Utrecht,3511,,NL,,\r\n"
)


def test_shopifys_orders_export_is_read_with_its_bom(app, mugs):
    report = csv_import.import_orders(b"\xef\xbb\xbf" + SHOPIFY.encode(), actor=ACTOR)
    assert report.format == "shopify" and report.ok, report.errors
    assert [label for label, _ in report.created] == ["shopify #1001", "shopify #1002"]
    order = db.session.scalar(select(Order).where(Order.external_id == "#1001"))
    assert (order.customer.email, order.ship_name, order.ship_line1, order.ship_city, order.ship_postal_code,
            order.ship_country, order.customer_phone, order.note) == (
        "zoë@example.com", "Zoë Zed", "Keizersgracht 1", "Amsterdam", "1015 AA", "NL", "+31 20 123", "Gift, please")
    assert (order.shipping_minor, order.subtotal_minor, order.payment_status) == (495, 2900, "paid")
    pending = db.session.scalar(select(Order).where(Order.external_id == "#1002"))
    assert (pending.status, pending.payment_status) == ("confirmed", "unpaid")


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_delimiters_and_line_endings(app, mugs, delimiter):
    text = (HEADER + "ebay,B-1,ann@example.com,Ann,\"1 Main St; back\",1000,Springfield,NL,MUG,1,,EUR,no\n")
    if delimiter != ",":
        text = text.replace(",", delimiter).replace(f"Main St; back", "Main St, back")
    report = csv_import.import_orders(text.replace("\n", "\r\n").encode(), actor=ACTOR)
    assert report.ok and len(report.created) == 1, report.errors


@pytest.mark.parametrize("data, message", [
    ("channel,sku\nebay,MUG\n".encode("utf-16"), "not UTF-8"),
    (HEADER.encode() + "ebay,B-1,ann@example.com,Müller,,,,,MUG,1,,EUR,no\n".encode("latin-1"), "line 2"),
    (b"", "empty"),
    (b"\n\n", "empty"),
    (b"channel,sku\n", "lacks the column"),
    (HEADER.encode() + b'ebay,"B-1,ann@example.com\n', "cannot be read as CSV"),
    (b"channel,channel,sku\n", "twice"),
    (b"a\x00b\n", "NUL"),
])
def test_files_that_cannot_be_read_are_refused_whole(app, mugs, data, message):
    with pytest.raises(ValidationError, match=message):
        csv_import.import_orders(data, actor=ACTOR)
    assert orders_in_db() == 0


@pytest.mark.parametrize("app_config", [{"OMS_IMPORT_MAX_BYTES": 300, "OMS_IMPORT_MAX_ROWS": 3}])
def test_size_and_row_bounds(app, mugs):
    with pytest.raises(ValidationError, match="larger than 300 bytes"):
        csv_import.import_orders(csv_bytes(*["ebay,X,a@example.com,A,,,,,MUG,1,,EUR,no"] * 6), actor=ACTOR)
    with pytest.raises(ValidationError, match="more than 3 rows"):
        csv_import.import_orders(b"channel,external_order_id,email,name,sku,quantity\n" + b"ebay,X,a@e.co,A,MUG,1\n" * 4,
                                 actor=ACTOR)
    assert orders_in_db() == 0


def test_a_row_with_too_many_cells_or_a_long_id_is_reported(app, mugs):
    report = csv_import.import_orders(csv_bytes("ebay,B-1,ann@example.com,Ann,,,,,MUG,1,,EUR,no,extra",
                                                "ebay," + "9" * 65 + ",ann@example.com,Ann,,,,,MUG,1,,EUR,no",
                                                "ebay,B-3,ann@example.com,Ann,,,,,MUG,1,99999999999,EUR,no",
                                                "ebay,B-4,ann@example.com,Ann,,,,,MUG,1,,USD,no"), actor=ACTOR)
    assert [problem.rows for problem in report.errors] == [(2,), (3,), (4,), (5,)]
    assert "sold in EUR" in report.errors[3].message
    assert orders_in_db() == 0


# ------------------------------------------------------------------ products and stock

PRODUCTS = "sku,name,price,currency,on_hand,low_stock_threshold\n"


def test_products_are_created_updated_and_counted_through_the_ledger(app, place, make_product):
    make_product(sku="OLD", on_hand=5, price_minor=100)
    place([("OLD", 3)], confirm=True)  # 3 reserved
    data = (PRODUCTS + "NEW,New thing,4.50,EUR,7,2\n"
            "OLD,Old thing renamed,1.25,,9,\n"
            "OLD,Twice,1,,1,\n"
            "LOW,,1.00,EUR,1,\n"
            "BAD,Bad,1.00,EUR,-4,\n").encode()
    report = csv_import.import_products(data, actor=ACTOR)
    assert [label for label, _ in report.created] == ["NEW"]
    assert [label for label, _ in report.updated] == ["OLD"]
    assert {problem.rows for problem in report.errors} == {(4,), (5,), (6,)}
    db.session.commit()
    new = db.session.scalar(select(Product).where(Product.sku == "NEW"))
    old = db.session.scalar(select(Product).where(Product.sku == "OLD"))
    assert (new.name, new.price_minor, new.on_hand, new.low_stock_threshold) == ("New thing", 450, 7, 2)
    assert (old.name, old.price_minor, old.on_hand, old.reserved) == ("Old thing renamed", 125, 9, 3)
    reasons = [(move.reason, move.on_hand_delta) for move in stock.ledger(old.id)]
    assert reasons[0] == ("import", 4)
    assert [(m.reason, m.on_hand_delta) for m in stock.ledger(new.id)] == [("import", 7)]
    assert stock.ledger_mismatches() == []

    # Below what confirmed orders hold: refused, nothing changes; the same count again: unchanged.
    report = csv_import.import_products((PRODUCTS + "OLD,,,,2,\nNEW,,,,7,\n").encode(), actor=ACTOR)
    assert "3 reserved" in report.errors[0].message and [label for label, _ in report.unchanged] == ["NEW"]
    db.session.commit()
    assert db.session.get(Product, old.id).on_hand == 9


# ------------------------------------------------------------------ the CLI and the page


def test_cli_import_orders(app, runner, mugs, tmp_path):
    path = tmp_path / "orders.csv"
    path.write_bytes(csv_bytes("etsy,C-1,ann@example.com,Ann,,,,,MUG,1,,EUR,no",
                               "etsy,C-2,bob@example.com,Bob,,,,,NOPE,1,,EUR,no"))
    result = runner.invoke(args=["oms", "import-orders", str(path)])
    assert result.exit_code == 1
    assert "created\tetsy C-1" in result.output and "row 3\tOrder etsy C-2" in result.output
    result = runner.invoke(args=["oms", "import-orders", str(path)])
    assert "Orders created: 0, already imported: 1, with errors: 1" in result.output
    products = tmp_path / "products.csv"
    products.write_text(PRODUCTS + "MUG,,,,20,\n")
    result = runner.invoke(args=["oms", "import-products", str(products)])
    assert result.exit_code == 0, result.output
    assert "updated: 1," in result.output


def test_the_upload_page_shows_the_report_escaped(app, staff_client, mugs):
    from io import BytesIO

    data = csv_bytes("etsy,<b>X</b>,ann@example.com,Ann,,,,,MUG,1,,EUR,no",
                     "etsy,Y,bob@example.com,<script>x</script>,,,,,NOPE,1,,EUR,no")
    response = staff_client.post("/oms/admin/data/import/orders", data={"file": (BytesIO(data), "o.csv")},
                                 content_type="multipart/form-data")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Orders created: 1," in page and "etsy &lt;b&gt;X&lt;/b&gt;" in page and "<b>X</b>" not in page
    assert "NOPE" in page
    response = staff_client.post("/oms/admin/data/import/orders", data={}, content_type="multipart/form-data")
    assert response.status_code == 400 and "Choose a CSV file" in response.get_data(as_text=True)
    # Products are the owner's.
    response = staff_client.post("/oms/admin/data/import/products",
                                 data={"file": (BytesIO(b"sku,on_hand\nMUG,99\n"), "p.csv")},
                                 content_type="multipart/form-data")
    assert response.status_code == 403
    db.session.commit()
    assert db.session.scalar(select(Product.on_hand).where(Product.sku == "MUG")) == 10  # not 99
    assert orders_in_db() == 1


# ------------------------------------------------------------------ hypothesis on the parser

CELLS = st.one_of(st.sampled_from(["etsy", "shopify", "web", "MUG", "TEA", "1", "0", "-1", "1001", "2.5", "1e9",
                                   "ann@example.com", "yes", "no", "EUR", "USD", "NL", "", " ", "\"", "a\"b",
                                   "=1+1", "²", "9" * 30, "x" * 300]),
                  st.text(max_size=8))


@st.composite
def csv_files(draw):
    header = draw(st.one_of(st.just(HEADER.strip().split(",")),
                            st.lists(st.sampled_from(csv_import.ORDER_COLUMNS + ("lineitem_sku", "junk")),
                                     min_size=1, max_size=8)))
    delimiter = draw(st.sampled_from([",", ";", "\t"]))
    rows = draw(st.lists(st.lists(CELLS, min_size=0, max_size=len(header) + 1), max_size=6))
    text = "\n".join(delimiter.join(row) for row in [header, *rows])
    data = text.encode()
    if draw(st.booleans()):
        data = b"\xef\xbb\xbf" + data
    if draw(st.booleans()):
        data = draw(st.binary(max_size=40)) + data  # bytes that may not be UTF-8
    return data


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(data=csv_files())
def test_fuzzed_files_give_a_report_or_a_clear_refusal_and_nothing_partial(app, mugs, data):
    before = orders_in_db()
    try:
        report = csv_import.import_orders(data, actor=ACTOR)
    except ValidationError:
        assert orders_in_db() == before
        return
    assert orders_in_db() == before + len(report.created)
    for order_id in (order_id for _, order_id in report.created):
        order = db.session.get(Order, order_id)
        assert order.status in ("confirmed", "paid") and order.lines
    assert stock.ledger_mismatches() == [] and stock.stock_problems() == []


PRODUCT_CELLS = st.one_of(st.sampled_from(["MUG", "NEW", "", "1", "0", "-1", "1.50", "1,5", "9" * 13, "EUR", "usd",
                                           "x" * 250, "=1", "²", "\"", "standard"]), st.text(max_size=6))


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(rows=st.lists(st.lists(PRODUCT_CELLS, min_size=1, max_size=len(csv_import.PRODUCT_COLUMNS)), max_size=5))
def test_fuzzed_product_files_keep_the_ledger_whole(app, mugs, rows):
    data = "\n".join(",".join(row) for row in [list(csv_import.PRODUCT_COLUMNS), *rows]).encode()
    try:
        report = csv_import.import_products(data, actor=ACTOR)
    except ValidationError:
        return
    assert report.rows >= len(report.created) + len(report.updated) + len(report.unchanged)
    db.session.commit()
    assert stock.ledger_mismatches() == [] and stock.stock_problems() == []
    for product in db.session.scalars(select(Product)):
        assert 0 <= product.reserved <= product.on_hand
