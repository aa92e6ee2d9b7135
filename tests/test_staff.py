"""Staff management: invitations and password resets by emailed single-use links
(sent through the outbox to a real SMTP server), roles, disabling (a live session
ends at once), the shop never left without an active owner, "forgot password"
answering the same for every email, and the audit trail."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from conftest import CSRF_META, LoggedInClient
from test_notifications import parts, smtp  # noqa: F401  (the smtp fixture)
from test_sessions import browser, can_read, copy_of_cookie

from oms_core.db import db
from oms_core.errors import ValidationError
from oms_core.models import OutboxMessage, StaffAuditEvent, StaffToken, StaffUser
from oms_core.models._base import utcnow
from oms_core.services import outbox, staff, users

ADMIN = "/oms/admin"
BASE_URL = "https://shop.example"
LINK = re.compile(r"https://shop\.example/oms/admin/(invite|reset-password)/(\S+)")


@pytest.fixture
def app_config(smtp):
    return {"OMS_SMTP_HOST": "127.0.0.1", "OMS_SMTP_PORT": smtp.port, "OMS_PUBLIC_BASE_URL": BASE_URL,
            "OMS_SHOP_NAME": "Corner Shop", "OMS_MAIL_SENDER": "hello@shop.example"}


@pytest.fixture
def client(app):
    from test_sessions import OwnContextClient

    return OwnContextClient(app.test_client())


def emailed_link(smtp, to: str) -> str:
    """Send what the outbox holds; the path of the last link emailed to `to`."""
    outbox.run_once()
    found = [message for _, recipients, message in smtp.inbox.received if recipients == [to]]
    assert found, f"no email to {to}"
    text, html = parts(found[-1])
    kind, token = LINK.search(text).groups()
    assert token in html
    return f"{ADMIN}/{kind}/{token}"


def csrf_of(client, url: str) -> str:
    return CSRF_META.search(client.get(url).get_data(as_text=True)).group(1)


def post_form(client, url: str, data: dict):
    return client.post(url, data={"csrf_token": csrf_of(client, url), **data})


def audit_actions() -> list[tuple[str, str]]:
    db.session.commit()  # a fresh read: the requests wrote in other sessions
    return [(e.action, e.subject) for e in db.session.query(StaffAuditEvent).order_by(StaffAuditEvent.id)]


# ------------------------------------------------------------------ invitations


def test_an_invitation_is_emailed_and_accepted_once(app, owner_client, smtp, client):
    response = owner_client.post(f"{ADMIN}/staff/invite", data={"email": "New@Example.com", "role": "staff"})
    assert response.status_code == 302
    link = emailed_link(smtp, "new@example.com")
    email = smtp.inbox.received[-1][2]
    assert email["Subject"] == "You are invited to the back-office of Corner Shop"
    # The Message-ID is the outbox key, a digest: the link's key is not in it.
    assert re.fullmatch(r"<staff-email-[0-9a-f]{24}@shop\.example>", email["Message-ID"])

    stranger = browser(app)
    page = stranger.get(link)
    assert page.status_code == 200 and "new@example.com" in page.get_data(as_text=True)
    assert page.headers["Referrer-Policy"] == "no-referrer"  # the URL holds the link's secret
    response = post_form(stranger, link, {"name": "Nia New", "password": "nias-password"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/login")
    assert LoggedInClient(browser(app), "new@example.com", "nias-password")
    user = users.find_by_email("new@example.com")
    assert (user.name, user.role, user.active) == ("Nia New", "staff", True)

    # Used up: neither the page nor a second post works, and nothing changes.
    again = browser(app)
    assert again.get(link).status_code == 400
    response = again.post(link, data={"csrf_token": csrf_of(again, f"{ADMIN}/login"), "name": "Evil",
                                      "password": "another-password"})
    assert response.status_code == 400
    assert users.authenticate("new@example.com", "another-password") is None
    assert audit_actions() == [("invited", "new@example.com"), ("invite_accepted", "new@example.com")]


def test_an_expired_invitation_refuses(app, owner_user, smtp, client, monkeypatch):
    staff.invite("late@example.com", "staff", actor="test")
    link = emailed_link(smtp, "late@example.com")
    later = utcnow() + timedelta(hours=73)
    monkeypatch.setattr(staff, "utcnow", lambda: later)
    page = client.get(link)
    assert page.status_code == 400 and staff.LINK_NOT_VALID in page.get_data(as_text=True)
    with pytest.raises(ValidationError):
        staff.accept_invite(link.rsplit("/", 1)[1], name="Late", password="late-password")
    assert users.find_by_email("late@example.com") is None


def test_a_forged_or_tampered_link_refuses(app, owner_user, smtp):
    token = staff.invite("who@example.com", "owner", actor="test")
    good = staff.link_token(token)
    forged = good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB")
    for link in (forged, "nonsense", "", "x" * 5000):
        with pytest.raises(ValidationError):
            staff.accept_invite(link, name="Mallory", password="mallory-password")
    # A link signed right but naming the row with another key (a database reset reused the id).
    token.key = "0" * 32
    db.session.commit()
    with pytest.raises(ValidationError):
        staff.accept_invite(good, name="Mallory", password="mallory-password")
    assert users.find_by_email("who@example.com") is None


def test_a_newer_invitation_replaces_the_older_and_users_are_not_invited(app, owner_user, smtp):
    first = staff.link_token(staff.invite("twice@example.com", "staff", actor="test"))
    staff.invite("twice@example.com", "owner", actor="test")
    with pytest.raises(ValidationError):
        staff.accept_invite(first, name="Old", password="old-link-pass")
    with pytest.raises(ValidationError, match="a user already"):
        staff.invite("owner@example.com", "staff", actor="test")
    with pytest.raises(ValidationError):
        staff.invite("not-an-email", "staff", actor="test")
    with pytest.raises(ValidationError):
        staff.invite("x@example.com", "god", actor="test")


# ------------------------------------------------------------------ password resets


def test_forgot_password_answers_the_same_and_the_link_resets_once(app, staff_user, smtp, client):
    answers = []
    for email in ("staff@example.com", "nobody@example.com", "not an email"):
        response = post_form(client, f"{ADMIN}/forgot-password", {"email": email})
        assert response.status_code == 302
        answers.append(client.get(f"{ADMIN}/login").get_data(as_text=True).count("If that email belongs"))
    assert answers == [1, 1, 1]
    outbox.run_once()
    assert [r for _, r, _ in smtp.inbox.received] == [["staff@example.com"]]
    link = emailed_link(smtp, "staff@example.com")

    logged_in = LoggedInClient(browser(app), "staff@example.com", "staff-password")
    response = post_form(browser(app), link, {"password": "a-fresh-password"})
    assert response.status_code == 302
    assert users.authenticate("staff@example.com", "a-fresh-password") is not None
    assert not can_read(logged_in.client)  # the reset ended the sessions made with the old password

    # The link is used up.
    response = post_form(browser(app), link, {"password": "yet-another-password"})
    assert response.status_code == 400
    assert users.authenticate("staff@example.com", "yet-another-password") is None
    assert ("password_reset", "staff@example.com") in audit_actions()


def test_a_reset_link_dies_when_the_password_changes_or_it_expires(app, staff_user, smtp, monkeypatch):
    staff.request_reset("staff@example.com")
    link = emailed_link(smtp, "staff@example.com").rsplit("/", 1)[1]
    users.set_password("staff@example.com", "changed-meanwhile")
    with pytest.raises(ValidationError):
        staff.reset_password(link, "too-late-password")

    # Expired: a fresh link, an hour and a minute later.
    token = staff.send_reset(staff_user.id, actor="staff:owner@example.com")
    fresh = staff.link_token(token)
    later = utcnow() + timedelta(minutes=61)
    monkeypatch.setattr(staff, "utcnow", lambda: later)
    with pytest.raises(ValidationError):
        staff.reset_password(fresh, "too-late-password")
    assert users.authenticate("staff@example.com", "changed-meanwhile") is not None


def test_forgot_password_sends_at_most_one_link_every_few_minutes_and_none_to_the_disabled(
        app, staff_user, owner_user):
    for _ in range(5):
        staff.request_reset("staff@example.com")
    assert db.session.query(StaffToken).count() == 1
    staff.set_active(owner_user.id, True, actor="test")
    staff.set_active(staff_user.id, False, actor="test")
    db.session.query(StaffToken).delete()
    db.session.commit()
    staff.request_reset("staff@example.com")
    assert db.session.query(StaffToken).count() == 0
    assert db.session.query(OutboxMessage).filter_by(kind=staff.EMAIL_KIND).count() == 1  # the first one


@pytest.mark.parametrize("app_config", [{"OMS_LOGIN_RATE_LIMIT": "3 per minute"}])
def test_forgot_password_is_rate_limited_with_the_log_in(app, client):
    token = csrf_of(client, f"{ADMIN}/forgot-password")
    codes = [client.post(f"{ADMIN}/forgot-password", data={"email": "a@example.com", "csrf_token": token}).status_code
             for _ in range(3)]
    assert codes == [302, 302, 302]
    assert client.post(f"{ADMIN}/forgot-password", data={"email": "a@example.com",
                                                         "csrf_token": token}).status_code == 429
    # One count with the log-in: guessing passwords there does not get more tries here.
    assert client.post(f"{ADMIN}/login", data={"email": "a@example.com", "password": "x",
                                               "csrf_token": token}).status_code == 429


# ------------------------------------------------------------------ roles and disabling


def test_disabling_ends_a_live_session_at_once_and_enabling_lets_them_log_in(app, owner_client, staff_user):
    staffer = LoggedInClient(browser(app), "staff@example.com", "staff-password")
    thief = copy_of_cookie(app, staffer.client)
    assert can_read(staffer.client) and can_read(thief)

    response = owner_client.post(f"{ADMIN}/staff/{staff_user.id}/active", data={})
    assert response.status_code == 302
    assert not can_read(staffer.client) and not can_read(thief)
    response = staffer.post(f"{ADMIN}/orders/1/notes", data={"text": "after disabling"})
    assert response.status_code in (302, 400) and "/login" in response.headers.get("Location", "/login")
    db.session.commit()  # a fresh read: the requests wrote in other sessions
    assert users.authenticate("staff@example.com", "staff-password") is None

    owner_client.post(f"{ADMIN}/staff/{staff_user.id}/active", data={"active": "1"})
    assert can_read(LoggedInClient(browser(app), "staff@example.com", "staff-password").client)
    assert audit_actions() == [("disabled", "staff@example.com"), ("enabled", "staff@example.com")]


def test_the_shop_keeps_an_active_owner(app, owner_user, staff_user):
    for attempt in (lambda: staff.set_role(owner_user.id, "staff", actor="t"),
                    lambda: staff.set_active(owner_user.id, False, actor="t")):
        with pytest.raises(ValidationError, match="active owner"):
            attempt()
    staff.set_role(staff_user.id, "owner", actor="t")
    staff.set_active(staff_user.id, False, actor="t")  # a disabled owner does not count
    with pytest.raises(ValidationError, match="active owner"):
        staff.set_role(owner_user.id, "staff", actor="t")
    staff.set_active(staff_user.id, True, actor="t")
    staff.set_role(owner_user.id, "staff", actor="t")  # now another owner remains
    db.session.commit()  # a fresh read: the requests wrote in other sessions
    assert db.session.get(StaffUser, owner_user.id).role == "staff"


def test_two_owners_demoting_each_other_at_once_leave_one_owner(app, owner_user, staff_user):
    from test_concurrency import race

    staff.set_role(staff_user.id, "owner", actor="t")
    ids = [owner_user.id, staff_user.id]

    def demote(i):
        try:
            staff.set_role(ids[i], "staff", actor="t")
            return "done"
        except ValidationError:
            return "refused"
    outcomes = race(app, 2, demote)
    assert sorted(outcomes) == [("ok", "done"), ("ok", "refused")]
    db.session.commit()  # a fresh read: the requests wrote in other sessions
    assert db.session.query(StaffUser).filter_by(role="owner", active=True).count() == 1


def test_role_changes_take_effect_on_the_next_request(app, owner_client, staff_user):
    staffer = LoggedInClient(browser(app), "staff@example.com", "staff-password")
    assert staffer.get(f"{ADMIN}/staff").status_code == 403
    owner_client.post(f"{ADMIN}/staff/{staff_user.id}/role", data={"role": "owner"})
    assert staffer.get(f"{ADMIN}/staff").status_code == 200
    response = owner_client.post(f"{ADMIN}/staff/{staff_user.id}/role", data={"role": "emperor"})
    assert response.status_code == 302
    db.session.commit()
    assert db.session.get(StaffUser, staff_user.id).role == "owner"


def test_staff_cannot_manage_staff(app, staff_client, owner_user):
    for url in (f"/staff/{owner_user.id}/active", f"/staff/{owner_user.id}/role", f"/staff/{owner_user.id}/reset",
                "/staff/invite"):
        assert staff_client.post(ADMIN + url, data={"role": "staff", "email": "x@example.com"}).status_code == 403
    assert staff_client.get(f"{ADMIN}/staff").status_code == 403
    db.session.commit()  # a fresh read: the requests wrote in other sessions
    assert db.session.get(StaffUser, owner_user.id).active
    assert audit_actions() == []


def test_the_staff_page_shows_users_invitations_and_the_audit_trail_escaped(app, owner_client, staff_user):
    staff.invite("<b>x</b>@example.com", "staff", actor="staff:owner@example.com")
    staff.send_reset(staff_user.id, actor="staff:owner@example.com")
    page = owner_client.get(f"{ADMIN}/staff").get_data(as_text=True)
    assert "Sam Staff" in page and "staff@example.com" in page
    assert "&lt;b&gt;x&lt;/b&gt;@example.com" in page and "<b>x</b>" not in page
    assert "Password reset link sent" in page and "Invited" in page


def test_an_owner_withdraws_an_invitation_and_its_link_dies(app, owner_client, smtp):
    token = staff.invite("gone@example.com", "staff", actor="staff:owner@example.com")
    link = staff.link_token(token)
    assert "gone@example.com" in owner_client.get(f"{ADMIN}/staff").get_data(as_text=True)
    assert owner_client.post(f"{ADMIN}/staff/invitations/{token.id}/withdraw").status_code == 302
    with pytest.raises(ValidationError):
        staff.accept_invite(link, name="Gone", password="gone-password")
    # Withdrawn before the worker got to it: no email goes out.
    outbox.run_once()
    assert smtp.inbox.received == []
    assert audit_actions() == [("invited", "gone@example.com"), ("invite_withdrawn", "gone@example.com")]
    page = owner_client.get(f"{ADMIN}/staff").get_data(as_text=True)
    assert "Invitation withdrawn" in page


def test_the_command_line_is_on_the_audit_trail_and_keeps_an_owner(app, runner):
    result = runner.invoke(args=["oms", "create-user", "--email", "first@example.com", "--name", "First",
                                 "--role", "owner", "--password", "first-password"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["oms", "deactivate-user", "--email", "first@example.com"])
    assert result.exit_code == 1 and "needs an active owner" in result.output
    result = runner.invoke(args=["oms", "set-password", "--email", "first@example.com",
                                 "--password", "second-password"])
    assert result.exit_code == 0, result.output
    assert audit_actions() == [("created", "first@example.com"), ("password_set", "first@example.com")]
    assert db.session.query(StaffAuditEvent).first().actor == "cli"
