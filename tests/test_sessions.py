"""Staff sessions end when they should (log-out, deactivation, a new password), are
renewed at log-in, and log-in takes as long for unknown emails as for known ones.

The attacks are replayed with real copied cookies: a second test client is given
the session cookie the first one held. Each request runs in a thread of its own, so
in an app context of its own as in production: the `app` fixture's context would
otherwise carry `g` (and flask-login's user in it) from one request to the next."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import CSRF_META, LoggedInClient

from oms_core.db import db
from oms_core.models import Order, StaffUser
from oms_core.services import users

ADMIN = "/oms/admin"


class OwnContextClient:
    """A Flask test client whose every request runs in a fresh thread."""

    def __init__(self, client):
        self._client = client

    def _in_thread(self, method, *args, **kw):
        with ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(getattr(self._client, method), *args, **kw).result()

    def get(self, *args, **kw):
        return self._in_thread("get", *args, **kw)

    def post(self, *args, **kw):
        return self._in_thread("post", *args, **kw)

    def __getattr__(self, name):  # cookies, session_transaction
        return getattr(self._client, name)


@pytest.fixture
def client(app):
    return OwnContextClient(app.test_client())


def browser(app):
    return OwnContextClient(app.test_client())


def copy_of_cookie(app, client):
    """A new browser holding the same session cookie as `client`."""
    thief = browser(app)
    thief.set_cookie("session", client.get_cookie("session").value)
    return thief


def can_read(client) -> bool:
    response = client.get(f"{ADMIN}/orders")
    return response.status_code == 200


def token_of(client) -> str:
    return CSRF_META.search(client.get(f"{ADMIN}/login").get_data(as_text=True)).group(1)


def test_a_copied_cookie_works_until_log_out_then_neither_reads_nor_writes(app, staff_client, place):
    order = place()
    thief = copy_of_cookie(app, staff_client.client)
    assert can_read(thief)  # the copy is as good as the original while the session lives
    stolen_token = token_of(thief)

    assert staff_client.post(f"{ADMIN}/logout").status_code == 302
    assert not can_read(staff_client.client)
    response = thief.get(f"{ADMIN}/orders")
    assert response.status_code == 302 and response.headers["Location"].startswith(f"{ADMIN}/login")
    response = thief.post(f"{ADMIN}/orders/{order.id}/notes", data={"text": "after log-out",
                                                                    "csrf_token": stolen_token})
    assert response.status_code in (302, 400)
    assert "after log-out" not in [e.message for e in db.session.get(Order, order.id).events]


def test_log_out_ends_the_users_other_sessions_too(app, client, staff_user):
    laptop = LoggedInClient(client, "staff@example.com", "staff-password")
    phone = LoggedInClient(browser(app), "staff@example.com", "staff-password")
    assert can_read(laptop.client) and can_read(phone.client)
    laptop.post(f"{ADMIN}/logout")
    assert not can_read(phone.client)


def test_deactivation_ends_sessions_at_the_next_request(app, staff_client, place):
    order = place()
    thief = copy_of_cookie(app, staff_client.client)
    users.set_active("staff@example.com", active=False)
    for held in (staff_client.client, thief):
        assert not can_read(held)
    response = staff_client.post(f"{ADMIN}/orders/{order.id}/notes", data={"text": "deactivated"})
    assert response.status_code in (302, 400)
    assert len(db.session.get(Order, order.id).events) == 1  # only "placed"
    # And a deactivated user cannot log in again, even with the right password.
    response = browser(app).post(f"{ADMIN}/login", data={
        "email": "staff@example.com", "password": "staff-password",
        "csrf_token": token_of(staff_client.client)})
    assert response.status_code in (400, 401)


def test_active_is_checked_on_every_request_even_without_a_version_change(app, staff_client):
    # A row switched off behind the service's back (e.g. by SQL): the loader reads `active`.
    db.session.execute(db.update(StaffUser).values(active=False))
    db.session.commit()
    assert not can_read(staff_client.client)


def test_a_new_password_ends_sessions_made_with_the_old_one(app, staff_client):
    thief = copy_of_cookie(app, staff_client.client)
    users.set_password("staff@example.com", "a-new-password")
    assert not can_read(staff_client.client) and not can_read(thief)
    assert LoggedInClient(browser(app), "staff@example.com", "a-new-password")
    assert users.authenticate("staff@example.com", "staff-password") is None


def test_log_in_renews_the_session(app, client, staff_user):
    # A session cookie from before log-in (e.g. planted by someone who wants to ride
    # on it) carries nothing into the logged-in session.
    with client.session_transaction() as session:
        session["planted"] = "by someone else"
    before = token_of(client)
    planted_cookie = client.get_cookie("session").value
    response = client.post(f"{ADMIN}/login", data={"email": "staff@example.com", "password": "staff-password",
                                                   "csrf_token": before})
    assert response.status_code == 302
    with client.session_transaction() as session:
        assert "planted" not in session
    assert token_of(client) != before
    # The cookie from before log-in is still anonymous.
    fixed = browser(app)
    fixed.set_cookie("session", planted_cookie)
    assert not can_read(fixed)


def test_a_session_from_before_versions_is_logged_out(app, client, staff_user):
    with client.session_transaction() as session:
        session["_user_id"] = str(staff_user.id)  # what flask-login stored before schema 0005
        session["_fresh"] = True
    assert not can_read(client)


@pytest.mark.parametrize("session_id", ["", "1", "1:", ":1", "1:1:1", "x:1", "99999999999:1",
                                        "1:99999999999", "١:١", "1:2"])
def test_session_ids_that_name_no_valid_session(app, staff_user, session_id):
    assert users.session_user(session_id) is None
    assert users.session_user(f"{staff_user.id}:1") == staff_user


def test_cli_set_password_and_deactivate(app, runner, staff_user):
    result = runner.invoke(args=["oms", "set-password", "--email", "staff@example.com"],
                           input="another-password\nanother-password\n")
    assert result.exit_code == 0, result.output
    assert "sessions have ended" in result.output
    assert users.authenticate("staff@example.com", "another-password") is not None
    result = runner.invoke(args=["oms", "set-password", "--email", "staff@example.com",
                                 "--password", "short"])
    assert result.exit_code == 1 and "at least 8 characters" in result.output
    result = runner.invoke(args=["oms", "deactivate-user", "--email", "nobody@example.com"])
    assert result.exit_code == 1 and "No user nobody@example.com" in result.output
    result = runner.invoke(args=["oms", "deactivate-user", "--email", "Staff@Example.com"])
    assert result.exit_code == 0, result.output
    assert users.authenticate("staff@example.com", "another-password") is None
    result = runner.invoke(args=["oms", "deactivate-user", "--email", "staff@example.com", "--undo"])
    assert result.exit_code == 0 and "can log in again" in result.output
    assert users.authenticate("staff@example.com", "another-password") is not None


# ------------------------------------------------------------------ log-in timing


@pytest.fixture
def hash_checks(monkeypatch):
    """Counts password hash checks (the slow step whose absence gave unknown emails away)."""
    checked = []
    real = users.check_password_hash

    def counting(pwhash, password):
        checked.append(pwhash)
        return real(pwhash, password)

    monkeypatch.setattr(users, "check_password_hash", counting)
    return checked


@pytest.mark.parametrize("email", ["staff@example.com", "nobody@example.com", "", "x" * 300,
                                   "in\x00valid@example.com", "inactive@example.com"])
def test_every_log_in_attempt_checks_one_hash(app, staff_user, hash_checks, email):
    users.create_user(email="inactive@example.com", name="Ina", password="inactive-password")
    users.set_active("inactive@example.com", active=False)
    assert users.authenticate(email, "wrong-password") is None
    assert len(hash_checks) == 1
    # Same method and cost as a real hash, so the check takes as long.
    method = staff_user.password_hash.split("$")[0]
    assert hash_checks[0].split("$")[0] == method


def test_the_log_in_form_checks_a_hash_for_unknown_emails(client, staff_user, hash_checks):
    token = token_of(client)
    for email in ("nobody@example.com", "staff@example.com"):
        response = client.post(f"{ADMIN}/login", data={"email": email, "password": "wrong-password",
                                                       "csrf_token": token})
        assert response.status_code == 401
    assert len(hash_checks) == 2
