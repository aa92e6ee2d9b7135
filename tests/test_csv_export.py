"""CSV exports (services/csv_export.py): Excel-friendly (BOM, formulas neutralised),
filtered like the orders list, streamed batch by batch, and the owner's full export
without password hashes or secrets."""
from __future__ import annotations

import csv
import io
import zipfile

import pytest
from sqlalchemy import event

from oms_core.db import db
from oms_core.models import StaffToken
from oms_core.services import csv_export, payments, staff

ADMIN = "/oms/admin"
NASTY_NAMES = ["=HYPERLINK(\"http://evil\",\"x\")", "+1+1", "-2+3", "@SUM(A1)", "Zoë Ünal"]


def rows_of(body: str) -> list[dict]:
    assert body.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(body[1:], newline="")))


def test_formula_like_cells_are_neutralised_and_text_is_utf8_with_bom(app, staff_client, make_product, place):
    product = make_product(sku="MUG", name="=cmd|' /C calc'!A0", on_hand=50)
    for name in NASTY_NAMES:
        place([(product.sku, 1)], name=name, confirm=True)
    response = staff_client.get(f"{ADMIN}/data/export/orders.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    raw = response.get_data()
    assert raw.startswith(b"\xef\xbb\xbf")
    names = [row["name"] for row in rows_of(raw.decode("utf-8"))]
    assert sorted(names) == sorted(["'=HYPERLINK(\"http://evil\",\"x\")", "'+1+1", "'-2+3", "'@SUM(A1)",
                                    "Zoë Ünal"])
    lines = rows_of(staff_client.get(f"{ADMIN}/data/export/lines.csv").get_data(as_text=True))
    assert {line["name"] for line in lines} == {"'=cmd|' /C calc'!A0"}
    assert {line["unit_price"] for line in lines} == {"12.50"}


def test_cell_rules():
    assert csv_export.cell(-3) == -3  # numbers are numbers, not formulas
    assert csv_export.cell("-3") == "'-3"
    # Names are stripped when typed, but other text (a payment's reference) may start so.
    assert csv_export.cell("\tTab") == "'\tTab" and csv_export.cell("\rx") == "'\rx"
    assert csv_export.cell("a=b") == "a=b"
    assert csv_export.cell(None) == "" and csv_export.cell(True) == "yes"
    assert csv_export.cell({"b": 1, "a": "=x"}) == '{"a": "=x", "b": 1}'
    assert csv_export.cell(["=x"]) == '["=x"]'
    assert str(csv_export.decimal_amount(1, "JPY")) == "1" and str(csv_export.decimal_amount(5, "EUR")) == "0.05"


def test_exports_take_the_orders_list_filters(app, staff_client, make_product, place):
    product = make_product(sku="MUG", on_hand=50)
    placed = place([(product.sku, 1)], email="ann@example.com")
    confirmed = place([(product.sku, 2)], email="bob@example.com", confirm=True)
    paid = place([(product.sku, 3)], email="bob@example.com", confirm=True)
    payments.record_payment(paid.id, gateway_id="bank_transfer", amount_minor=paid.total_minor, currency="EUR",
                            reference="=T-1", actor="test")

    def exported(kind, **args):
        body = staff_client.get(f"{ADMIN}/data/export/{kind}.csv", query_string=args).get_data(as_text=True)
        return rows_of(body)

    assert [row["order"] for row in exported("orders")] == [paid.number, confirmed.number, placed.number]
    assert [row["order"] for row in exported("orders", status="confirmed")] == [confirmed.number]
    assert [row["order"] for row in exported("orders", q="bob@")] == [paid.number, confirmed.number]
    assert [row["quantity"] for row in exported("lines", q="bob@", status="paid")] == ["3"]
    payment_rows = exported("payments", status="paid")
    assert [(row["order"], row["amount"], row["reference"]) for row in payment_rows] == [
        (paid.number, f"{paid.total_minor / 100:.2f}", "'=T-1")]
    assert exported("payments", status="confirmed") == []
    # An unknown status is no filter, like on the list; a bad kind is not found.
    assert len(exported("orders", status="nonsense")) == 3
    assert staff_client.get(f"{ADMIN}/data/export/secrets.csv").status_code == 404
    moves = exported("stock", q="MU")
    assert {row["reason"] for row in moves} == {"initial", "reservation"} and moves[0]["sku"] == "MUG"
    # The list links to the exports with its filters.
    page = staff_client.get(f"{ADMIN}/orders", query_string={"status": "paid", "q": "bob@"}).get_data(as_text=True)
    assert "/data/export/orders.csv?status=paid&amp;q=bob@" in page


def test_a_large_export_is_streamed_one_batch_at_a_time(app, staff_client, make_product, place, monkeypatch):
    product = make_product(sku="MUG", on_hand=100)
    for n in range(25):
        place([(product.sku, 1)], email=f"c{n}@example.com")
    monkeypatch.setattr(csv_export, "BATCH", 10)

    selects = []

    def count(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("SELECT") and "oms_order" in statement:
            selects.append(statement)
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        chunks = csv_export.export_orders()
        header = next(chunks)
        assert header.startswith("\ufeff") and selects == []  # nothing read before the first bytes went out
        first = next(chunks)
        assert first.count("\r\n") == 10 and len(selects) == 1  # one batch read, not the whole table
        rest = list(chunks)
        assert [chunk.count("\r\n") for chunk in rest] == [10, 5] and len(selects) == 3
    finally:
        event.remove(db.engine, "before_cursor_execute", count)

    response = staff_client.get(f"{ADMIN}/data/export/orders.csv")
    assert response.is_streamed
    assert len(rows_of(response.get_data(as_text=True))) == 25


def test_the_full_export_is_the_owners_and_holds_no_secrets(app, owner_client, staff_user, owner_user, place):
    from conftest import LoggedInClient
    from test_sessions import browser

    place(confirm=True, name="=Owner's customer")
    staff.invite("new@example.com", "staff", actor="test")
    staff_client = LoggedInClient(browser(app), "staff@example.com", "staff-password")
    assert staff_client.get(f"{ADMIN}/data/export/everything.zip").status_code == 403

    response = owner_client.get(f"{ADMIN}/data/export/everything.zip")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.get_data()))
    names = set(archive.namelist())
    assert {"order.csv", "order_line.csv", "customer.csv", "product.csv", "stock_move.csv", "payment.csv",
            "staff_user.csv", "staff_token.csv", "timeline_event.csv", "document_counter.csv"} <= names
    assert "alembic_version.csv" not in names
    everything = b"".join(archive.read(name) for name in names)
    db.session.commit()
    assert owner_user.password_hash.encode() not in everything
    token = db.session.query(StaffToken).one()
    assert token.key.encode() not in everything
    users = rows_of(archive.read("staff_user.csv").decode())
    assert [user["email"] for user in users] == ["staff@example.com", "owner@example.com"] or \
        {user["email"] for user in users} == {"owner@example.com", "staff@example.com"}
    assert "password_hash" not in users[0]
    orders = rows_of(archive.read("order.csv").decode())
    assert orders[0]["customer_name"] == "'=Owner's customer"


@pytest.mark.parametrize("url", ["/data/export/orders.csv", "/data/export/everything.zip", "/data"])
def test_exports_need_a_log_in(app, client, url):
    response = client.get(ADMIN + url)
    assert response.status_code == 302 and "/login" in response.headers["Location"]
