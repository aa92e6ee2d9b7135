"""Returns on the web, SQLite and PostgreSQL: the customer's returns page behind
the order's proof (signed link or code + email), its CSRF and rate limit, nothing
of another order reachable, a hypothesis walk of its form; the back-office list,
return page and its HTMX actions behind the login; the order page's returns."""
from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from oms_core import return_states as R
from oms_core.db import db
from oms_core.models import Product, ReturnLine, ReturnRequest, StockMove
from oms_core.protocols import CarrierResult, Label
from oms_core.services import customer_proof, returns
from test_returns import CARRIER, deliver_order

CUSTOMER = "customer"


@pytest.fixture
def app_config():
    from oms_core.testing.fakes import plugin_registering

    return {"extra_plugins": [plugin_registering(CARRIER)], "OMS_TRACKING_RATE_LIMIT": "1000 per minute"}


@pytest.fixture
def delivered(app, place, make_product):
    def make(quantity=2, *, email="ann@example.com", name="Ann Example", on_hand=10):
        product = make_product(on_hand=on_hand)
        order = place([(product.sku, quantity)], confirm=True, email=email, name=name)
        order_id, line_id = order.id, order.lines[0].id
        deliver_order(order_id)
        db.session.commit()
        return order_id, line_id
    return make


def returns_url(order_id, *parts) -> str:
    return "/".join([f"/track/documents/{order_id}/returns", *map(str, parts)])


def proven(client, order_id):
    """Prove the order with the signed link of its emails; returns the CSRF token."""
    response = client.get(returns_url(order_id, "link", customer_proof.link_token(order_id)))
    assert response.status_code == 303 and response.headers["Location"].endswith(returns_url(order_id))
    return csrf_of(client.get(returns_url(order_id)).get_data(as_text=True))


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def count_returns() -> int:
    db.session.commit()
    return db.session.scalar(select(func.count()).select_from(ReturnRequest))


# ------------------------------------------------------------------ customers


def test_the_customer_requests_follows_and_withdraws_a_return(client, delivered):
    order_id, line_id = delivered(2)
    token = proven(client, order_id)
    page = client.get(returns_url(order_id)).get_data(as_text=True)
    assert 'name="qty-%d"' % line_id in page and "Arrived damaged" in page
    response = client.post(returns_url(order_id), data={f"qty-{line_id}": "1", "reason": "damaged",
                                                        "text": "<script>x</script>", "outcome": "exchange",
                                                        "csrf_token": token})
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "Return #" in body and "requested" in body
    ret = returns.for_order(order_id)[0]
    assert (ret.state, ret.outcome, ret.reason_text, ret.created_by) == (
        R.REQUESTED, R.EXCHANGE, "<script>x</script>", CUSTOMER)
    assert "<script>x</script>" not in body
    # The documents page has the returns section.
    assert returns_url(order_id) in client.get(f"/track/documents/{order_id}").get_data(as_text=True)
    response = client.post(returns_url(order_id, ret.id, "cancel"), data={"csrf_token": token})
    assert response.status_code == 200 and "withdrawn" in response.get_data(as_text=True)
    assert returns.get(ret.id).state == R.CANCELLED


def test_bad_input_is_answered_and_changes_nothing(client, delivered):
    order_id, line_id = delivered(1)
    token = proven(client, order_id)
    qty = f"qty-{line_id}"
    for fields, message in [({qty: "2", "reason": "damaged"}, "At most 1"),
                            ({qty: "1", "reason": "nope"}, "Pick a reason"),
                            ({qty: "²", "reason": "damaged"}, "whole number"),
                            ({"reason": "damaged"}, "at least one item"),
                            ({qty: "1", "reason": "damaged", "outcome": "cash"}, "refund or an exchange"),
                            ({qty: "1", "reason": "damaged", "outcome": ""}, "refund or an exchange")]:
        data = {"outcome": "refund", **fields, "csrf_token": token}
        response = client.post(returns_url(order_id), data=data)
        body = response.get_data(as_text=True)
        assert response.status_code == 400 and message in body and 'role="alert"' in body, fields
    assert count_returns() == 0
    # Without its CSRF token the form is refused.
    response = client.post(returns_url(order_id), data={f"qty-{line_id}": "1", "reason": "damaged"})
    assert response.status_code == 400 and count_returns() == 0


def test_without_proof_nothing_and_no_other_order_reachable(app, client, delivered):
    mine, mine_line = delivered(1)
    theirs, their_line = delivered(1, email="bob@example.com", name="Bob Other")
    their_return = returns.request_return(theirs, lines={their_line: 1}, reason_code="damaged",
                                          actor=CUSTOMER)
    returns.store_label(their_return.id, CarrierResult(ok=True, label=Label(b"%PDF-secret", "PDF")))
    # Nobody proven: 404 everywhere, nothing personal.
    for url in (returns_url(mine), returns_url(theirs), returns_url(theirs, their_return.id, "label")):
        response = client.get(url)
        assert response.status_code == 404 and b"Bob" not in response.data and b"%PDF" not in response.data
    token = proven(client, mine)
    # Proven for my order: theirs stays out of reach, by its own URL or through mine.
    assert client.get(returns_url(theirs)).status_code == 404
    assert client.get(returns_url(theirs, their_return.id, "label")).status_code == 404
    assert client.get(returns_url(mine, their_return.id, "label")).status_code == 404
    response = client.post(returns_url(mine, their_return.id, "cancel"), data={"csrf_token": token})
    assert response.status_code == 404 and returns.get(their_return.id).state == R.REQUESTED
    response = client.post(returns_url(mine), data={f"qty-{their_line}": "1", "reason": "damaged",
                                                    "outcome": "refund", "csrf_token": token})
    assert response.status_code == 400 and "items of this order" in response.get_data(as_text=True)
    assert count_returns() == 1
    # A link of another order does not prove this one.
    assert client.get(returns_url(mine, "link", customer_proof.link_token(theirs))).status_code == 404
    assert client.get(returns_url(theirs, "link", "forged")).status_code == 400
    # Their label is theirs: after proving their order it downloads.
    stranger = app.test_client()
    proven(stranger, theirs)
    response = stranger.get(returns_url(theirs, their_return.id, "label"))
    assert response.status_code == 200 and response.data == b"%PDF-secret"
    assert "no-store" in response.headers["Cache-Control"]


def test_the_return_form_is_limited_like_the_documents_pages(database_url):
    from oms_core.testing import dispose, make_app
    from oms_core.testing.fakes import plugin_registering

    app = make_app(database_url, upgrade=False, extra_plugins=[plugin_registering(CARRIER)],
                   OMS_TRACKING_RATE_LIMIT="2 per minute")
    try:
        with app.app_context():
            from oms_core.services import catalog
            from oms_core.services.orders import NewOrder, place_order

            catalog.create_product(sku="LIM-1", name="L", price_minor=100, currency="EUR", on_hand=5,
                                   actor="test")
            order = place_order(NewOrder(email="c@example.com", name="C", lines=[("LIM-1", 1)],
                                         payment_method="bank_transfer"), actor="test", confirm=True)
            deliver_order(order.id)
            client = app.test_client()
            token = proven(client, order.id)
            fields = {"reason": "damaged", "outcome": "refund", "csrf_token": token}
            statuses = [client.post(returns_url(order.id), data=fields).status_code for _ in range(4)]
            assert statuses == [400, 400, 429, 429]
            db.session.remove()
    finally:
        dispose(app)


FIELD_VALUES = st.one_of(st.sampled_from(["", "0", "1", "2", "-1", "1.5", "²", "٣", "9" * 4301, "damaged",
                                          "other", "refund", "exchange", "a\x00b", "<b>x</b>", "x" * 2001]),
                         st.text(max_size=30))


def test_fuzzing_the_return_form_never_fails_and_refusals_change_nothing(client, delivered):
    order_id, line_id = delivered(3)
    token = proven(client, order_id)
    keys = [f"qty-{line_id}", "reason", "text", "outcome", f"qty-{line_id + 1}"]

    @settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(fields=st.dictionaries(st.sampled_from(keys), FIELD_VALUES))
    def one(fields):
        before = count_returns(), db.session.scalar(select(func.count()).select_from(ReturnLine))
        response = client.post(returns_url(order_id), data={**fields, "csrf_token": token})
        assert response.status_code in (200, 400), (response.status_code, fields)
        after = count_returns(), db.session.scalar(select(func.count()).select_from(ReturnLine))
        if response.status_code == 400:
            assert after == before, fields
        else:
            assert after[0] == before[0] + 1
            ret = returns.for_order(order_id)[-1]
            returns.cancel_by_customer(order_id, ret.id, actor="test")  # its units are free again
    one()


# ------------------------------------------------------------------ staff


def test_back_office_needs_login(client, delivered):
    order_id, line_id = delivered(1)
    ret = returns.request_return(order_id, lines={line_id: 1}, reason_code="damaged", actor=CUSTOMER)
    for url in ("/oms/admin/returns", f"/oms/admin/returns/{ret.id}", f"/oms/admin/returns/{ret.id}/label"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"]
    response = client.post(f"/oms/admin/returns/{ret.id}/approve")
    assert response.status_code in (302, 400) and returns.get(ret.id).state == R.REQUESTED


def test_staff_list_page_and_actions(staff_client, delivered):
    order_id, line_id = delivered(2)
    product_id = db.session.scalar(select(Product.id).order_by(Product.id.desc()).limit(1))
    older = returns.request_return(order_id, lines={line_id: 1}, reason_code="damaged",
                                   reason_text="<i>cracked</i>", actor=CUSTOMER)
    newer = returns.request_return(order_id, lines={line_id: 1}, reason_code="other", actor=CUSTOMER)
    listing = staff_client.get("/oms/admin/returns").get_data(as_text=True)
    assert listing.index(f"#{older.id}<") < listing.index(f"#{newer.id}<")  # oldest first
    assert "Returns" in staff_client.get("/oms/admin/orders").get_data(as_text=True)  # the menu entry
    assert f"#{older.id}<" not in staff_client.get("/oms/admin/returns?state=refunded").get_data(as_text=True)
    assert staff_client.get("/oms/admin/returns?state=nonsense&after=%C2%B2").status_code == 200
    page = staff_client.get(f"/oms/admin/returns/{older.id}").get_data(as_text=True)
    assert "&lt;i&gt;cracked&lt;/i&gt;" in page and 'id="approve-return"' in page
    order_page = staff_client.get(f"/oms/admin/orders/{order_id}").get_data(as_text=True)
    assert 'id="returns-panel"' in order_page and f"/oms/admin/returns/{older.id}" in order_page

    base = f"/oms/admin/returns/{older.id}"
    fragment = staff_client.post(f"{base}/reject", {"reason": ""}, htmx=True).get_data(as_text=True)
    assert "reason for rejecting" in fragment and returns.get(older.id).state == R.REQUESTED
    fragment = staff_client.post(f"{base}/approve", {"note": "ok"}, htmx=True).get_data(as_text=True)
    assert 'id="return-body"' in fragment and "approved" in fragment and 'id="receive-return"' in fragment
    line = returns.get(older.id).lines[0]
    received = {f"received-{line.id}": "1", f"condition-{line.id}": "restock"}
    fragment = staff_client.post(f"{base}/receive", received, htmx=True).get_data(as_text=True)
    assert "received" in fragment and 'id="refund-return"' in fragment
    assert db.session.scalar(select(StockMove.reason).where(StockMove.product_id == product_id)
                             .order_by(StockMove.id.desc()).limit(1)) == "return"
    fragment = staff_client.post(f"{base}/refund", {"reference": ""}, htmx=True).get_data(as_text=True)
    assert "refunded by hand" in fragment and returns.get(older.id).state == R.RECEIVED
    response = staff_client.post(f"{base}/refund", {"reference": "BACK-9"})
    assert response.status_code == 302 and returns.get(older.id).state == R.REFUNDED
    # A plain post of an illegal step: flashed, nothing changes.
    response = staff_client.post(f"{base}/approve", {})
    assert response.status_code == 302 and returns.get(older.id).state == R.REFUNDED
    assert staff_client.post(f"{base}/close", {}, htmx=True).status_code == 200
    assert returns.get(older.id).state == R.CLOSED
    assert staff_client.post("/oms/admin/returns/999999/approve", {}).status_code == 404


def test_staff_exchange_from_the_page(staff_client, delivered):
    order_id, line_id = delivered(1)
    ret = returns.request_return(order_id, lines={line_id: 1}, reason_code="damaged", outcome="exchange",
                                 actor=CUSTOMER)
    returns.approve(ret.id, actor="test")
    line = ret.lines[0].id
    staff_client.post(f"/oms/admin/returns/{ret.id}/receive",
                      {f"received-{line}": "1", f"condition-{line}": "write_off",
                       f"write_off_reason-{line}": "bent"},
                      htmx=True)
    fragment = staff_client.post(f"/oms/admin/returns/{ret.id}/exchange",
                                 {f"sku-{line}": "", f"qty-{line}": ""}, htmx=True).get_data(as_text=True)
    stored = returns.get(ret.id)
    assert stored.state == R.EXCHANGED and f"Replacement order {stored.exchange_order.number}" in fragment
    assert 'id="replacement-order"' in fragment
