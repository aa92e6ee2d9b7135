"""Complaints (services/complaints.py, web/public_complaints.py, web/admin/complaints.py):
a proven customer opens one with photos and answers staff; staff reply, write
internal notes, assign, recategorise, resolve and reopen; every change is on the
order's timeline (privately); emails go once through the outbox to the right
people with user text escaped; nothing of another order is reachable; refusals
change nothing. SQLite and PostgreSQL."""
from __future__ import annotations

import io
import re

import pytest
from PIL import Image
from sqlalchemy import func, select

from oms_core import tracking_codes
from oms_core.db import db
from oms_core.errors import NotFound, ValidationError
from oms_core.models import Complaint, ComplaintMessage, OutboxMessage, TimelineEvent, Upload
from oms_core.services import complaint_emails, complaints, customer_proof, outbox
from oms_core.services.uploads import Incoming
import test_notifications

smtp = test_notifications.smtp  # a real SMTP server on a free local port
BASE = "https://shop.example"


@pytest.fixture
def extra_config():
    """Override (parametrize) for a test's own settings."""
    return {}


@pytest.fixture
def app_config(smtp, extra_config):
    return {"OMS_SMTP_HOST": "127.0.0.1", "OMS_SMTP_PORT": smtp.port, "OMS_PUBLIC_BASE_URL": BASE,
            "OMS_TRACKING_RATE_LIMIT": "20 per minute", **extra_config}


def photo(color=(200, 0, 0), size=(30, 20)) -> bytes:
    out = io.BytesIO()
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"
    Image.new("RGB", size, color).save(out, format="JPEG", exif=exif.tobytes())
    return out.getvalue()


@pytest.fixture
def order(place, smtp):
    order = place(confirm=True, email="ann@example.com", name="Ann <b>Example</b>")
    db.session.remove()
    outbox.run_once()  # its confirmation email: out of the way
    smtp.inbox.received.clear()
    return order


def docs(*parts) -> str:
    return "/".join(["/track/documents", *map(str, parts)])


def csrf_of(page: str) -> str:
    return page.split('name="csrf_token" value="')[1].split('"')[0]


def proven_client(app, order):
    client = app.test_client()
    page = client.get(docs()).get_data(as_text=True)
    response = client.post(docs(), data={"code": tracking_codes.display(order.tracking_code),
                                         "email": "ann@example.com", "csrf_token": csrf_of(page)})
    assert response.status_code == 303
    return client


def open_by_web(client, order, *, subject="Broken mug", body="It arrived <b>broken</b>.", files=()):
    page = client.get(docs(order.id)).get_data(as_text=True)
    data = {"subject": subject, "category": "Damaged item", "body": body, "csrf_token": csrf_of(page),
            "photos": [(io.BytesIO(data), name) for name, data in files]}
    return client.post(docs(order.id, "complaints"), data=data, content_type="multipart/form-data")


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def sent_mail(smtp):
    assert outbox.run_once()[1] == 0
    return [(rcpt, message) for _, rcpt, message in smtp.inbox.received]


# ------------------------------------------------------------------ the customer's side


def test_customer_opens_a_complaint_with_a_photo_and_staff_are_emailed(app, order, staff_user, owner_user,
                                                                       smtp):
    client = proven_client(app, order)
    page = client.get(docs(order.id)).get_data(as_text=True)
    assert 'id="oms-complaints"' in page and "Damaged item" in page
    response = open_by_web(client, order, files=[("mug.jpg", photo())])
    assert response.status_code == 303
    complaint = db.session.scalars(select(Complaint)).one()
    assert response.headers["Location"].endswith(docs(order.id, "complaints", complaint.id))
    assert complaint.status == complaints.WAITING_ON_US and complaint.waiting_since is not None
    assert complaint.category == "Damaged item" and complaint.subject == "Broken mug"
    thread = client.get(docs(order.id, "complaints", complaint.id)).get_data(as_text=True)
    assert "It arrived &lt;b&gt;broken&lt;/b&gt;." in thread and "<b>broken" not in thread
    upload = db.session.scalars(select(Upload)).one()
    assert upload.token in thread and b"SecretCam" not in upload.data
    image = client.get(docs(order.id, "complaints", "photos", upload.token))
    assert image.status_code == 200 and image.mimetype == "image/jpeg" and image.data == upload.data
    assert image.headers["X-Content-Type-Options"] == "nosniff"
    assert image.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert image.headers["Content-Disposition"] == f'inline; filename="{upload.filename}"'
    # Timeline: private events only (the public tracking page shows public ones without proof).
    events = db.session.scalars(select(TimelineEvent).where(TimelineEvent.kind == "complaint")).all()
    assert len(events) >= 2 and not any(e.public for e in events)
    # Nobody assigned and no support address: every active staff user, once each.
    mail = sent_mail(smtp)
    assert sorted(r[0] for r, _ in mail) == ["owner@example.com", "staff@example.com"]
    text = mail[0][1].get_body(preferencelist=("plain",)).get_content()
    html = mail[0][1].get_body(preferencelist=("html",)).get_content()
    assert "It arrived <b>broken</b>." in text and "It arrived &lt;b&gt;broken&lt;/b&gt;." in html
    assert "Ann &lt;b&gt;Example&lt;/b&gt;" in html and "<b>Example" not in html
    assert f"{BASE}/oms/admin/complaints/{complaint.id}" in text
    assert outbox.run_once() == (0, 0)  # sent once: nothing left


@pytest.mark.parametrize("extra_config", [{"OMS_SUPPORT_EMAIL": "help@shop.example"}])
def test_support_address_then_assignee_get_the_customers_messages(app, order, staff_user, owner_user, smtp):
    complaint = complaints.open_complaint(order.id, subject="Late", category="Delivery", body="Where is it?")
    assert [r for r, _ in sent_mail(smtp)] == [["help@shop.example"]]
    complaints.assign(complaint.id, staff_user.id, actor="staff:owner@example.com")
    complaints.customer_reply(order.id, complaint.id, body="Any news?")
    assert [r for r, _ in sent_mail(smtp)][-1] == ["staff@example.com"]


def test_staff_reply_is_emailed_with_a_link_back_to_the_thread_and_notes_are_not(app, order, staff_user,
                                                                                 smtp):
    complaint = complaints.open_complaint(order.id, subject="Wrong colour", category="Wrong item",
                                          body="I ordered blue.")
    sent_mail(smtp)
    smtp.inbox.received.clear()
    complaints.staff_reply(complaint.id, body="Internal: check stock <i>first</i>", user=staff_user,
                           internal=True)
    assert db.session.get(Complaint, complaint.id).status == complaints.WAITING_ON_US
    assert sent_mail(smtp) == []
    complaints.staff_reply(complaint.id, body="Sorry! A blue one is <on its way>.", user=staff_user)
    assert db.session.get(Complaint, complaint.id).status == complaints.WAITING_ON_CUSTOMER
    mail = sent_mail(smtp)
    assert [r for r, _ in mail] == [["ann@example.com"]]
    message = mail[0][1]
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    assert "A blue one is <on its way>." in text and "&lt;on its way&gt;" in html
    assert "Internal" not in text and "Internal" not in html
    assert message["Subject"] == f"Re: Wrong colour (order {order.number})"
    link = re.search(r"https://shop\.example(\S+/link/\S+)", text).group(1)
    # The link proves the order in a fresh browser and lands on the thread, without the note.
    stranger = app.test_client()
    landing = stranger.get(link)
    assert landing.status_code == 303 and landing.headers["Location"].endswith(
        docs(order.id, "complaints", complaint.id))
    thread = stranger.get(docs(order.id, "complaints", complaint.id)).get_data(as_text=True)
    assert "A blue one is &lt;on its way&gt;." in thread and "check stock" not in thread
    # The customer answers from there: it waits on us again.
    response = stranger.post(docs(order.id, "complaints", complaint.id),
                             data={"body": "Thanks!", "csrf_token": csrf_of(thread)})
    assert response.status_code == 303
    assert db.session.get(Complaint, complaint.id).status == complaints.WAITING_ON_US


def test_a_link_for_another_order_or_forged_proves_nothing(app, order, place):
    other = place(confirm=True, email="bob@example.com")
    complaint = complaints.open_complaint(other.id, subject="Bob's", category="Other", body="Bob's secret")
    client = app.test_client()
    token = customer_proof.link_token(order.id)
    assert client.get(docs(other.id, "complaints", complaint.id, "link", token)).status_code == 400
    assert client.get(docs(other.id, "complaints", complaint.id)).status_code == 404
    forged = customer_proof.link_token(other.id)[:-2] + "xx"
    assert client.get(docs(other.id, "complaints", complaint.id, "link", forged)).status_code == 400
    assert client.get(docs(other.id)).status_code == 404


def test_nothing_of_another_order_is_reachable(app, order, place):
    other = place(confirm=True, email="bob@example.com", name="Bob Other")
    theirs = complaints.open_complaint(other.id, subject="Bob's parcel", category="Other",
                                       body="Bob's secret",
                                       files=[Incoming("b.jpg", photo((0, 0, 200)))])
    token = db.session.scalars(select(Upload)).one().token
    client = proven_client(app, order)
    before = count(ComplaintMessage)
    for url in (docs(order.id, "complaints", theirs.id), docs(other.id, "complaints", theirs.id),
                docs(order.id, "complaints", "photos", token), docs(other.id, "complaints", "photos", token),
                docs(other.id, "complaints")):
        response = client.get(url)
        assert response.status_code == 404, url
        assert b"Bob" not in response.data and response.mimetype != "image/jpeg"
    page = client.get(docs(order.id)).get_data(as_text=True)
    assert "Bob" not in page
    # Writing into their thread through our proven order: refused, nothing written.
    hello = {"body": "hi", "csrf_token": csrf_of(page)}
    reply = client.post(docs(order.id, "complaints", theirs.id), data=hello)
    assert reply.status_code == 404 and count(ComplaintMessage) == before
    reply = client.post(docs(other.id, "complaints", theirs.id), data=hello)
    assert reply.status_code == 404 and count(ComplaintMessage) == before


def test_an_unproven_visitor_sees_and_sends_nothing(app, client, order):
    complaint = complaints.open_complaint(order.id, subject="Mine", category="Other", body="private words",
                                          files=[Incoming("a.jpg", photo())])
    token = db.session.scalars(select(Upload)).one().token
    for url in (docs(order.id, "complaints"), docs(order.id, "complaints", complaint.id),
                docs(order.id, "complaints", "photos", token)):
        response = client.get(url)
        assert response.status_code == 404 and b"private words" not in response.data
        assert response.mimetype == "text/html"
    # Staff's photo URL needs a log-in.
    staff_url = f"/oms/admin/complaints/photos/{token}"
    assert client.get(staff_url).status_code == 302
    page = client.get(docs()).get_data(as_text=True)
    response = client.post(docs(order.id, "complaints"), data={
        "subject": "x", "category": "Other", "body": "y", "csrf_token": csrf_of(page)})
    assert response.status_code == 404 and count(Complaint) == 1


def test_public_forms_need_csrf_and_are_rate_limited(app, order):
    client = proven_client(app, order)
    no_token = {"subject": "s", "category": "Other", "body": "b"}
    response = client.post(docs(order.id, "complaints"), data=no_token)
    assert response.status_code == 400 and count(Complaint) == 0
    page = client.get(docs(order.id)).get_data(as_text=True)
    statuses = [client.post(docs(order.id, "complaints"), data={
        "subject": "", "category": "Other", "body": "b", "csrf_token": csrf_of(page)}).status_code
        for _ in range(22)]
    assert 429 in statuses and count(Complaint) == 0


@pytest.mark.parametrize("fields, files, message", [
    ({"subject": ""}, [], "The subject is required"),
    ({"subject": "x" * 201}, [], "longer than 200"),
    ({"category": "Not a category"}, [], "Pick one of the categories"),
    ({"body": "   "}, [], "The message is required"),
    ({"body": "x" * 5001}, [], "longer than 5000"),
    ({}, [("evil.svg", b"<svg onload=alert(1)></svg>")], "Only photos"),
    ({}, [("page.jpg", b"<html><script>alert(1)</script></html>")], "Only photos"),
    ({}, [("none.jpg", b"")] + [(f"{i}.jpg", photo()) for i in range(6)], "At most 5 photos"),
])
def test_bad_input_is_refused_with_a_message_and_changes_nothing(app, order, fields, files, message):
    client = proven_client(app, order)
    page = client.get(docs(order.id)).get_data(as_text=True)
    data = {"subject": "Broken", "category": "Damaged item", "body": "text", "csrf_token": csrf_of(page),
            **fields, "photos": [(io.BytesIO(d), n) for n, d in files]}
    before = (count(Complaint), count(ComplaintMessage), count(Upload), count(OutboxMessage),
              count(TimelineEvent))
    response = client.post(docs(order.id, "complaints"), data=data, content_type="multipart/form-data")
    assert response.status_code == 400
    assert message in response.get_data(as_text=True).replace("&#39;", "'")
    assert (count(Complaint), count(ComplaintMessage), count(Upload), count(OutboxMessage),
            count(TimelineEvent)) == before


@pytest.mark.parametrize("extra_config", [{"OMS_UPLOAD_MAX_BYTES": 4096, "OMS_UPLOAD_MAX_PER_MESSAGE": 1}])
def test_an_oversize_photo_and_an_oversize_request_are_refused(app, order):
    client = proven_client(app, order)
    page = client.get(docs(order.id)).get_data(as_text=True)
    big = io.BytesIO()
    Image.effect_noise((120, 120), 100).convert("RGB").save(big, format="JPEG", quality=100)
    assert len(big.getvalue()) > 4096
    data = {"subject": "s", "category": "Other", "body": "b", "csrf_token": csrf_of(page),
            "photos": [(io.BytesIO(big.getvalue()), "big.jpg")]}
    response = client.post(docs(order.id, "complaints"), data=data, content_type="multipart/form-data")
    assert response.status_code == 400 and "larger than" in response.get_data(as_text=True)
    # A body beyond what any message could be is cut off before it is read.
    data["photos"] = [(io.BytesIO(b"x" * 400_000), "huge.jpg")]
    response = client.post(docs(order.id, "complaints"), data=data, content_type="multipart/form-data")
    assert response.status_code == 413 and count(Complaint) == 0 and count(Upload) == 0


# ------------------------------------------------------------------ the state machine and staff actions


def test_state_machine_edges(app, order, staff_user):
    complaint = complaints.open_complaint(order.id, subject="s", category="Other", body="b")
    actor = staff_user.actor
    with pytest.raises(ValidationError, match="already"):
        complaints.set_status(complaint.id, complaints.WAITING_ON_US, actor=actor)
    with pytest.raises(ValidationError, match="Pick one"):
        complaints.set_status(complaint.id, "closed", actor=actor)
    complaints.set_status(complaint.id, complaints.RESOLVED, actor=actor, reason="replaced")
    done = db.session.get(Complaint, complaint.id)
    assert done.status == complaints.RESOLVED and done.waiting_since is None
    with pytest.raises(ValidationError, match="cannot become"):
        complaints.set_status(complaint.id, complaints.WAITING_ON_CUSTOMER, actor=actor)
    with pytest.raises(ValidationError, match="reopen it"):
        complaints.staff_reply(complaint.id, body="hello", user=staff_user)
    complaints.staff_reply(complaint.id, body="note on a resolved one", user=staff_user, internal=True)
    # The customer writing again reopens it: waiting on us.
    complaints.customer_reply(order.id, complaint.id, body="It broke again")
    assert db.session.get(Complaint, complaint.id).status == complaints.WAITING_ON_US
    complaints.set_status(complaint.id, complaints.RESOLVED, actor=actor)
    complaints.set_status(complaint.id, complaints.OPEN, actor=actor, reason="reopened")
    assert db.session.get(Complaint, complaint.id).status == complaints.OPEN
    assert set(complaints.TRANSITIONS) == set(complaints.STATUSES)
    assert complaints.TRANSITIONS == {
        "open": {"waiting_on_us", "waiting_on_customer", "resolved"},
        "waiting_on_us": {"open", "waiting_on_customer", "resolved"},
        "waiting_on_customer": {"open", "waiting_on_us", "resolved"},
        "resolved": {"open", "waiting_on_us"},
    }
    messages = [e.message for e in db.session.scalars(select(TimelineEvent).where(
        TimelineEvent.kind == "complaint").order_by(TimelineEvent.id))]
    assert any("Waiting on us → Resolved (replaced)" in m for m in messages)
    assert any("internal note" in m for m in messages)


def test_waiting_since_keeps_the_start_of_the_wait(app, order, staff_user):
    complaint = complaints.open_complaint(order.id, subject="s", category="Other", body="b")
    since = db.session.get(Complaint, complaint.id).waiting_since
    complaints.customer_reply(order.id, complaint.id, body="again")
    db.session.expire_all()
    assert db.session.get(Complaint, complaint.id).waiting_since == since


def test_several_complaints_per_order_and_dashboard_oldest_first(app, order, staff_client, place):
    from datetime import timedelta

    first = complaints.open_complaint(order.id, subject="First <one>", category="Other", body="b")
    second = complaints.open_complaint(order.id, subject="Second", category="Delivery", body="b")
    other = complaints.open_complaint(place(confirm=True).id, subject="Third", category="Other", body="b")
    # Make the second the oldest wait.
    row = db.session.get(Complaint, second.id)
    row.waiting_since = row.waiting_since - timedelta(days=3)
    db.session.commit()
    count_, waiting = complaints.waiting_on_us()
    assert count_ == 3 and [w.complaint.id for w in waiting] == [second.id, first.id, other.id]
    assert waiting[0].age == "3 days" and waiting[1].age == "< 1 h"
    page = staff_client.get("/oms/admin/").get_data(as_text=True)
    assert 'id="complaints-waiting"' in page and "First &lt;one&gt;" in page
    assert page.index("Second") < page.index("First &lt;one&gt;") < page.index("Third")
    assert re.search(r'id="count-complaints"[^>]*>\s*<span class="count">3<', page)
    # The order page lists its two.
    order_page = staff_client.get(f"/oms/admin/orders/{order.id}").get_data(as_text=True)
    assert 'id="complaints-panel"' in order_page
    assert f"/oms/admin/complaints/{first.id}" in order_page
    assert f"/oms/admin/complaints/{second.id}" in order_page
    assert f"/oms/admin/complaints/{other.id}" not in order_page


def test_staff_list_filters_and_thread_actions_over_htmx(app, order, staff_client, staff_user, owner_user):
    complaint = complaints.open_complaint(order.id, subject="Scratched <table>", category="Damaged item",
                                          body="Look", files=[Incoming("a.jpg", photo())])
    complaints.open_complaint(order.id, subject="Late parcel", category="Delivery", body="b")
    listing = staff_client.get("/oms/admin/complaints").get_data(as_text=True)
    assert "Scratched &lt;table&gt;" in listing and "Late parcel" in listing and "Complaints" in listing
    filtered = staff_client.get("/oms/admin/complaints?category=Delivery").get_data(as_text=True)
    assert "Late parcel" in filtered and "Scratched" not in filtered
    assert "Scratched" not in staff_client.get("/oms/admin/complaints?status=resolved").get_data(as_text=True)
    url = f"/oms/admin/complaints/{complaint.id}"
    page = staff_client.get(url).get_data(as_text=True)
    token = db.session.scalars(select(Upload)).first().token
    assert f"/oms/admin/complaints/photos/{token}" in page and "Scratched &lt;table&gt;" in page
    assert staff_client.get(f"/oms/admin/complaints/photos/{token}").data == \
        db.session.scalars(select(Upload)).first().data

    # Assign, note, reply, recategorise, resolve: each swaps the thread's body.
    def act(action, data):
        return staff_client.post(f"{url}/{action}", data, htmx=True).get_data(as_text=True)

    body = act("assign", {"assignee_id": str(owner_user.id)})
    assert body.lstrip().startswith('<div id="complaint-body">') and "Assigned to Olive" in body
    assert "Pick an active staff user" in act("assign", {"assignee_id": "999999"})
    body = act("note", {"body": "check <the> stock"})
    assert "Internal note added." in body and "check &lt;the&gt; stock" in body
    body = act("reply", {"body": "On its way"})
    assert "Reply sent to the customer." in body and 'data-status="waiting_on_customer"' in body
    body = act("category", {"category": "Wrong item"})
    assert "Category: Wrong item." in body
    body = act("status", {"status": "resolved", "reason": "sent"})
    assert 'data-status="resolved"' in body
    done = db.session.get(Complaint, complaint.id)
    db.session.refresh(done)
    assert (done.status, done.category, done.assignee_id) == ("resolved", "Wrong item", owner_user.id)
    # A plain post answers with a redirect and a flash.
    plain = staff_client.post(url + "/status", {"status": "open"})
    assert plain.status_code == 302 and plain.headers["Location"].endswith(url)
    # Missing complaint: 404.
    assert staff_client.get("/oms/admin/complaints/999999").status_code == 404
    assert staff_client.post("/oms/admin/complaints/999999/reply", {"body": "x"}).status_code == 404
    # Staff posts need CSRF.
    assert staff_client.client.post(url + "/note", data={"body": "x"}).status_code == 400


def test_back_office_complaint_pages_need_a_log_in(client, order):
    complaint = complaints.open_complaint(order.id, subject="s", category="Other", body="b")
    url = f"/oms/admin/complaints/{complaint.id}"
    for path in ("/oms/admin/complaints", url):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"]
    for action in ("reply", "note", "status", "assign", "category"):
        response = client.post(f"{url}/{action}", data={"body": "x", "status": "resolved"})
        assert response.status_code in (302, 400)
    assert count(ComplaintMessage) == 1 and db.session.get(Complaint, complaint.id).status == "waiting_on_us"


def test_emails_are_queued_once_per_message_and_recipient(app, order, staff_user, owner_user):
    complaint = complaints.open_complaint(order.id, subject="s", category="Other", body="b")
    keys = [m.idempotency_key for m in db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.kind == complaint_emails.EMAIL_KIND))]
    assert len(keys) == 2 and len(set(keys)) == 2
    complaints.staff_reply(complaint.id, body="note", user=staff_user, internal=True)
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.kind == complaint_emails.EMAIL_KIND)) == 2


def test_a_subject_with_line_breaks_is_one_line(app, order):
    complaint = complaints.open_complaint(order.id, subject="Broken\r\nBcc: x@evil.example", category="Other",
                                          body="b")
    assert db.session.get(Complaint, complaint.id).subject == "Broken Bcc: x@evil.example"


def test_service_refuses_ids_out_of_range(app, order):
    for bad in (0, -1, 2**31, 2**63):
        with pytest.raises(NotFound):
            complaints.customer_reply(order.id, bad, body="x")
    with pytest.raises(NotFound):
        complaints.open_complaint(2**40, subject="s", category="Other", body="b")
    assert count(Complaint) == 0


@pytest.mark.parametrize("bad", [{"OMS_COMPLAINT_CATEGORIES": []}, {"OMS_COMPLAINT_CATEGORIES": "Other"},
                                 {"OMS_UPLOAD_MAX_BYTES": 0}, {"OMS_UPLOAD_MAX_PER_MESSAGE": -1},
                                 {"OMS_UPLOAD_MAX_PIXELS": "many"}])
def test_bad_settings_are_refused_at_start(database_url, bad):
    from oms_core.testing import make_app

    with pytest.raises(ValueError):
        make_app(database_url, upgrade=False, **bad)


# ------------------------------------------------------------------ concurrency


def test_replies_at_once_all_land_and_the_status_follows_the_last(app, order, staff_user):
    """The order's row lock serialises writers in a thread: whatever the interleaving,
    every message is kept and the status says who wrote last."""
    from oms_core.models import StaffUser
    from test_concurrency import race

    order_id = order.id
    complaint_id = complaints.open_complaint(order_id, subject="s", category="Other", body="first").id
    staff_id = staff_user.id
    db.session.remove()

    def work(i):
        if i % 2:
            return complaints.customer_reply(order_id, complaint_id, body=f"customer {i}").id
        staff = db.session.get(StaffUser, staff_id)
        return complaints.staff_reply(complaint_id, body=f"staff {i}", user=staff).id

    results = race(app, 10, work)
    assert all(kind == "ok" for kind, _ in results), results
    db.session.expire_all()
    messages = db.session.scalars(select(ComplaintMessage).order_by(ComplaintMessage.id)).all()
    assert len(messages) == 11
    last = messages[-1]
    expected = complaints.WAITING_ON_US if last.author_kind == "customer" else complaints.WAITING_ON_CUSTOMER
    assert db.session.get(Complaint, complaint_id).status == expected


def test_resolving_at_once_resolves_once(app, order, staff_user):
    from test_concurrency import race

    complaint_id = complaints.open_complaint(order.id, subject="s", category="Other", body="b").id
    db.session.remove()

    def resolve(i):
        return complaints.set_status(complaint_id, complaints.RESOLVED, actor=f"staff:{i}").id

    results = race(app, 8, resolve)
    assert [kind for kind, _ in results].count("ok") == 1
    assert all(isinstance(err, ValidationError) for kind, err in results if kind == "error")
    resolved = db.session.scalar(select(func.count()).select_from(TimelineEvent).where(
        TimelineEvent.message.like("%→ Resolved%")))
    assert resolved == 1


# ------------------------------------------------------------------ the customer's language


def test_a_german_customer_gets_the_staff_reply_in_german_and_staff_read_english(app, place, staff_user,
                                                                                 smtp):
    order = place(confirm=True, locale="de", email="anna@example.com", name="Anna Beispiel")
    outbox.run_once()  # its confirmation email: out of the way
    smtp.inbox.received.clear()
    complaint = complaints.open_complaint(order.id, subject="Falsche Farbe", category="Wrong item",
                                          body="Ich wollte blau.", files=[Incoming("a.jpg", photo())])
    staff_mail = sent_mail(smtp)
    staff_text = staff_mail[0][1].get_body(preferencelist=("plain",)).get_content()
    assert staff_mail[0][1]["Subject"] == f"Complaint #{complaint.id} on order {order.number}: Falsche Farbe"
    assert "wrote on complaint" in staff_text and "1 photo attached in the thread" in staff_text
    smtp.inbox.received.clear()
    complaints.staff_reply(complaint.id, body="Eine blaue ist unterwegs.", user=staff_user,
                           files=[Incoming("b.jpg", photo()), Incoming("c.jpg", photo((0, 0, 200)))])
    (recipients, message), = sent_mail(smtp)
    assert recipients == ["anna@example.com"]
    assert message["Subject"] == f"Re: Falsche Farbe (Bestellung {order.number})"
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    assert text.startswith("Hallo Anna Beispiel,")
    assert f"Wir haben auf Ihre Reklamation „Falsche Farbe“ zur Bestellung {order.number} geantwortet:" in text
    assert "Fotos im Gesprächsverlauf: 2." in text
    assert "Den ganzen Gesprächsverlauf lesen und antworten: https://shop.example" in text
    assert 'lang="de"' in html and "<strong>Falsche Farbe</strong>" in html
    assert "Den ganzen Gesprächsverlauf lesen und antworten</a>" in html
    assert "We replied" not in text + html and "Hello" not in text + html


def test_the_subject_the_customer_typed_stays_escaped_in_the_translated_email(app, place, staff_user, smtp):
    order = place(confirm=True, locale="fr", email="zoe@example.com", name="Zoé <i>X</i>")
    outbox.run_once()  # its confirmation email: out of the way
    complaint = complaints.open_complaint(order.id, subject="<b>Cassé</b> {number} %(x)s", category="Other",
                                          body="Voilà.")
    sent_mail(smtp)
    smtp.inbox.received.clear()
    complaints.staff_reply(complaint.id, body="Désolés.", user=staff_user)
    (_, message), = sent_mail(smtp)
    assert message["Subject"] == f"Re : <b>Cassé</b> {{number}} %(x)s (commande {order.number})"
    html = message.get_body(preferencelist=("html",)).get_content()
    assert "<strong>&lt;b&gt;Cassé&lt;/b&gt; {number} %(x)s</strong>" in html and "Zoé &lt;i&gt;X&lt;/i&gt;" in html


def fresh_page(app, client, url, **kw) -> str:
    """A page in its own app context, as a served request has: the app fixture's
    context would otherwise keep the first request's language (Flask-Babel caches
    it on `g`)."""
    with app.app_context():
        return client.get(url, **kw).get_data(as_text=True)


@pytest.mark.parametrize("how", [{"query": "?lang=nl"}, {"headers": {"Accept-Language": "nl-NL,nl;q=0.9"}}])
def test_the_complaint_pages_speak_the_visitors_language(app, order, staff_user, how):
    client = proven_client(app, order)
    assert open_by_web(client, order, files=[("a.jpg", photo())]).status_code == 303
    complaint = db.session.scalars(select(Complaint)).one()
    complaints.staff_reply(complaint.id, body="Sorry!", user=staff_user)
    query, headers = how.get("query", ""), how.get("headers", {})
    thread = fresh_page(app, client, docs(order.id, "complaints", complaint.id) + query, headers=headers)
    assert '<html lang="nl">' in thread
    assert ">Wacht op uw antwoord</strong>" in thread and "geopend op" in thread
    assert ">U\n" in thread and 'alt="Foto 1"' in thread and "Uw antwoord</label>" in thread
    assert ">Versturen</button>" in thread and "Terug naar uw bestelling" in thread
    assert "Your answer" not in thread, thread
    documents = fresh_page(app, client, docs(order.id) + query, headers=headers)
    assert "<h2>Vragen en klachten</h2>" in documents and "Berichten: 2" in documents
    assert "Klopt er iets niet met uw bestelling? Laat het ons weten" in documents
    assert "Foto's (maximaal" in documents
    new = fresh_page(app, client, docs(order.id, "complaints") + query, headers=headers)
    assert "<h1>Een klacht indienen</h1>" in new and ">Onderwerp</label>" in new
    # A resolved complaint: the reply box says writing reopens it, in Dutch too.
    complaints.set_status(complaint.id, complaints.RESOLVED, actor="staff:test", reason="done")
    thread = fresh_page(app, client, docs(order.id, "complaints", complaint.id) + query, headers=headers)
    assert ">Opgelost</strong>" in thread and "Opnieuw schrijven (hiermee wordt de klacht heropend)" in thread


def test_the_email_link_refusal_speaks_the_visitors_language(app, order, place):
    """A genuine link of another order, used on this one: the view's own refusal."""
    complaint = complaints.open_complaint(order.id, subject="Mug", category="Other", body="Hm.")
    other = customer_proof.link_token(place(confirm=True, email="bob@example.com").id)
    page = fresh_page(app, app.test_client(), docs(order.id, "complaints", complaint.id, "link", other),
                      query_string={"lang": "de"})
    assert "Dieser Link ist ungültig." in page and "This link" not in page
