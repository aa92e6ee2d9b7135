"""Back-office security (docs/architecture.md, invariant 8): every route needs a login, every form
needs its CSRF token, and user text is escaped wherever it is shown."""
from __future__ import annotations

import re

import pytest
from flask import url_for

from oms_core import runtime
from oms_core.db import db
from oms_core.models import Order, TimelineEvent
from oms_core.services import orders, stock

ADMIN = "/oms/admin"
LOGIN = f"{ADMIN}/login"
# Pages for people who cannot log in (yet): their links carry their own proof
# (tests/test_staff.py), and they are rate-limited with the log-in.
PUBLIC = {"oms_admin.login", "oms_admin.forgot_password", "oms_admin.reset_password", "oms_admin.accept_invite"}
SCRIPT = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def admin_rules(app):
    rules = [r for r in app.url_map.iter_rules()
             if r.endpoint.startswith("oms_admin.") and r.endpoint not in PUBLIC]
    assert len(rules) >= 15  # the walk really covers the back-office
    return rules


def concrete_url(app, rule) -> str:
    with app.test_request_context():
        return url_for(rule.endpoint, **{name: 1 for name in rule.arguments})


def test_every_back_office_route_redirects_to_login(app, client):
    # A logged-out browser still has a session with a CSRF token: use it, so that
    # POST routes are refused for the missing login and not for the missing token.
    token = CSRF_META.search(client.get(LOGIN).get_data(as_text=True)).group(1)
    checked = 0
    for rule in admin_rules(app):
        url = concrete_url(app, rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if method == "GET":
                response = client.get(url)
            else:
                response = client.open(url, method=method, data={"csrf_token": token})
            assert response.status_code == 302, (method, url, response.status_code)
            assert response.headers["Location"].startswith(LOGIN), (method, url)
            checked += 1
    assert checked >= 15


def test_login_page_itself_is_public(client):
    assert client.get(LOGIN).status_code == 200


def test_logged_in_user_reaches_every_get_route(app, owner_client, place, make_product):
    """The same walk logged in: no GET route of the back-office is broken (404 for
    ids that do not exist is fine)."""
    for rule in admin_rules(app):
        if "GET" in rule.methods:
            status = owner_client.get(concrete_url(app, rule)).status_code
            assert status in (200, 404), (rule.endpoint, status)


def _post_rules(app):
    return [r for r in app.url_map.iter_rules()
            if r.endpoint.startswith("oms_admin.") and "POST" in r.methods]


@pytest.mark.parametrize("htmx", [False, True])
def test_post_without_csrf_token_is_refused(app, owner_client, place, htmx):
    order = place(confirm=True)
    headers = {"HX-Request": "true"} if htmx else {}
    for rule in _post_rules(app):
        if rule.endpoint in ("oms_admin.login", "oms_admin.logout"):
            continue
        url = concrete_url(app, rule).replace("/orders/1/", f"/orders/{order.id}/")
        data = {"text": "sneaky", "reason": "sneaky", "amount": "1", "gateway_id": "bank_transfer",
                "reference": "X", "delta": "5", "reason_code": "receipt", "sku": "X", "name": "X"}
        response = owner_client.client.post(url, data=data, headers=headers)
        assert response.status_code == 400, (rule.endpoint, response.status_code)
    db.session.expire_all()
    assert db.session.get(Order, order.id).status == "confirmed"
    assert db.session.query(TimelineEvent).filter_by(kind="note").count() == 0


def test_wrong_csrf_token_is_refused(owner_client, place):
    order = place()
    response = owner_client.client.post(f"{ADMIN}/orders/{order.id}/notes",
                                        data={"text": "x", "csrf_token": "forged"})
    assert response.status_code == 400
    # The token in the header, as htmx sends it (oms.js), is accepted.
    response = owner_client.client.post(f"{ADMIN}/orders/{order.id}/notes", data={"text": "ok"},
                                        headers={"X-CSRFToken": owner_client.csrf, "HX-Request": "true"})
    assert response.status_code == 200


def test_login_and_logout_need_the_token(client, staff_user):
    assert client.post(LOGIN, data={"email": "staff@example.com", "password": "staff-password"}).status_code == 400


def test_every_admin_form_carries_the_token(owner_client, place):
    order = place()
    for url in (f"{ADMIN}/orders/{order.id}", f"{ADMIN}/orders/new", f"{ADMIN}/products"):
        page = owner_client.get(url).get_data(as_text=True)
        forms = re.findall(r"<form\b[^>]*>.*?</form>", page, re.S)
        posting = [f for f in forms if 'method="post"' in f]
        assert posting, url
        for form in posting:
            assert f'name="csrf_token" value="{owner_client.csrf}"' in form, (url, form[:120])


@pytest.fixture
def hostile(place, make_product):
    """User text with a script in every place it can come from."""
    product = make_product(sku="EVIL", name=f"Mug {SCRIPT}", on_hand=2, low_stock_threshold=5,
                           description=SCRIPT)
    order = place([(product.sku, 1)], confirm=True, name=f"Eve {SCRIPT}", note=f"Note {SCRIPT}",
                  phone=SCRIPT)
    orders.add_note(order.id, f"Staff {SCRIPT}", actor="test")
    stock.adjust(product.id, 1, reason="adjustment", note=f"Found {SCRIPT}", actor="test")
    return product, order


def assert_escaped(page: str, at_least: int = 1):
    assert SCRIPT not in page
    assert "<script>alert" not in page
    assert page.count(ESCAPED) >= at_least


def test_user_text_is_escaped_everywhere(staff_client, hostile):
    product, order = hostile
    # order page: customer name, phone, customer note, staff note, line name
    assert_escaped(staff_client.get(f"{ADMIN}/orders/{order.id}").get_data(as_text=True), at_least=5)
    assert_escaped(staff_client.get(f"{ADMIN}/orders").get_data(as_text=True))
    assert_escaped(staff_client.get(f"{ADMIN}/products").get_data(as_text=True))
    assert_escaped(staff_client.get(f"{ADMIN}/products/{product.id}").get_data(as_text=True), at_least=3)
    assert_escaped(staff_client.get(f"{ADMIN}/").get_data(as_text=True))  # low stock table
    assert_escaped(staff_client.get(f"{ADMIN}/orders/new").get_data(as_text=True))  # product select
    # HTMX fragments too
    fragment = staff_client.post(f"{ADMIN}/orders/{order.id}/notes", data={"text": SCRIPT}, htmx=True)
    assert_escaped(fragment.get_data(as_text=True), at_least=5)
    refused = staff_client.post(f"{ADMIN}/orders/{order.id}/payments", htmx=True,
                                data={"gateway_id": "bank_transfer", "amount": SCRIPT, "reference": "x"})
    assert_escaped(refused.get_data(as_text=True), at_least=5)
    results = staff_client.get(f"{ADMIN}/orders", query_string={"q": SCRIPT}, headers={"HX-Request": "true"})
    assert_escaped(results.get_data(as_text=True))


def test_typed_text_is_escaped_when_a_form_comes_back(staff_client, make_product):
    make_product(sku="MUG")
    response = staff_client.post(f"{ADMIN}/orders/new", data={
        "email": "x@example.com", "name": SCRIPT, "channel": "phone", "payment_method": "bank_transfer",
        "sku": "MUG", "quantity": SCRIPT, "note": SCRIPT})
    assert response.status_code == 400
    assert_escaped(response.get_data(as_text=True), at_least=3)


@pytest.mark.parametrize("app_config", [{"OMS_LOGIN_RATE_LIMIT": "3 per minute"}])
def test_password_guessing_is_rate_limited(client, staff_user):
    page = client.get("/oms/admin/login").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    guesses = [client.post("/oms/admin/login", data={"email": "staff@example.com", "password": f"guess{i}",
                                                     "csrf_token": token}).status_code for i in range(4)]
    assert guesses == [401, 401, 401, 429]
    assert client.get("/oms/admin/login").status_code == 200  # reading the form is not limited


@pytest.mark.parametrize("app_config", [{"RATELIMIT_DEFAULT": "2 per minute"}])
def test_a_host_apps_default_limit_still_counts_on_its_own_routes(client):
    # flask-limiter's per-request check runs only when app-wide limits like this are set.
    assert [client.get("/hello").status_code for _ in range(3)] == [200, 200, 429]


def test_a_host_limit_counting_only_failed_answers_still_counts_them(app):
    # flask-limiter deducts such a hit after the answer, in a hook the OMS runs only
    # for requests that checked a limit.
    @app.route("/flaky")
    @runtime.state().limiter.limit("2 per minute", deduct_when=lambda response: response.status_code == 500)
    def flaky():
        return "failed", 500

    client = app.test_client()
    assert [client.get("/flaky").status_code for _ in range(3)] == [500, 500, 429]
