"""The demo shop: checkout through the storefront API, the demo data generator and
the `oms-demo` start-up (without starting a server)."""
from __future__ import annotations

import hashlib
import os
import re
import stat
import threading
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
from conftest import CSRF_META
from oms_demo import demo_data
from oms_demo.app import create_app
from oms_demo.startup import (
    OWNER_EMAIL,
    OWNER_PASSWORD,
    OutboxWorker,
    prepare,
    print_mail_to,
)
from oms_web.storefront import place_checkout_order
from sqlalchemy import func, select

from oms_core import tracking_codes
from oms_core.db import db
from oms_core.models import (
    Order,
    OrderLine,
    Payment,
    Product,
    Shipment,
    StockMove,
    TimelineEvent,
)
from oms_core.services import catalog, notifications, orders, outbox, stock, users
from oms_core.testing import dispose, make_app

NOW = datetime(2025, 3, 14, 15, 30, tzinfo=timezone.utc)
ADDRESS = {"name": "Ann Example", "email": "ann@example.com", "line1": "1 Main St",
           "postal_code": "1000 AA", "city": "Utrecht", "country": "NL", "payment_method": "bank_transfer"}


# ------------------------------------------------------------------ the shop


@pytest.fixture
def browser(shop):
    """A test client that sends the page's CSRF token like the browser does."""
    client = shop.test_client()
    client.csrf = CSRF_META.search(client.get("/").get_data(as_text=True)).group(1)

    def post(url, data=None, **kw):
        return client.post(url, data={"csrf_token": client.csrf, **(data or {})}, **kw)

    client.post_form = post
    return client


def add_product(sku, on_hand, price_minor=1200, name=None):
    return catalog.create_product(sku=sku, name=name or f"Demo {sku}", price_minor=price_minor,
                                  currency="EUR", on_hand=on_hand, actor="test")


def test_hello_and_no_favicon(browser):
    response = browser.get("/hello")
    assert (response.status_code, response.get_data(as_text=True)) == (200, "hello")
    assert browser.get("/favicon.ico").status_code == 204


def test_product_list_has_live_badges_and_add_buttons(shop, browser):
    add_product("TEA-1", 10, name="Earl Grey")
    add_product("TEA-2", 0, name="Sencha")
    html = browser.get("/").get_data(as_text=True)
    assert "Earl Grey" in html and "12.00 EUR" in html
    assert 'data-sku="TEA-1"' in html and 'data-sku="TEA-2"' in html
    assert 'hx-get="/oms/storefront/stock/TEA-1"' in html and 'hx-trigger="every 30s"' in html
    assert ">In stock<" in html and ">Out of stock<" in html
    assert "/oms/static/htmx.min.js" in html


def test_cart_add_update_remove(shop, browser):
    add_product("TEA-1", 10)
    add_product("TEA-2", 10, price_minor=6000)
    assert browser.post_form("/cart/add", {"sku": "TEA-1"}).status_code == 302
    response = browser.post_form("/cart/add", {"sku": "TEA-1"}, headers={"HX-Request": "true"})
    fragment = response.get_data(as_text=True)
    assert "Added Demo TEA-1" in fragment
    assert 'id="cart-link" hx-swap-oob="true"' in fragment and '<span id="cart-count">2</span>' in fragment
    browser.post_form("/cart/add", {"sku": "TEA-2"})
    html = browser.get("/cart").get_data(as_text=True)
    assert 'data-cart-sku="TEA-1"' in html and "84.00 EUR" in html  # 2 x 12 + 60, free shipping
    browser.post_form("/cart/update", {"sku": "TEA-2", "quantity": "0"})
    html = browser.get("/cart").get_data(as_text=True)
    assert 'data-cart-sku="TEA-2"' not in html and "28.95 EUR" in html  # 24 + 4.95 shipping
    browser.post_form("/cart/remove", {"sku": "TEA-1"})
    assert "Your cart is empty" in browser.get("/cart").get_data(as_text=True)
    assert browser.post_form("/cart/add", {"sku": "NOPE"}).status_code == 404


def test_cart_refuses_more_than_is_available(shop, browser):
    add_product("TEA-1", 1)
    browser.post_form("/cart/add", {"sku": "TEA-1"})
    response = browser.post_form("/cart/add", {"sku": "TEA-1"}, headers={"HX-Request": "true"})
    assert "only 1 of Demo TEA-1 left" in response.get_data(as_text=True)
    assert 'data-cart-sku="TEA-1"' in browser.get("/cart").get_data(as_text=True)


def test_checkout_places_a_confirmed_order(shop, browser):
    product = add_product("TEA-1", 5)
    browser.post_form("/cart/add", {"sku": "TEA-1"})
    browser.post_form("/cart/add", {"sku": "TEA-1"})
    form = browser.get("/checkout").get_data(as_text=True)
    assert 'id="checkout-form"' in form
    for name in ("name", "email", "line1", "postal_code", "city", "country", "payment_method"):
        assert f'name="{name}"' in form and f'id="{name}"' in form
    assert 'value="cash_on_delivery"' in form

    response = browser.post_form("/checkout", ADDRESS)
    assert response.status_code == 302 and response.headers["Location"].endswith("/checkout/done")
    order = db.session.scalar(select(Order))
    assert order.status == "confirmed" and order.channel == "web"
    assert order.total_minor == 2400 + 495 and order.ship_city == "Utrecht"
    db.session.refresh(product)
    assert (product.on_hand, product.reserved) == (5, 2)

    html = browser.get("/checkout/done").get_data(as_text=True)
    code = re.search(r'<strong id="tracking-code">([^<]+)</strong>', html).group(1)
    assert code == tracking_codes.display(order.tracking_code)
    assert f'href="/track?code={code}"' in html and order.number in html
    assert "Your cart is empty" in browser.get("/cart").get_data(as_text=True)
    tracking = browser.get(f"/track?code={code}").get_data(as_text=True)
    assert "Order confirmed" in tracking


def test_out_of_stock_checkout_places_nothing(shop, browser):
    add_product("TEA-1", 2)
    add_product("TEA-2", 5)
    browser.post_form("/cart/add", {"sku": "TEA-2"})
    browser.post_form("/cart/add", {"sku": "TEA-1"})
    browser.post_form("/cart/add", {"sku": "TEA-1"})
    # Someone else buys one while this customer fills in the form.
    place_checkout_order(email="bob@example.com", name="Bob", lines=[("TEA-1", 1)],
                         payment_method="bank_transfer", address={"country": "NL"})
    response = browser.post_form("/checkout", ADDRESS)
    html = response.get_data(as_text=True)
    assert response.status_code == 409
    assert ("Sorry, Demo TEA-1 sold out while you were shopping: 1 left, 2 in your cart. "
            "Nothing was ordered") in html
    assert db.session.scalar(select(func.count()).select_from(Order)) == 1  # Bob's only
    assert db.session.scalar(select(Product.reserved).where(Product.sku == "TEA-2")) == 0
    assert 'data-cart-sku="TEA-1"' in browser.get("/cart").get_data(as_text=True)
    assert stock.ledger_mismatches() == []


def test_checkout_asks_for_missing_fields(shop, browser):
    add_product("TEA-1", 2)
    browser.post_form("/cart/add", {"sku": "TEA-1"})
    response = browser.post_form("/checkout", dict(ADDRESS, city="", email=""))
    assert response.status_code == 400 and "Please fill in: email, city." in response.get_data(as_text=True)
    response = browser.post_form("/checkout", dict(ADDRESS, email="not-an-email"))
    assert response.status_code == 400 and "is not an email address" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Order)) == 0


def test_checkout_form_needs_csrf(shop, browser):
    add_product("TEA-1", 2)
    browser.post_form("/cart/add", {"sku": "TEA-1"})
    assert browser.post("/checkout", data=ADDRESS).status_code == 400
    assert db.session.scalar(select(func.count()).select_from(Order)) == 0


def test_confirmation_needs_an_order_of_this_browser(shop, browser):
    assert browser.get("/checkout/done").status_code == 302


# ------------------------------------------------------------------ demo data


def fingerprint() -> str:
    """Everything the generator decides, tracking codes excepted (they come from secrets)."""
    digest = hashlib.sha256()
    for row in db.session.execute(select(Product.sku, Product.price_minor, Product.on_hand, Product.reserved)
                                  .order_by(Product.sku)):
        digest.update(repr(tuple(row)).encode())
    for row in db.session.execute(select(Order.id, Order.status, Order.created_at, Order.total_minor,
                                         Order.paid_minor, Order.ship_name, Order.tracking_code.is_(None))
                                  .order_by(Order.id)):
        digest.update(repr((row[0], row[1], row[2].isoformat(), *row[3:])).encode())
    for model in (OrderLine, TimelineEvent, Payment, Shipment, StockMove):
        digest.update(str(db.session.scalar(select(func.count()).select_from(model))).encode())
    digest.update(repr(db.session.execute(
        select(func.sum(StockMove.on_hand_delta), func.sum(StockMove.reserved_delta))).one()).encode())
    return digest.hexdigest()


def generate_in_fresh_sqlite(tmp_path, name, seed, **kw) -> str:
    app = make_app(f"sqlite:///{tmp_path / name}")
    try:
        with app.app_context():
            demo_data.generate(seed, now=NOW, **kw)
            return fingerprint()
    finally:
        dispose(app)


def test_demo_data_is_reproducible_from_the_seed(app, tmp_path):
    demo_data.generate(11, now=NOW, days=90)
    assert stock.ledger_mismatches() == []
    here = fingerprint()
    assert generate_in_fresh_sqlite(tmp_path, "same.sqlite3", 11, days=90) == here
    assert generate_in_fresh_sqlite(tmp_path, "other.sqlite3", 12, days=90) != here


def test_demo_data_refuses_a_shop_with_data(app, make_product):
    make_product()
    with pytest.raises(Exception, match="empty"):
        demo_data.generate(1, now=NOW, days=10)


def test_two_years_of_history_with_seasons_and_a_consistent_ledger(app):
    summary = demo_data.generate(demo_data.DEFAULT_SEED, now=NOW)
    assert stock.ledger_mismatches() == []
    assert 30 <= summary.products <= 60 and summary.orders > 2500
    placed = [created for (created,) in db.session.execute(select(Order.created_at))]
    assert len(placed) == summary.orders
    assert max(placed) <= NOW and (max(placed) - min(placed)) > timedelta(days=700)

    by_weekday = Counter(moment.weekday() for moment in placed)
    assert by_weekday[5] == min(by_weekday.values())  # Saturday is quietest
    assert max(by_weekday.values()) / by_weekday[5] > 1.4
    last_year = [m for m in placed if m > NOW - timedelta(days=365)]
    per_month = Counter(m.month for m in last_year)
    assert (per_month[11] + per_month[12]) > 1.5 * (per_month[6] + per_month[7])  # the winter season

    statuses = Counter(status for (status,) in db.session.execute(select(Order.status)))
    assert statuses == Counter(summary.statuses)
    assert statuses["closed"] > 0.8 * summary.orders
    for status in ("delivered", "shipped", "paid", "confirmed", "cancelled"):
        assert statuses[status] > 0, status

    # Every order has its timeline from "placed", in time order, and confirmed
    # orders their tracking codes.
    first_events = dict(db.session.execute(
        select(TimelineEvent.order_id, func.min(TimelineEvent.id)).group_by(TimelineEvent.order_id)).all())
    assert len(first_events) == summary.orders
    assert db.session.scalar(select(func.count()).select_from(TimelineEvent).where(
        TimelineEvent.id.in_(first_events.values()), TimelineEvent.to_status != "placed")) == 0
    assert db.session.scalar(select(func.count()).select_from(Order).where(
        Order.tracking_code.is_(None), Order.status != "placed",
        ~Order.id.in_(select(StockMove.order_id).where(StockMove.reason == "reservation")))) == 0
    # Stock still held is exactly what open orders hold.
    open_quantity = db.session.scalar(
        select(func.coalesce(func.sum(OrderLine.quantity), 0)).join(Order)
        .where(Order.status.in_(("confirmed", "paid"))))
    assert db.session.scalar(select(func.sum(Product.reserved))) == open_quantity
    # Paid orders are paid in full; shipped ones have their shipment.
    assert db.session.scalar(select(func.count()).select_from(Order).where(
        Order.status.in_(("paid", "closed")), Order.paid_minor != Order.total_minor)) == 0
    assert db.session.scalar(select(func.count()).select_from(Shipment)) >= \
        statuses["shipped"] + statuses["delivered"] + statuses["closed"]
    states = {stock_state(sku) for sku, *_ in demo_data.CATALOGUE}
    assert {"in_stock", "low", "out_of_stock"} <= states


def stock_state(sku):
    from oms_core.services.storefront import stock_badge

    return stock_badge(sku).state


# ------------------------------------------------------------------ oms-demo start-up


def test_prepare_seeds_once_and_creates_the_owner(database_url, tmp_path):
    folder = tmp_path / "demo-data"
    site = prepare(database_url=database_url, data_dir=folder, history_days=30)
    try:
        assert site.seeded and site.seeded.orders > 50
        assert site.forecast is not None and site.forecast.series_count > 0
        key_file = folder / "secret_key"
        assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
        secret = key_file.read_text()
        assert site.app.config["SECRET_KEY"] == secret.strip() and len(secret) > 40
        with site.app.app_context():
            assert users.authenticate(OWNER_EMAIL, OWNER_PASSWORD).role == "owner"
            orders_before = db.session.scalar(select(func.count()).select_from(Order))
    finally:
        dispose(site.app)

    again = prepare(database_url=database_url, data_dir=folder, history_days=30)
    try:
        assert again.seeded is None and again.app.config["SECRET_KEY"] == site.app.config["SECRET_KEY"]
        assert again.forecast is None  # the first one is still there
        with again.app.app_context():
            assert db.session.scalar(select(func.count()).select_from(Order)) == orders_before
            confirmed = db.session.scalar(select(Order.id).where(Order.status == "confirmed").limit(1))
            orders.cancel_order(confirmed, actor="test", reason="test")
    finally:
        dispose(again.app)

    fresh = prepare(database_url=database_url, data_dir=folder, reset=True, history_days=30)
    try:
        assert fresh.seeded is not None
        with fresh.app.app_context():
            assert users.authenticate(OWNER_EMAIL, OWNER_PASSWORD) is not None
            assert stock.ledger_mismatches() == []
        client = fresh.app.test_client()
        assert client.get("/hello").get_data(as_text=True) == "hello"
        assert "Earl Grey" in client.get("/").get_data(as_text=True)
        assert client.get("/oms/admin/login").status_code == 200
    finally:
        dispose(fresh.app)


def test_default_sqlite_file_in_the_data_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OMS_DEMO_DATABASE_URL", raising=False)
    monkeypatch.setenv("OMS_DEMO_SECRET_KEY", "from-the-environment")
    monkeypatch.setenv("OMS_TRACKING_RATE_LIMIT", "5 per second")
    app = create_app()
    try:
        assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'demo-data' / 'demo.sqlite3'}"
        assert app.config["SECRET_KEY"] == "from-the-environment"
        assert app.config["OMS_TRACKING_RATE_LIMIT"] == "5 per second"
        assert not (tmp_path / "demo-data" / "secret_key").exists()
    finally:
        dispose(app)


def test_worker_thread_sends_demo_mail_to_the_console(database_url, tmp_path, monkeypatch):
    # print_mail_to replaces the email handler process-wide: put the real one back after.
    real_handler = outbox._HANDLERS[notifications.EMAIL_KIND]
    monkeypatch.setitem(outbox._HANDLERS, notifications.EMAIL_KIND, real_handler)
    mails, arrived = [], threading.Event()

    def out(text):
        mails.append(text)
        arrived.set()

    print_mail_to(out)
    site = prepare(database_url=database_url, data_dir=tmp_path / "demo-data", history_days=20)
    worker = OutboxWorker(site.app, poll_seconds=0.05)
    worker.start()
    try:
        with site.app.app_context():
            order = place_checkout_order(email="carol@example.com", name="Carol", lines=[("TEA-EARL", 1)],
                                         payment_method="bank_transfer", address={"country": "NL"})
            code = tracking_codes.display(order.tracking_code)
            number = order.number
        assert arrived.wait(timeout=30), "the worker sent no mail"
    finally:
        worker.stop()
        dispose(site.app)
    assert not worker.is_alive()
    assert mails[0].startswith(f"--- mail to carol@example.com: Order {number} confirmed")
    assert code in mails[0]
