"""Fuzzing every endpoint with hypothesis: no server error, and a refused request
changes nothing.

The walk reads the app's url_map, so an endpoint added later is fuzzed too. Which
form fields and query parameters an endpoint reads is learnt by watching it (a
request class whose argument and form dicts note every key looked up), on top of
a valid example per known endpoint so the fuzzing gets past the first check. Each
example replaces some of those values (and the ids in the URL) with nasty ones:
huge, negative, non-ASCII digits, floats, exponents, dates with offsets, NUL...

After every request: no 5xx; the stock ledger invariant holds; and when the
request was refused (4xx, or a flashed error for a plain post) or was a GET, the
database is exactly as before (row counts and the columns actions change).
"""
from __future__ import annotations

import re
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import pytest
from flask import Request, has_request_context, request
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from werkzeug.datastructures import ImmutableMultiDict

from oms_core.db import db
from oms_core import tracking_codes
from oms_core.models import (Customer, Order, OutboxMessage, Payment, Product, Refund, ReturnLine, ReturnRequest,
                             Shipment, ShipmentEvent, StaffUser, StockMove, TimelineEvent, WebhookDelivery,
                             WebhookEndpoint)
from oms_core.services import orders as order_service
from oms_core.services import catalog, outbound_webhooks, payments, returns, shipments, staff, stock
from oms_core.testing.fakes import FakeCardGateway, plugin_registering

# Random examples per endpoint and method, after the sweep of CRITICAL values.
EXAMPLES = 6
HUGE = str(2**63 - 1)
NASTY = [
    "", " ", "0", "-1", "+5", "1.5", "1e3", "1E+999999999999999999", "NaN", "inf", "-0",
    "²", "①", "٣", "１", "12.345", "0,5", "9" * 20, HUGE, str(2**63), str(2**31), "-" + HUGE,
    "9" * 4301, "#" + "9" * 30, "#²", "0001-01-01T00:00+05:00", "9999-12-31T23:59-05:00",
    "2024-02-30T10:00", "a\x00b", "\x00", "<script>alert(1)</script>", "%", "_", "'; DROP TABLE x; --",
    "x" * 5000, "ünïcødé", "\u202e", "\ud7ff", "on", "all", "bank_transfer", "manual", "receipt",
]
# Every field read and every id in a URL gets each of these once (hypothesis then
# mixes everything): one class of the inputs that used to answer 500 each.
CRITICAL = ["²", "٣", "9" * 4301, "9" * 20, "0001-01-01T00:00+05:00", "1E+999999999999999999", "a\x00b"]
PATH_NASTY = ["0", HUGE, "9" * 20, "9" * 4301, "²", "٣", "１", "-1", "1.5", "x", "\x00", "a/../b"]


def offset_times():
    return st.builds(
        lambda when, minutes: when.replace(tzinfo=timezone(timedelta(minutes=minutes))).isoformat(),
        st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
        st.integers(min_value=-23 * 60, max_value=23 * 60))


VALUES = st.one_of(
    st.sampled_from(NASTY), st.text(max_size=12), st.integers().map(str),
    st.floats().map(repr), st.decimals(allow_nan=True).map(str), offset_times(),
)

# ------------------------------------------------------------------ which keys a view reads

READ: dict[str, set[str]] = {}


def _note(key) -> None:
    if has_request_context() and request.endpoint and isinstance(key, str):
        READ.setdefault(request.endpoint, set()).add(key)


class RecordingDict(ImmutableMultiDict):
    """The query string / form as views see it, noting each key they look up."""

    def __getitem__(self, key):
        _note(key)
        return super().__getitem__(key)

    def get(self, key, default=None, type=None):
        _note(key)
        return super().get(key, default, type)

    def getlist(self, key, type=None):
        _note(key)
        return super().getlist(key, type)

    def __contains__(self, key):
        _note(key)
        return super().__contains__(key)


class RecordingRequest(Request):
    parameter_storage_class = RecordingDict


# ------------------------------------------------------------------ the database before and after

WATCHED = {
    Product: (Product.on_hand, Product.reserved, Product.price_minor, Product.low_stock_threshold,
              Product.lead_time_days, Product.service_level, Product.active),
    Order: (Order.status, Order.paid_minor, Order.refunded_minor, Order.payment_status, Order.tracking_code,
            Order.customer_name),
    Customer: (Customer.name, Customer.phone),
    Shipment: (Shipment.status, Shipment.tracking_number),
    OutboxMessage: (OutboxMessage.status, OutboxMessage.attempts, OutboxMessage.max_attempts),
    StaffUser: (StaffUser.session_version, StaffUser.active, StaffUser.password_hash),
    WebhookEndpoint: (WebhookEndpoint.url, WebhookEndpoint.events, WebhookEndpoint.active,
                      WebhookEndpoint.description),
    WebhookDelivery: (WebhookDelivery.status, WebhookDelivery.outbox_key),
    ReturnRequest: (ReturnRequest.state, ReturnRequest.staff_note, ReturnRequest.exchange_order_id),
}
COUNTED = (StockMove, TimelineEvent, Payment, Refund, ShipmentEvent, WebhookEndpoint, ReturnRequest, ReturnLine)
# GETs that write: pay now starts (or reuses) a payment at the gateway, a Payment row.
GET_WRITES = {"oms_public.pay"}


def snapshot() -> tuple:
    db.session.expire_all()
    counts = db.session.execute(select(*(select(func.count()).select_from(model).scalar_subquery()
                                         for model in COUNTED))).one()
    rows = tuple(tuple(db.session.execute(select(model.id, *columns).order_by(model.id)).all())
                 for model, columns in WATCHED.items())
    db.session.commit()
    return counts, rows


def flashed_error(client) -> bool:
    with client.session_transaction() as session:
        flashes = session.pop("_flashes", [])
    return any(category == "error" for category, _ in flashes)


# ------------------------------------------------------------------ the walk


def oms_rules(app, prefix=("oms_",), skip=()):
    rules = [rule for rule in app.url_map.iter_rules()
             if rule.endpoint.startswith(prefix) and rule.endpoint not in skip]
    return sorted(rules, key=lambda rule: rule.endpoint)


def url_of(rule, values: dict) -> str:
    def fill(match):
        name = match.group(1)
        return quote(str(values[name]), safe="/" if "path:" in match.group(0) else "")
    return re.sub(r"<(?:[^:<>]+:)?([a-z_]+)>", fill, rule.rule)


def fuzz_endpoint(client, rule, method, *, seeds, ids, post, examples=EXAMPLES):
    """Send `examples` fuzzed requests to one rule and method, checking each."""
    valid = seeds.get(rule.endpoint, {})

    def send(path_values, fields, htmx):
        url = url_of(rule, path_values)
        headers = {"HX-Request": "true"} if htmx else {}
        if method == "GET":
            return client.get(url, query_string=fields, headers=headers)
        return post(url, data=fields, headers=headers)

    # Learn the keys: once with nothing, once with the valid example.
    plain_ids = {name: ids.get(name, ["1"])[0] for name in rule.arguments}
    for fields in ({}, valid):
        assert send(plain_ids, dict(fields), False).status_code < 500
        flashed_error(client)  # not to be taken for the next request's
    keys = sorted(set(valid) | READ.get(rule.endpoint, set()) - {"csrf_token"})

    # Nothing but the requests writes meanwhile: each one's "after" is the next one's "before".
    state = [snapshot()]

    def check(path_values, fields, htmx=False):
        response = send(path_values, fields, htmx)
        status = response.status_code
        assert status < 500, (rule.endpoint, status, path_values, fields)
        refused = status >= 400 or (not htmx and flashed_error(client))
        before, state[0] = state[0], snapshot()
        if (method == "GET" and rule.endpoint not in GET_WRITES) or refused:
            assert state[0] == before, ("a refused request changed the database", rule.endpoint, fields)
        elif state[0] != before:
            assert stock.ledger_mismatches() == [] and stock.stock_problems() == []

    for key in keys:
        for value in CRITICAL:
            check(plain_ids, dict(valid, **{key: value}))
    for name in rule.arguments:
        for value in PATH_NASTY:
            check(dict(plain_ids, **{name: value}), dict(valid))

    @settings(max_examples=examples, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def one(data):
        path_values = {name: data.draw(st.one_of(st.sampled_from(ids.get(name, ["1"])),
                                                 st.sampled_from(PATH_NASTY)), label=name)
                       for name in rule.arguments}
        fields = dict(valid)
        for key in data.draw(st.lists(st.sampled_from(keys), unique=True), label="fuzzed") if keys else []:
            fields[key] = data.draw(VALUES, label=key)
        check(path_values, fields, htmx=method == "GET" and data.draw(st.booleans(), label="htmx"))

    one()


# ------------------------------------------------------------------ the OMS, logged in as owner


@pytest.fixture
def app_config():
    # The limits are tested elsewhere; here they would only stop the walk early.
    return {"OMS_LOGIN_RATE_LIMIT": "100000 per minute", "OMS_TRACKING_RATE_LIMIT": "100000 per minute",
            # A card gateway, so pay now, refunds through a gateway and voids are walked too.
            "extra_plugins": [plugin_registering(FakeCardGateway())],
            "OMS_PLUGINS": {"fakecard": {"webhook_secret": "s"}}}


@pytest.fixture
def world(app, owner_user, make_product, place):
    """Something for every id in a URL to point at: products, orders in each state
    that has actions, a shipment, an outbox message."""
    # Every change below also queues an outbound webhook delivery.
    endpoint = outbound_webhooks.create_endpoint("https://erp.example.com/oms", list(outbound_webhooks.EVENTS))
    mug = make_product(sku="FUZZ-1", on_hand=50)
    tea = make_product(sku="FUZZ-2", on_hand=5, price_minor=399)
    placed = place([(mug.sku, 1)])
    confirmed = place([(mug.sku, 2)], confirm=True)
    paid = place([(tea.sku, 1)], confirm=True)
    payments.record_payment(paid.id, gateway_id="bank_transfer", amount_minor=paid.total_minor,
                            currency="EUR", reference="T", actor="test")
    by_card = place([(mug.sku, 1)], confirm=True, payment_method="fakecard")
    shipped = place([(tea.sku, 1)], confirm=True, payment_method="cash_on_delivery")
    shipment = shipments.create_shipment(shipped.id, carrier_id="manual", service="DHL",
                                         tracking_number="JD1", actor="test")
    order_service.add_note(placed.id, "hello", actor="test")
    # A delivered order with a return waiting, so the return pages and actions are walked.
    returned = place([(mug.sku, 2)], confirm=True, payment_method="cash_on_delivery")
    parcel = shipments.create_shipment(returned.id, carrier_id="manual", service="DHL", tracking_number="JD2",
                                       actor="test")
    shipments.add_staff_update(returned.id, parcel.id, status="delivered",
                               occurred_at=datetime.now(timezone.utc), actor="test")
    waiting = returns.request_return(returned.id, lines={returned.lines[0].id: 1}, reason_code="damaged",
                                     actor="test")
    message = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).first()
    delivery = db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)).first()
    edit_seed = {"version": "0", f"qty-{confirmed.lines[0].id}": "3", "add_sku": "FUZZ-2", "add_quantity": "1",
                 "ship_name": "A", "ship_line1": "1 St", "ship_city": "C", "ship_country": "NL", "phone": "1",
                 "shipping": "1.00", "reason": "r", "refund_reference": "x"}
    owner = db.session.scalars(select(StaffUser).where(StaffUser.role == "owner")).first()
    invitation = staff.invite("invited@example.com", "staff", actor="test")
    invitation_link = staff.link_token(invitation)
    return {
        "ids": {"order_id": [placed.id, confirmed.id, paid.id, shipped.id, by_card.id, returned.id],
                "product_id": [mug.id, tea.id], "return_id": [waiting.id],
                "message_id": [message.id], "shipment_id": [shipment.id], "sku": ["FUZZ-1", "NOPE"],
                "filename": ["oms.css", "htmx.min.js", "../secret"], "gateway_id": ["bank_transfer", "nope"],
                "carrier_id": ["manual", "nope"], "endpoint_id": [endpoint.id], "delivery_id": [delivery.id],
                "action": ["confirm", "ship", "slips", "export", "nope"], "kind": ["orders", "stock", "nope"],
                "user_id": [owner.id], "token_id": [invitation.id], "link": [invitation_link, "nope"]},
        "seeds": {
            "oms_admin.login": {"email": "nobody@example.com", "password": "not-the-password"},
            "oms_admin.orders": {"status": "confirmed", "q": "#1", "before": "3"},
            "oms_admin.products": {"q": "FUZZ", "after": "FUZZ-1"},
            "oms_admin.product_adjust": {"delta": "1", "reason": "receipt", "note": "n", "view": "detail"},
            "oms_admin.product_create": {"sku": "NEW-1", "name": "New", "price": "1.00", "currency": "EUR",
                                         "on_hand": "1", "low_stock_threshold": "1", "description": "d"},
            "oms_admin.product_replenishment_settings": {"lead_time_days": "7", "service_level": "95"},
            "oms_admin.new_order": {"email": "new@example.com", "name": "New", "phone": "1", "line1": "1 St",
                                    "line2": "", "postal_code": "1", "city": "C", "country": "NL",
                                    "channel": "phone", "payment_method": "bank_transfer", "sku": "FUZZ-1",
                                    "quantity": "1", "shipping": "1.00", "note": "n", "confirm": "1"},
            "oms_admin.order_payment": {"gateway_id": "bank_transfer", "amount": "1.00", "reference": "r"},
            "oms_admin.order_shipment": {"carrier_id": "manual", "service": "", "tracking_number": "T2"},
            "oms_admin.order_tracking": {"shipment_id": str(shipment.id), "status": "in_transit",
                                         "occurred_at": "2024-01-01T10:00", "message": "m", "location": "l"},
            "oms_admin.order_cancel": {"reason": "r", "refund_reference": "x"},
            "oms_admin.order_refund": {"amount": "1.00", "reason": "r", "reference": "x"},
            "oms_admin.order_note": {"text": "t"},
            "oms_admin.order_edit": edit_seed, "oms_admin.order_edit_preview": edit_seed,
            "oms_admin.returns_list": {"state": "requested", "after": "1"},
            "oms_admin.return_approve": {"note": "n"},
            "oms_admin.return_reject": {"reason": "r"},
            "oms_admin.return_note": {"note": "n"},
            "oms_admin.return_refund": {"reference": "x"},
            "oms_documents.request_return": {f"qty-{returned.lines[0].id}": "1", "reason": "damaged",
                                             "text": "t", "outcome": "refund"},
            "oms_admin.replenishment_page": {"show": "all"},
            "oms_admin.carrier_services": {"carrier_id": "manual"},
            "oms_admin.staff_invite": {"email": "new-staff@example.com", "role": "staff"},
            "oms_admin.staff_role": {"role": "staff"},
            "oms_admin.staff_active": {"active": "1"},
            "oms_admin.forgot_password": {"email": "owner@example.com"},
            "oms_admin.accept_invite": {"name": "Ivy", "password": "ivys-password"},
            "oms_admin.reset_password": {"password": "a-new-password"},
            "oms_admin.export_csv": {"status": "confirmed", "q": "ann@"},
            "oms_public.track": {"code": "AAAA-AAAA-AAAA-AA"},
            "oms_admin.orders_bulk": {"order_id": str(placed.id)},
            "oms_admin.webhook_endpoint_create": {"url": "https://erp.example.com/b", "events": "order.paid",
                                                  "description": "d"},
            "oms_admin.webhook_endpoint_update": {"url": "https://erp.example.com/c", "events": "order.placed",
                                                  "description": "d", "active": "1"},
            "oms_admin.webhook_endpoint_active": {"active": "1"},
            "oms_public.pay": {"code": tracking_codes.display(by_card.tracking_code)},
        },
    }


@contextmanager
def recording(app):
    app.request_class = RecordingRequest
    try:
        yield
    finally:
        app.request_class = Request


def test_every_oms_endpoint_survives_fuzzing_and_refusals_change_nothing(app, owner_client, world):
    # Log-out would end the walk's own session (it is tested in test_sessions).
    rules = oms_rules(app, skip={"oms_admin.logout"})
    assert len(rules) >= 25
    sent = 0
    with recording(app):
        for rule in rules:
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                fuzz_endpoint(owner_client.client, rule, method, seeds=world["seeds"], ids=world["ids"],
                              post=owner_client.post)
                sent += 1
    assert sent >= 25
    # The walk really reached the views: it learnt the fields of the big forms.
    assert {"email", "sku", "quantity", "shipping", "channel"} <= READ["oms_admin.new_order"]
    assert {"delta", "reason", "note"} <= READ["oms_admin.product_adjust"]
    assert "before" in READ["oms_admin.orders"]
    # And it is still logged in: nothing on the way ended its session.
    assert owner_client.get("/oms/admin/orders").status_code == 200


# ------------------------------------------------------------------ the demo shop, as a shopper


def test_every_demo_shop_page_survives_fuzzing(shop):
    from conftest import CSRF_META

    catalog.create_product(sku="TEA-1", name="Tea", price_minor=500, currency="EUR", on_hand=30, actor="test")
    catalog.create_product(sku="TEA-2", name="Green tea", price_minor=700, currency="EUR", on_hand=2,
                           actor="test")
    client = shop.test_client()
    token = CSRF_META.search(client.get("/").get_data(as_text=True)).group(1)

    def post(url, data=None, **kw):
        return client.post(url, data={"csrf_token": token, **(data or {})}, **kw)

    address = {"name": "Ann", "email": "ann@example.com", "line1": "1 St", "postal_code": "1", "city": "C",
               "country": "NL", "payment_method": "bank_transfer"}
    seeds = {"shop.add_to_cart": {"sku": "TEA-1", "quantity": "1"},
             "shop.update_cart": {"sku": "TEA-1", "quantity": "2"},
             "shop.remove_from_cart": {"sku": "TEA-2"}, "shop.checkout": address}
    rules = oms_rules(shop, prefix=("shop.",))
    assert len(rules) >= 6
    with recording(shop):
        for rule in rules:
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                post("/cart/add", {"sku": "TEA-1"})  # keep something in the cart
                fuzz_endpoint(client, rule, method, seeds=seeds, ids={}, post=post, examples=EXAMPLES // 2)
