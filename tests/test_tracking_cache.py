"""The tracking page's cache in Redis (oms_core/tracking_cache.py): a page is served
from it only while its order has not changed, whoever changed it (another process,
a Core statement, a carrier update), with the lookup counted in the same round trip;
without Redis the page is looked up and counted by flask-limiter as before."""
from __future__ import annotations

import re
import threading
from datetime import datetime, timezone

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event

from oms_core import tracking_codes
from oms_core.db import db
from oms_core.protocols import TrackingUpdate
from oms_core.services import order_edits, orders, payments, shipments
from oms_core.testing import dispose, make_app
from oms_web.storefront import place_checkout_order
from test_rate_limit_storage import REDIS_URL, redis_prefix  # noqa: F401  (fixture)

CUSTOMER = {"email": "cache.reader@example.org", "name": "Cache Reader",
            "address": {"line1": "1 Cache Lane", "postal_code": "3511 AB", "city": "Utrecht",
                        "country": "NL"}}
STAFF = "staff:olive.owner@example.com"
STATUS = re.compile(r'data-status="([a-z_]+)"')


@pytest.fixture
def app_config(request, redis_prefix):  # noqa: F811
    """Redis for rate limits and the cache; a test may add to it (indirect parametrize)."""
    return {"OMS_RATELIMIT_STORAGE_URI": REDIS_URL, "OMS_RATELIMIT_KEY_PREFIX": redis_prefix,
            "OMS_TRACKING_RATE_LIMIT": "1000 per minute", **getattr(request, "param", {})}


@pytest.fixture
def order(app, make_product):
    product = make_product(on_hand=20, name="Cached teapot")
    placed = place_checkout_order(lines=[(product.sku, 2)], payment_method="bank_transfer", **CUSTOMER)
    payments.record_payment(placed.id, gateway_id="bank_transfer", amount_minor=placed.total_minor,
                            currency="EUR", reference="BANK-CACHE-1", actor=STAFF)
    return orders.get_order(placed.id)


def _queries():
    statements = []

    def before(_conn, _cursor, statement, *_args):
        statements.append(statement)
    event.listen(db.engine, "before_cursor_execute", before)
    return statements, lambda: event.remove(db.engine, "before_cursor_execute", before)


def _page(client, code, **query) -> str:
    response = client.get("/track", query_string={"code": tracking_codes.display(code), **query})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _keys(prefix: str) -> list[str]:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        return sorted(key.decode() for key in client.scan_iter(f"{prefix}:track:*"))
    finally:
        client.close()


def _served_from_cache(client, code, **query) -> tuple[str, bool]:
    db.session.remove()
    statements, stop = _queries()
    try:
        page = _page(client, code, **query)
    finally:
        stop()
    return page, not statements


def test_the_second_lookup_stores_the_page_and_the_third_is_served_without_the_database(
        client, order, redis_prefix):  # noqa: F811
    first, cached = _served_from_cache(client, order.tracking_code)
    assert not cached and f"Order {order.number}" in first
    second, cached = _served_from_cache(client, order.tracking_code)
    assert not cached and second == first
    third, cached = _served_from_cache(client, order.tracking_code)
    assert cached and third == first
    # A page that differs (here: the form keeps a chosen language) is cached apart.
    chosen, cached = _served_from_cache(client, order.tracking_code, lang="en")
    assert not cached and 'name="lang"' in chosen and 'name="lang"' not in first
    assert any(":page:" in key for key in _keys(redis_prefix))


def _change_status(order):
    orders.cancel_order(order.id, actor=STAFF, reason="customer asked", refund_reference="BANK-BACK-1")
    return "cancelled"


def _add_shipment(order):
    shipments.create_shipment(order.id, carrier_id="manual", service="DHL", tracking_number="JD0146CACHE",
                              actor=STAFF)
    return "JD0146CACHE"


def _carrier_update(order):
    shipment = shipments.create_shipment(order.id, carrier_id="manual", service="DHL",
                                         tracking_number="JD0146CARRIER", actor=STAFF)
    _warm(order)
    shipments.add_tracking_update(shipment.id, TrackingUpdate(
        "JD0146CARRIER", "in_transit", datetime.now(timezone.utc), raw_code="TRN",
        location="Sorting centre Nieuwegein"), source="carrier:manual")
    return "Sorting centre Nieuwegein"


def _edit_lines(order):
    current = orders.get_order(order.id)
    order_edits.edit_order(order.id, order_edits.OrderEdit(
        version=current.version, quantities={current.lines[0].id: 5}), actor=STAFF)
    return '<td class="num">5</td>'


def _warm(order):
    from flask import current_app
    client = current_app.test_client()
    for _ in range(3):
        _page(client, order.tracking_code)


@pytest.mark.parametrize("change", [_change_status, _add_shipment, _carrier_update, _edit_lines],
                         ids=["status", "shipment", "carrier-event", "edited-lines"])
def test_every_change_the_page_shows_replaces_the_cached_page(client, order, change):
    _warm(order)
    assert _served_from_cache(client, order.tracking_code)[1]
    shown = change(order)
    page, cached = _served_from_cache(client, order.tracking_code)
    assert not cached and shown in page


def test_a_change_made_by_another_process_replaces_the_page(app, client, order, database_url, app_config):
    _warm(order)
    # A second app on the same database and Redis, as a second worker or the outbox worker.
    other = make_app(database_url, upgrade=False, **app_config)
    try:
        with other.app_context():
            orders.cancel_order(order.id, actor=STAFF, reason="changed elsewhere",
                                refund_reference="BANK-BACK-2")
            db.session.remove()
    finally:
        dispose(other)
    page, cached = _served_from_cache(client, order.tracking_code)
    assert not cached and 'data-status="cancelled"' in page


def test_a_rolled_back_change_keeps_the_cached_page(client, order):
    _warm(order)
    with pytest.raises(RuntimeError):
        from oms_core.db import write_transaction
        with write_transaction():
            orders.add_note(order.id, "undone", actor=STAFF)
            raise RuntimeError("undo")
    assert _served_from_cache(client, order.tracking_code)[1]


def test_a_lookup_racing_changes_never_shows_a_state_older_than_the_last_commit_before_it(
        app, client, order, database_url, app_config):
    """Real threads: a writer adds public carrier events one by one while a reader
    looks up; every page shows at least the events committed before its request."""
    # Plain values: the main thread's ORM objects must not be loaded from the writer's.
    shipment_id = shipments.create_shipment(order.id, carrier_id="manual", service="DHL",
                                            tracking_number="JD0146RACE", actor=STAFF).id
    code = orders.get_order(order.id).tracking_code
    committed = [0]
    errors = []
    rounds = 25

    def write():
        try:
            with app.app_context():
                for step in range(1, rounds + 1):
                    shipments.add_tracking_update(shipment_id, TrackingUpdate(
                        "JD0146RACE", "in_transit", datetime.now(timezone.utc), raw_code=f"S{step}",
                        location=f"Hub {step:03d}"), source="carrier:manual")
                    committed[0] = step
                db.session.remove()
        except Exception as exc:  # reported by the main thread
            errors.append(exc)

    writer = threading.Thread(target=write)
    writer.start()
    seen = []
    while writer.is_alive() or len(seen) < 3:
        before = committed[0]
        page = _page(client, code)
        shown = max((int(n) for n in re.findall(r"Hub (\d{3})", page)), default=0)
        assert shown >= before, f"page shows step {shown} after step {before} was committed"
        seen.append(shown)
    writer.join()
    assert not errors
    final = _page(client, code)  # after the last commit: the last state
    assert f"Hub {rounds:03d}" in final


@pytest.mark.parametrize("app_config", [{"OMS_TRACKING_RATE_LIMIT": "3 per minute"}], indirect=True)
def test_lookups_are_counted_in_the_same_round_trip_and_limited(client, order, redis_prefix):  # noqa: F811
    assert client.get("/track", query_string={"code": tracking_codes.generate()}).status_code == 200
    assert client.get("/track", query_string={"code": "mistyped!"}).status_code == 200
    assert client.get("/track", query_string={"code": order.tracking_code}).status_code == 200
    assert any(":limit:3/60:" in key for key in _keys(redis_prefix))
    response = client.get("/track", query_string={"code": order.tracking_code})
    assert response.status_code == 429
    assert "Too many lookups" in response.get_data(as_text=True)
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert response.headers["Cache-Control"] == "no-store"
    assert client.get("/track").status_code == 200  # the empty form is not a lookup


@pytest.mark.parametrize("app_config", [{"OMS_RATELIMIT_STORAGE_URI": "redis://127.0.0.1:1/0",
                                         "OMS_TRACKING_RATE_LIMIT": "2 per minute"}], indirect=True)
def test_without_redis_pages_are_looked_up_and_flask_limiter_counts_in_memory(client, order, caplog):
    assert f"Order {order.number}" in _page(client, order.tracking_code)
    assert f"Order {order.number}" in _page(client, order.tracking_code)
    assert client.get("/track", query_string={"code": order.tracking_code}).status_code == 429
    assert "Could not count the lookup or read the tracking page cache" in caplog.text


@pytest.mark.parametrize("app_config", [{"OMS_TRACKING_CACHE_SECONDS": 0}], indirect=True)
def test_the_cache_can_be_turned_off(client, order, redis_prefix):  # noqa: F811
    for _ in range(3):
        _, cached = _served_from_cache(client, order.tracking_code)
        assert not cached
    assert not any(":page:" in key or ":code:" in key for key in _keys(redis_prefix))


@pytest.mark.parametrize("seconds", [-1, 86_401, True, "60"])
def test_a_bad_cache_setting_is_refused_at_start(database_url, seconds):
    with pytest.raises(ValueError, match="OMS_TRACKING_CACHE_SECONDS must be a whole number"):
        make_app(database_url, upgrade=False, OMS_RATELIMIT_STORAGE_URI=REDIS_URL,
                 OMS_TRACKING_CACHE_SECONDS=seconds)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(typed=st.one_of(st.text(max_size=60), st.just("")),
       lang=st.text(max_size=40), header=st.text(max_size=300))
def test_any_code_language_or_header_gets_a_page_through_the_cache(client, order, typed, lang, header):
    """The cached path (Redis on) answers whatever is typed: a page, or the input guard's
    400 for a NUL; never a server error, and the order's own page stays right."""
    safe_header = header.encode("latin-1", "ignore").decode("latin-1").replace("\r", "").replace("\n", "")
    response = client.get("/track", query_string={"code": typed, "lang": lang},
                          headers={"Accept-Language": safe_header})
    assert response.status_code in (200, 400)
    assert f"Order {order.number}" in _page(client, order.tracking_code)
