"""Browser-side protection: headers on the OMS's pages (and only there), pages that
meet their Content-Security-Policy, the session cookie's attributes, public pages
that send no cookie, rate limits that say when to come back and that key on the
client behind a proxy, and a demo cart that does not reveal the stock."""
from __future__ import annotations

import re

import pytest
from conftest import CSRF_META
from werkzeug.middleware.proxy_fix import ProxyFix

from oms_core import tracking_codes
from oms_core.testing import dispose, make_app
from oms_web.hardening import CONTENT_SECURITY_POLICY

ADMIN = "/oms/admin"


def assert_protected(response):
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    policy = response.headers["Content-Security-Policy"]
    assert policy == CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in policy and "'unsafe-inline'" not in policy


def test_every_oms_blueprint_answers_with_the_headers_and_the_host_app_does_not(
        app, client, owner_client, place, make_product):
    order = place(confirm=True)
    product = make_product(sku="MUG")
    code = tracking_codes.display(order.tracking_code)
    for url in (f"{ADMIN}/login", f"{ADMIN}/", f"{ADMIN}/orders/{order.id}", f"{ADMIN}/products/{product.id}",
                f"{ADMIN}/orders/999", "/track", f"/track?code={code}", "/oms/storefront/stock/MUG",
                "/oms/static/htmx.min.js", "/oms/static/oms.css"):
        assert_protected(owner_client.get(url))
    assert_protected(owner_client.post(f"{ADMIN}/orders/{order.id}/notes", data={"text": "x"}))
    assert_protected(client.post("/oms/webhooks/payments/bank_transfer", data=b"{}"))
    hello = client.get("/hello")
    assert not {"X-Frame-Options", "Content-Security-Policy", "X-Content-Type-Options"} & set(
        hello.headers.keys())


def test_pages_meet_their_policy_no_inline_script_or_style(owner_client, place, make_product):
    order = place(confirm=True)
    product = make_product(sku="MUG")
    for url in (f"{ADMIN}/login", f"{ADMIN}/", f"{ADMIN}/orders", f"{ADMIN}/orders/{order.id}",
                f"{ADMIN}/orders/new", f"{ADMIN}/products", f"{ADMIN}/products/{product.id}",
                f"{ADMIN}/products/{product.id}/forecast", f"{ADMIN}/replenishment", f"{ADMIN}/plugins",
                f"/track?code={tracking_codes.display(order.tracking_code)}"):
        page = owner_client.get(url).get_data(as_text=True)
        assert " style=" not in page and "<style" not in page, url
        assert re.findall(r"<script(?![^>]*\ssrc=)[^>]*>", page) == [], url  # no inline script
        assert re.findall(r"\son[a-z]+=", page) == [], url  # no inline event handler
        for src in re.findall(r'(?:src|href)="(/[^"]*\.(?:js|css))"', page):
            assert src.startswith("/oms/static/"), (url, src)
        if "htmx.min.js" in page:  # htmx would otherwise inject a <style> and may eval
            assert '"includeIndicatorStyles": false' in page and '"allowEval": false' in page


# ------------------------------------------------------------------ the session cookie


def set_cookie_of(response) -> str:
    return "; ".join(response.headers.getlist("Set-Cookie"))


def test_session_cookie_is_samesite_lax_and_httponly_by_default(client):
    cookie = set_cookie_of(client.get(f"{ADMIN}/login"))
    assert "SameSite=Lax" in cookie and "HttpOnly" in cookie and "Secure" not in cookie


@pytest.mark.parametrize("app_config", [{"OMS_PUBLIC_BASE_URL": "https://shop.example.com"}])
def test_session_cookie_is_secure_when_the_shop_is_served_over_https(client):
    cookie = set_cookie_of(client.get(f"{ADMIN}/login", base_url="https://shop.example.com"))
    assert "Secure" in cookie and "SameSite=Lax" in cookie


@pytest.mark.parametrize("app_config", [{"OMS_PUBLIC_BASE_URL": "https://shop.example.com",
                                         "SESSION_COOKIE_SAMESITE": "Strict"}])
def test_the_host_apps_choice_wins(app, client):
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Strict"
    response = client.get(f"{ADMIN}/login", base_url="https://shop.example.com")
    assert "SameSite=Strict" in set_cookie_of(response)


# ------------------------------------------------------------------ public pages send no cookie


def test_public_pages_never_send_a_cookie_even_to_a_browser_that_has_a_session(
        app, owner_client, place, make_product):
    order = place(confirm=True)
    make_product(sku="MUG")
    browser = owner_client.client  # logged in: holds a session cookie with a user and a CSRF token
    with browser.session_transaction() as session:
        session.permanent = True  # a host that keeps sessions permanent refreshes them on every request
    code = tracking_codes.display(order.tracking_code)
    for url in ("/track", f"/track?code={code}", "/track?code=XXXX", "/oms/storefront/stock/MUG"):
        for _ in range(2):
            response = browser.get(url)
            assert response.status_code == 200, url
            assert response.headers.getlist("Set-Cookie") == [], url
            assert "Cookie" not in response.vary, url  # the session was not even read
    assert "Set-Cookie" in browser.get(f"{ADMIN}/login").headers  # the back-office still has its session


def test_tracking_a_code_shows_no_staff_session_either(owner_client, place):
    order = place(confirm=True)
    code = tracking_codes.display(order.tracking_code)
    page = owner_client.get(f"/track?code={code}").get_data(as_text=True)
    assert "csrf-token" not in page and "Log out" not in page


# ------------------------------------------------------------------ rate limits


@pytest.mark.parametrize("app_config", [{"OMS_LOGIN_RATE_LIMIT": "2 per minute",
                                         "OMS_TRACKING_RATE_LIMIT": "2 per minute"}])
def test_429_says_when_to_try_again(client, staff_user):
    token = CSRF_META.search(client.get(f"{ADMIN}/login").get_data(as_text=True)).group(1)
    for path, send in ((f"{ADMIN}/login", lambda: client.post(f"{ADMIN}/login", data={
            "email": "staff@example.com", "password": "wrong", "csrf_token": token})),
                       ("/track", lambda: client.get("/track?code=AAAA-AAAA-AAAA-AA"))):
        answers = [send() for _ in range(3)]
        assert [a.status_code for a in answers[:2]] != [429, 429], path
        limited = answers[2]
        assert limited.status_code == 429, path
        assert 0 < int(limited.headers["Retry-After"]) <= 60, path


@pytest.fixture
def limited_app(database_url):
    app = make_app(database_url, upgrade=False, OMS_TRACKING_RATE_LIMIT="2 per minute")
    yield app
    dispose(app)


def lookups(app, forwarded_for: str, n: int = 3) -> list[int]:
    client = app.test_client()
    return [client.get("/track?code=AAAA-AAAA-AAAA-AA", headers={"X-Forwarded-For": forwarded_for},
                       environ_base={"REMOTE_ADDR": "10.0.0.1"}).status_code for _ in range(n)]


def test_without_proxyfix_x_forwarded_for_is_not_trusted(limited_app):
    # Everything comes from the proxy's address: a client cannot buy itself new
    # guesses by inventing an X-Forwarded-For.
    assert lookups(limited_app, "203.0.113.1") == [200, 200, 429]
    assert lookups(limited_app, "203.0.113.2", n=1) == [429]


def test_behind_proxyfix_each_client_has_its_own_limit(limited_app):
    limited_app.wsgi_app = ProxyFix(limited_app.wsgi_app, x_for=1)
    assert lookups(limited_app, "203.0.113.1") == [200, 200, 429]
    assert lookups(limited_app, "203.0.113.2") == [200, 200, 429]
    # Only the last hop (the one the proxy added) counts: a forged first hop changes nothing.
    assert lookups(limited_app, "198.51.100.7, 203.0.113.1", n=1) == [429]


# ------------------------------------------------------------------ the demo cart


def test_the_cart_tells_the_exact_stock_only_when_it_is_low(shop):
    from oms_core.services import catalog

    catalog.create_product(sku="MANY", name="Kettle", price_minor=100, currency="EUR", on_hand=137,
                           low_stock_threshold=5, actor="test")
    catalog.create_product(sku="FEW", name="Teapot", price_minor=100, currency="EUR", on_hand=3,
                           low_stock_threshold=5, actor="test")
    client = shop.test_client()
    token = CSRF_META.search(client.get("/").get_data(as_text=True)).group(1)

    def cart_answer(sku, quantity) -> str:
        return client.post("/cart/add", data={"sku": sku, "quantity": str(quantity), "csrf_token": token},
                           headers={"HX-Request": "true"}).get_data(as_text=True)

    answer = cart_answer("MANY", 100_000)
    assert "137" not in answer and "do not have that many of Kettle in stock" in answer
    assert "137" not in cart_answer("MANY", 138)
    assert "only 3 of Teapot left" in cart_answer("FEW", 100_000)
    assert "Added Kettle" in cart_answer("MANY", 3)
