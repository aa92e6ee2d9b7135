"""Assembly and installation jobs (services/assembly.py): the service line (priced,
taxed, no stock), one job per order, its state machine and scheduling rules, the
customer's preferred slots and move requests, the calendar file (parsed back with
icalendar) and the emails that carry it, the back-office pages and the customer's
routes, and hypothesis fuzzing of every new form. SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
from babel.dates import format_date
from sqlalchemy import func, select

from oms_core.db import db
from oms_core.errors import IllegalTransition, NotFound, ValidationError
from oms_core.models import AssemblyJob, Order, OutboxMessage, Product, StockMove, TimelineEvent
from oms_core.services import (assembly, catalog, customer_proof, demand_history,
                               notifications, orders, outbox, payments, shipments, users)
import test_notifications

smtp = test_notifications.smtp  # a real SMTP server on a free local port
ZONE = "Europe/Amsterdam"


@pytest.fixture
def app_config(smtp):
    return {"OMS_SMTP_HOST": "127.0.0.1", "OMS_SMTP_PORT": smtp.port, "OMS_SHOP": {"time_zone": ZONE},
            "OMS_PUBLIC_BASE_URL": "https://shop.example", "OMS_SHOP_NAME": "Corner Shop",
            "OMS_TAX_CLASSES": {"standard": {"NL": 2100, "*": 2000}}, "OMS_TRACKING_RATE_LIMIT": "8 per minute"}


@pytest.fixture
def wardrobe(make_product):
    return make_product(sku="WARDROBE", name="Oak wardrobe", price_minor=40000, on_hand=5,
                        assembly="required", assembly_price_minor=6050)


@pytest.fixture
def desk(make_product):
    return make_product(sku="DESK", name="Desk", price_minor=20000, on_hand=5, assembly="offered",
                        assembly_price_minor=3000)


@pytest.fixture
def fitter(app):
    return users.create_user(email="fitter@example.com", name="Fay Fitter", password="fitter-password")


@pytest.fixture
def job(place, wardrobe):
    """A confirmed order of two wardrobes and its job, to schedule."""
    order = place([(wardrobe.sku, 2)], confirm=True)
    return assembly.job_for_order(order.id)


def in_days(days: int) -> date:
    return assembly.today() + timedelta(days=days)


def events(order_id: int) -> list[str]:
    db.session.expire_all()
    return list(db.session.scalars(select(TimelineEvent.message).where(
        TimelineEvent.order_id == order_id, TimelineEvent.kind == "assembly").order_by(TimelineEvent.id)))


# ------------------------------------------------------------------ the service line


def test_required_assembly_is_a_taxed_service_line_that_reserves_no_stock(place, wardrobe):
    order = place([(wardrobe.sku, 2)], confirm=True)
    goods, service = order.lines
    assert (goods.service, goods.quantity, goods.gross_minor) == ("", 2, 80000)
    assert (service.service, service.sku, service.quantity, service.unit_price_minor) == ("assembly", "WARDROBE", 2, 6050)
    assert service.name == "Assembly: Oak wardrobe"
    # Taxed like the product, by the one rule: 12100 gross at 21% -> 2100 tax.
    assert (service.gross_minor, service.tax_rate_bp, service.tax_minor, service.net_minor) == (12100, 2100, 2100, 10000)
    assert order.total_minor == 92100 and order.tax_minor == goods.tax_minor + 2100
    db.session.expire_all()
    product = db.session.get(Product, wardrobe.id)
    assert (product.reserved, product.on_hand) == (2, 5)  # the goods only
    moves = db.session.scalars(select(StockMove).where(StockMove.order_id == order.id)).all()
    assert [(m.reserved_delta, m.on_hand_delta) for m in moves] == [(2, 0)]
    # Cancelling gives back the goods' units only, and cancels the job.
    orders.cancel_order(order.id, actor="test", reason="changed mind")
    db.session.expire_all()
    assert db.session.get(Product, wardrobe.id).reserved == 0
    assert assembly.job_for_order(order.id).status == "cancelled"


def test_offered_assembly_only_when_chosen_and_never_for_the_wrong_product(place, desk, make_product):
    plain = make_product(sku="CHAIR", price_minor=5000)
    without = place([(desk.sku, 1)], confirm=True)
    assert [line.service for line in without.lines] == [""]
    assert assembly.job_for_order(without.id) is None
    chosen = place([(desk.sku, 3), (plain.sku, 1)], assembly=["DESK"])
    assert [(line.sku, line.service, line.gross_minor) for line in chosen.lines] == [
        ("DESK", "", 60000), ("CHAIR", "", 5000), ("DESK", "assembly", 9000)]
    for wrong, message in ((["CHAIR"], "cannot be ordered with assembly"), (["NOPE"], "product of the order"),
                           (["DESK", "DESK", "DESK"], "more products")):
        with pytest.raises(ValidationError, match=message):
            place([(desk.sku, 1), (plain.sku, 1)], assembly=wrong)
    assert db.session.scalar(select(func.count()).select_from(Order)) == 2


def test_a_service_line_is_never_packed_nor_counted_as_demand(place, wardrobe):
    order = place([(wardrobe.sku, 1)], confirm=True, payment_method="cash_on_delivery")
    shipments.create_shipment(order.id, carrier_id="manual", service="DHL", tracking_number="JD1", actor="test")
    db.session.expire_all()
    order = db.session.get(Order, order.id)
    assert order.status == "shipped"  # every goods unit is in a booked parcel
    assert [(item.order_line.service, item.quantity) for item in order_parcel_lines(order.id)] == [("", 1)]
    history = demand_history.read("week", as_of=datetime.now(ZoneInfo("UTC")) + timedelta(days=14),
                                  product_ids=[wardrobe.id])
    assert sum(history.series[wardrobe.id]) == 1


def order_parcel_lines(order_id):
    from oms_core.models import Shipment, ShipmentLine

    return db.session.scalars(select(ShipmentLine).join(Shipment).where(Shipment.order_id == order_id)).all()


def test_product_assembly_setting_is_bounded(make_product):
    for choice, price, message in (("maybe", 0, "one of"), ("offered", -1, "negative"),
                                   ("offered", 2**31, "at most"), ("none", 100, "no assembly price"),
                                   ("offered", 1.5, "whole number")):
        with pytest.raises(ValidationError, match=message):
            make_product(assembly=choice, assembly_price_minor=price)
    assert db.session.scalar(select(func.count()).select_from(Product)) == 0


# ------------------------------------------------------------------ the job and its machine


def test_the_job_is_created_once_when_the_order_is_confirmed(place, wardrobe):
    order = place([(wardrobe.sku, 1)], shipping_minor=0)
    assert assembly.job_for_order(order.id) is None  # placed only
    orders.confirm_order(order.id, actor="test")
    payments.record_payment(order.id, gateway_id="bank_transfer", amount_minor=order.total_minor,
                            currency="EUR", reference="T", actor="test")
    db.session.expire_all()
    assert db.session.get(Order, order.id).status == "paid"
    jobs = db.session.scalars(select(AssemblyJob).where(AssemblyJob.order_id == order.id)).all()
    assert len(jobs) == 1 and jobs[0].status == "to_schedule"
    assert (jobs[0].name, jobs[0].line1, jobs[0].city, jobs[0].country) == ("Ann Example", "1 Main St", "Springfield", "NL")
    assert events(order.id) == ["Assembly job created: to schedule."]


def test_an_order_confirmed_at_placing_gets_its_job_after_both_status_steps(place, wardrobe):
    """place_order writes a confirmed order with Core; the job and its event come after
    the placed and confirmed steps, in the same transaction, once."""
    order = place([(wardrobe.sku, 2)], confirm=True)
    db.session.expire_all()
    steps = db.session.execute(select(TimelineEvent.kind, TimelineEvent.to_status, TimelineEvent.message)
                               .where(TimelineEvent.order_id == order.id).order_by(TimelineEvent.id)).all()
    assert [(kind, to) for kind, to, _message in steps] == [
        ("status_changed", "placed"), ("status_changed", "confirmed"), ("assembly", None)]
    assert steps[-1].message == "Assembly job created: to schedule."
    jobs = db.session.scalars(select(AssemblyJob).where(AssemblyJob.order_id == order.id)).all()
    assert len(jobs) == 1 and jobs[0].status == "to_schedule" and jobs[0].city == "Springfield"
    service = [line for line in db.session.get(Order, order.id).lines if line.service]
    assert [(line.name, line.quantity, line.unit_price_minor) for line in service] == [
        ("Assembly: Oak wardrobe", 2, 6050)]


def test_the_job_machine_edges_are_written_out():
    """A change to the table is a decision: this list changes with it."""
    edges = sorted((source, target) for source, targets in assembly.TRANSITIONS.items() for target in targets)
    assert edges == [("cancelled", "to_schedule"), ("failed", "cancelled"), ("failed", "scheduled"),
                     ("scheduled", "cancelled"), ("scheduled", "done"), ("scheduled", "failed"),
                     ("scheduled", "scheduled"), ("to_schedule", "cancelled"), ("to_schedule", "scheduled")]
    assert set(assembly.LABELS) == set(assembly.TRANSITIONS)


def test_a_cancelled_order_confirmed_again_gets_its_job_back(place, wardrobe, fitter):
    order = place([(wardrobe.sku, 1)], confirm=True)
    job_id = assembly.job_for_order(order.id).id
    assembly.schedule(job_id, day=in_days(2), start=time(9), end=time(10), assignee_id=fitter.id, actor="staff:a")
    orders.cancel_order(order.id, actor="test", reason="r")
    from oms_core.db import write_transaction
    from oms_core.services.common import lock_order

    with write_transaction():  # what services.status does when a late payment reopens the order
        assembly.order_confirmed(lock_order(order.id), actor="test")
    jobs = db.session.scalars(select(AssemblyJob).where(AssemblyJob.order_id == order.id)).all()
    assert [job.status for job in jobs] == ["to_schedule"]
    assert events(order.id)[-2:] == ["Assembly cancelled: order cancelled",
                                     "Assembly to schedule: order confirmed again"]
    # Its next appointment replaces the cancelled one in the customer's calendar.
    again = assembly.schedule(job_id, day=in_days(3), start=time(9), end=time(10), assignee_id=fitter.id,
                              actor="staff:a")
    assert again.sequence == 2


def test_scheduling_rules(job, fitter, staff_user):
    args = dict(day=in_days(3), start=time(9), end=time(12), assignee_id=fitter.id, actor="staff:test")
    refusals = [
        (dict(end=time(9)), "end after it starts"), (dict(end=time(8)), "end after it starts"),
        (dict(day=in_days(-1)), "must be between"), (dict(day=in_days(assembly.MAX_DAYS_AHEAD + 1)), "must be between"),
        (dict(day=datetime.now()), "must be a date"), (dict(start="09:00"), "two times"),
        (dict(assignee_id=999_999), "active staff"), (dict(assignee_id=True), "active staff"),
        (dict(assignee_id="1"), "active staff"),
    ]
    for change, message in refusals:
        with pytest.raises(ValidationError, match=message):
            assembly.schedule(job.id, **dict(args, **change))
    users.set_active("fitter@example.com", False)
    with pytest.raises(ValidationError, match="active staff"):
        assembly.schedule(job.id, **args)
    with pytest.raises(IllegalTransition):
        assembly.mark_done(job.id, actor="staff:test")  # not scheduled yet
    with pytest.raises(NotFound):
        assembly.schedule(2**40, **dict(args, assignee_id=staff_user.id))
    db.session.expire_all()
    unchanged = db.session.get(AssemblyJob, job.id)
    assert (unchanged.status, unchanged.sequence, unchanged.scheduled_date) == ("to_schedule", 0, None)
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.payload["status"].as_string() == "assembly_scheduled")) == 0


def test_schedule_move_fail_and_done_each_on_the_timeline(job, fitter, staff_user):
    scheduled = assembly.schedule(job.id, day=in_days(2), start=time(9, 0, 30), end=time(12), assignee_id=fitter.id,
                                  actor="staff:a")
    assert (scheduled.status, scheduled.sequence, scheduled.window_start) == ("scheduled", 0, time(9))
    moved = assembly.schedule(job.id, day=in_days(4), start=time(13), end=time(17), assignee_id=staff_user.id,
                              actor="staff:a", note="customer asked")
    assert (moved.sequence, moved.assignee_id, moved.scheduled_date) == (1, staff_user.id, in_days(4))
    assembly.mark_failed(job.id, reason="Nobody home", actor="staff:b")
    with pytest.raises(ValidationError):
        assembly.mark_failed(job.id, reason=" ", actor="staff:b")
    again = assembly.schedule(job.id, day=in_days(5), start=time(9), end=time(10), assignee_id=fitter.id,
                              actor="staff:a")
    # Booked again: the same calendar event, a higher SEQUENCE, the failure's reason gone.
    assert (again.status, again.sequence, again.reason) == ("scheduled", 2, "")
    assembly.mark_done(job.id, actor="staff:b")
    with pytest.raises(IllegalTransition):
        assembly.schedule(job.id, day=in_days(6), start=time(9), end=time(10), assignee_id=fitter.id, actor="x")
    log = events(job.order_id)
    assert log[0] == "Assembly job created: to schedule."
    assert log[1].startswith("Assembly scheduled: ") and "Fay Fitter" in log[1]
    assert log[2].startswith("Assembly scheduled: moved to ") and "(customer asked)" in log[2]
    assert log[3:] == ["Assembly failed: Nobody home", log[4], "Assembly done."]
    actors = db.session.scalars(select(TimelineEvent.actor).where(
        TimelineEvent.order_id == job.order_id, TimelineEvent.kind == "assembly").order_by(TimelineEvent.id)).all()
    assert actors[1:] == ["staff:a", "staff:a", "staff:b", "staff:a", "staff:b"]


def test_staff_correct_the_address_and_notes(job):
    assembly.update_details(job.id, address={"name": "Ann", "line1": "2 Side St", "city": "Ville", "country": "nl"},
                            notes="Bring the long drill", actor="staff:a")
    db.session.expire_all()
    changed = db.session.get(AssemblyJob, job.id)
    assert (changed.line1, changed.city, changed.country, changed.notes) == ("2 Side St", "Ville", "NL", "Bring the long drill")
    for address, message in (({"name": ""}, "Name is required"), ({"name": "A", "country": "Netherlands"}, "two-letter"),
                             ({"name": "A", "city": "x" * 500}, "longer than")):
        with pytest.raises(ValidationError, match=message):
            assembly.update_details(job.id, address=address, notes="", actor="staff:a")
    assert events(job.order_id)[1:] == ["Assembly address changed.", "Assembly notes changed."]


def test_customer_slots_and_move_requests(job, fitter):
    slots = [{"date": in_days(3).isoformat(), "part": "morning"}, {"date": in_days(3).isoformat(), "part": "morning"},
             {"date": in_days(4).isoformat(), "part": "evening"}, {"date": "", "part": "morning"}]
    assembly.set_preferences(job.order_id, slots=slots, note="Ring twice")
    db.session.expire_all()
    assert db.session.get(AssemblyJob, job.id).preferred_slots == [
        {"date": in_days(3).isoformat(), "part": "morning"}, {"date": in_days(4).isoformat(), "part": "evening"}]
    for bad, message in (([{"date": "tomorrow", "part": "morning"}], "not a date"),
                         ([{"date": "２０２６-01-01", "part": "morning"}], "not a date"),
                         ([{"date": in_days(1).isoformat(), "part": "night"}], "part of the day"),
                         ([{"date": in_days(-1).isoformat(), "part": "morning"}], "between"),
                         ([{"date": in_days(n).isoformat(), "part": "morning"} for n in range(1, 8)], "at most")):
        with pytest.raises(ValidationError, match=message):
            assembly.set_preferences(job.order_id, slots=bad, note="")
    with pytest.raises(IllegalTransition, match="once it is scheduled"):
        assembly.request_move(job.order_id, slots=slots[:1], note="")
    assembly.schedule(job.id, day=in_days(3), start=time(9), end=time(12), assignee_id=fitter.id, actor="staff:a")
    with pytest.raises(IllegalTransition, match="until the appointment is scheduled"):
        assembly.set_preferences(job.order_id, slots=slots[:1], note="")
    with pytest.raises(ValidationError, match="preferred slot or a note"):
        assembly.request_move(job.order_id, slots=[], note=" ")
    assembly.request_move(job.order_id, slots=[{"date": in_days(9).isoformat(), "part": "afternoon"}], note="Away")
    db.session.expire_all()
    asked = db.session.get(AssemblyJob, job.id)
    assert asked.move_requested and asked.customer_note == "Away"
    assert events(job.order_id)[-1] == f"Customer asks to move the appointment: {in_days(9).isoformat()} afternoon (Away)"
    # Staff accept by scheduling again: the request is answered.
    assembly.schedule(job.id, day=in_days(9), start=time(13), end=time(16), assignee_id=fitter.id, actor="staff:a")
    db.session.expire_all()
    assert not db.session.get(AssemblyJob, job.id).move_requested
    with pytest.raises(NotFound):
        assembly.request_move(2**40, slots=slots[:1], note="")


# ------------------------------------------------------------------ calendar file and emails


def parse(data: bytes):
    calendar = icalendar.Calendar.from_ical(data)
    event, = calendar.walk("VEVENT")
    return calendar, event


def test_the_calendar_file_keeps_its_uid_and_raises_its_sequence(job, fitter):
    assembly.schedule(job.id, day=in_days(2), start=time(9), end=time(12), assignee_id=fitter.id, actor="staff:a")
    name, first = assembly.calendar_download(job.order_id)
    calendar, event = parse(first)
    assert name == f"assembly-{db.session.get(Order, job.order_id).number}.ics"
    assert str(calendar["METHOD"]) == "REQUEST" and int(event["SEQUENCE"]) == 0
    zone = ZoneInfo(ZONE)
    assert event.decoded("DTSTART") == datetime.combine(in_days(2), time(9), tzinfo=zone)
    assert event.decoded("DTEND") == datetime.combine(in_days(2), time(12), tzinfo=zone)
    assert event["DTSTART"].params["TZID"] == ZONE and calendar.walk("VTIMEZONE")
    assert "1 Main St" in str(event["LOCATION"]) and str(event["ATTENDEE"]) == "mailto:ann@example.com"
    uid = str(event["UID"])
    assert uid.endswith("@shop.example")
    assembly.schedule(job.id, day=in_days(5), start=time(14), end=time(16), assignee_id=fitter.id, actor="staff:a")
    _calendar, moved = parse(assembly.calendar_download(job.order_id)[1])
    assert str(moved["UID"]) == uid and int(moved["SEQUENCE"]) == 1
    assert moved.decoded("DTSTART").astimezone(zone).hour == 14
    orders.cancel_order(job.order_id, actor="test", reason="r")
    cancelled_calendar, cancelled = parse(assembly.calendar_download(job.order_id)[1])
    assert str(cancelled_calendar["METHOD"]) == "CANCEL" and str(cancelled["STATUS"]) == "CANCELLED"
    assert str(cancelled["UID"]) == uid and int(cancelled["SEQUENCE"]) == 2


def test_the_customer_gets_each_appointment_once_with_its_calendar_file(app, job, fitter, smtp):
    assembly.schedule(job.id, day=in_days(2), start=time(9), end=time(12), assignee_id=fitter.id, actor="staff:a")
    assembly.schedule(job.id, day=in_days(3), start=time(9), end=time(12), assignee_id=fitter.id, actor="staff:a")
    orders.cancel_order(job.order_id, actor="test", reason="r")
    while outbox.run_once() != (0, 0):
        pass
    assert outbox.run_once() == (0, 0)  # nothing sent twice
    mails = [message for _, _, message in smtp.inbox.received if "ssembly" in message["Subject"]]
    assert [m["Subject"] for m in mails] == [
        f"Your assembly appointment for order {job.order.number}", f"Your assembly appointment for order {job.order.number}",
        f"Assembly appointment for order {job.order.number} cancelled"]
    sequences, methods = [], []
    for mail in mails:
        part, = mail.iter_attachments()
        assert part.get_content_type() == "text/calendar" and part.get_param("method") in ("REQUEST", "CANCEL")
        calendar, event = parse(part.get_payload(decode=True))
        sequences.append(int(event["SEQUENCE"]))
        methods.append(str(calendar["METHOD"]))
    assert sequences == [0, 1, 2] and methods == ["REQUEST", "REQUEST", "CANCEL"]
    text = mails[1].get_body(preferencelist=("plain",)).get_content()
    # The day as the customer's locale writes it (Babel, the shop's en_GB here).
    assert f"{format_date(in_days(3), 'full', locale='en_GB')}, between 09:00 and 12:00 ({ZONE} time)" in text
    link = text.split("Ask to move it: ")[1].split()[0]
    assert link.startswith("https://shop.example/track/documents/link/")
    # The payload keeps what was announced: the first email told the first day, sent late or not.
    first = db.session.scalars(select(OutboxMessage).where(OutboxMessage.idempotency_key.like("email-assembly-%"))
                               .order_by(OutboxMessage.id)).first()
    assert notifications.compose(first)["text"].count(format_date(in_days(2), "full", locale="en_GB")) == 1


# ------------------------------------------------------------------ back-office


def test_week_page_lists_jobs_per_assignee_and_the_waiting_oldest_first(staff_client, place, wardrobe, fitter):
    first = place([(wardrobe.sku, 1)], confirm=True)
    second = place([(wardrobe.sku, 1)], confirm=True, name="Bob <b>Builder</b>")
    waiting = assembly.job_for_order(second.id)
    scheduled = assembly.job_for_order(first.id)
    assembly.schedule(scheduled.id, day=in_days(1), start=time(9), end=time(11), assignee_id=fitter.id,
                      actor="staff:a")
    week = assembly.week_label(in_days(1) - timedelta(days=in_days(1).weekday()))
    page = staff_client.get(f"/oms/admin/assembly?week={week}").get_data(as_text=True)
    assert f"week {week}" in page and "Fay Fitter" in page and f'id="job-{scheduled.id}"' in page
    assert f'id="waiting-{waiting.id}"' in page and f'id="waiting-{scheduled.id}"' not in page
    assert "Bob &lt;b&gt;Builder&lt;/b&gt;" in page and "<b>Builder" not in page
    assert 'href="/oms/admin/assembly"' in staff_client.get("/oms/admin/").get_data(as_text=True)  # the menu
    for bad in ("2026-W99", "nonsense", "1999-W01", "²０２６-W01"):
        assert staff_client.get(f"/oms/admin/assembly?week={bad}").status_code == 400
    assert staff_client.client.get("/oms/admin/assembly", headers={}).status_code == 200


def test_staff_schedule_and_finish_from_the_week_page_and_the_order_page(staff_client, job, fitter):
    week = assembly.week_label(assembly.today())
    response = staff_client.post(f"/oms/admin/assembly/{job.id}/schedule", data={
        "date": in_days(2).isoformat(), "start": "10:00", "end": "09:00", "assignee_id": str(fitter.id), "week": week})
    assert response.status_code == 302 and f"week={week}" in response.headers["Location"]
    assert "must end after it starts" in staff_client.get(response.headers["Location"]).get_data(as_text=True)
    response = staff_client.post(f"/oms/admin/assembly/{job.id}/schedule", htmx=True, data={
        "date": in_days(2).isoformat(), "start": "10:00", "end": "12:30", "assignee_id": str(fitter.id)})
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and 'id="order-body"' in body and 'id="assembly-panel"' in body
    assert "Assembly scheduled for" in body and "10:00–12:30" in body
    response = staff_client.post(f"/oms/admin/assembly/{job.id}/failed", htmx=True, data={"reason": ""})
    assert "A reason is required" in response.get_data(as_text=True)
    staff_client.post(f"/oms/admin/assembly/{job.id}/done", data={"week": week})
    db.session.expire_all()
    assert db.session.get(AssemblyJob, job.id).status == "done"
    assert staff_client.post("/oms/admin/assembly/99999/done", data={}).status_code == 404


def test_assembly_pages_need_login(client, job):
    assert client.get("/oms/admin/assembly").status_code == 302
    response = client.post(f"/oms/admin/assembly/{job.id}/done")
    assert response.status_code in (302, 400) and b"Assembly done" not in response.data


def test_assembly_forms_need_their_csrf_token(job, staff_client):
    assert staff_client.client.post(f"/oms/admin/assembly/{job.id}/done", data={}).status_code == 400
    db.session.expire_all()
    assert db.session.get(AssemblyJob, job.id).status == "to_schedule"


def test_admin_new_order_and_product_forms_take_assembly(owner_client, desk):
    response = owner_client.post("/oms/admin/products/new", data={
        "sku": "BED", "name": "Bed", "price": "300.00", "currency": "EUR", "on_hand": "2",
        "assembly": "required", "assembly_price": "45.50"})
    assert response.status_code == 302
    bed = db.session.scalar(select(Product).where(Product.sku == "BED"))
    assert (bed.assembly, bed.assembly_price_minor) == ("required", 4550)
    bad = owner_client.post("/oms/admin/products/new", data={"sku": "BED2", "name": "Bed", "price": "1",
                                                             "assembly": "maybe"})
    assert bad.status_code == 400 and "Assembly is one of" in bad.get_data(as_text=True)
    form = owner_client.get("/oms/admin/orders/new").get_data(as_text=True)
    assert 'name="assembly" value="DESK"' in form and 'value="BED"' not in form.split('id="new-order-assembly"')[1][:400]
    response = owner_client.post("/oms/admin/orders/new", data={
        "email": "c@example.com", "name": "C", "channel": "phone", "payment_method": "cash_on_delivery",
        "sku": ["DESK", "BED"], "quantity": ["1", "1"], "assembly": "DESK", "confirm": "1", "country": "NL"})
    assert response.status_code == 302, response.get_data(as_text=True)
    order = db.session.scalars(select(Order).order_by(Order.id.desc())).first()
    assert sorted((line.sku, line.service) for line in order.lines) == [
        ("BED", ""), ("BED", "assembly"), ("DESK", ""), ("DESK", "assembly")]
    page = owner_client.get(f"/oms/admin/orders/{order.id}").get_data(as_text=True)
    assert 'id="assembly-panel"' in page and "To schedule" in page
    # Parcels are picked from the goods only.
    assert page.count('aria-label="Units of') == 2


def test_owners_set_a_products_assembly_on_its_page(owner_client, make_product):
    product = make_product(sku="SOFA", price_minor=90000)
    page = owner_client.get(f"/oms/admin/products/{product.id}").get_data(as_text=True)
    assert 'id="assembly-settings"' in page and "No assembly" in page
    response = owner_client.post(f"/oms/admin/products/{product.id}/assembly", htmx=True,
                                 data={"assembly": "offered", "assembly_price": "35.00"})
    assert "SOFA: assembly saved." in response.get_data(as_text=True) and "35.00" in response.get_data(as_text=True)
    bad = owner_client.post(f"/oms/admin/products/{product.id}/assembly", htmx=True,
                            data={"assembly": "offered", "assembly_price": "-1"})
    assert 'class="error"' in bad.get_data(as_text=True)
    db.session.expire_all()
    assert (db.session.get(Product, product.id).assembly, db.session.get(Product, product.id).assembly_price_minor) == (
        "offered", 3500)


def test_staff_cannot_set_a_products_assembly(staff_client, make_product):
    product = make_product(sku="SOFA", price_minor=90000)
    assert 'id="assembly-settings"' not in staff_client.get(f"/oms/admin/products/{product.id}").get_data(as_text=True)
    response = staff_client.post(f"/oms/admin/products/{product.id}/assembly", data={"assembly": "required"})
    assert response.status_code == 403
    db.session.expire_all()
    assert db.session.get(Product, product.id).assembly == "none"


def test_storefront_checkout_chooses_offered_assembly(app, desk):
    from oms_web.storefront import place_checkout_order

    with app.test_request_context():
        order = place_checkout_order(email="d@example.com", name="D", lines=[("DESK", 2)],
                                     payment_method="bank_transfer", assembly=["DESK"], address={"country": "NL"})
    assert [(line.service, line.gross_minor) for line in order.lines] == [("", 40000), ("assembly", 6000)]
    assert order.status == "confirmed" and assembly.job_for_order(order.id).status == "to_schedule"
    item, = catalog.items_on_sale(["DESK"])
    assert (item.assembly, item.assembly_price_minor) == ("offered", 3000)


# ------------------------------------------------------------------ the customer's page


def docs_url(*parts) -> str:
    return "/".join(["/track/documents", *map(str, parts)])


def proven_client(app, order_id: int):
    client = app.test_client()
    assert client.get(docs_url("link", customer_proof.link_token(order_id))).status_code == 303
    return client


def csrf_of(page: str) -> str:
    return page.split('name="csrf_token" value="')[1].split('"')[0]


def test_customer_gives_slots_sees_the_appointment_and_asks_to_move_it(app, job, fitter):
    client = proven_client(app, job.order_id)
    page = client.get(docs_url(job.order_id)).get_data(as_text=True)
    assert 'id="oms-assembly"' in page and "we will propose a date" in page and "Add to my calendar" not in page
    token = csrf_of(page)
    slots = {"slot-0-date": in_days(3).isoformat(), "slot-0-part": "morning", "note": "<b>gate code 12</b>",
             "csrf_token": token}
    assert client.post(docs_url(job.order_id, "assembly"), data=dict(slots, csrf_token="")).status_code == 400
    response = client.post(docs_url(job.order_id, "assembly"), data=slots)
    assert response.status_code == 303 and response.headers["Location"].endswith("#oms-assembly")
    page = client.get(docs_url(job.order_id)).get_data(as_text=True)
    assert "Thank you: we will propose" in page and in_days(3).isoformat() in page
    bad = client.post(docs_url(job.order_id, "assembly"), data=dict(slots, **{"slot-0-part": "night"}))
    assert bad.status_code == 400 and "Pick a part of the day" in bad.get_data(as_text=True)
    assert client.get(docs_url(job.order_id, "assembly.ics")).status_code == 404
    assembly.schedule(job.id, day=in_days(4), start=time(9), end=time(12), assignee_id=fitter.id, actor="staff:a")
    page = client.get(docs_url(job.order_id)).get_data(as_text=True)
    assert f"{format_date(in_days(4), 'full', locale='en_GB')}, 09:00–12:00" in page and "Fay Fitter" not in page
    download = client.get(docs_url(job.order_id, "assembly.ics"))
    assert download.status_code == 200 and download.mimetype == "text/calendar"
    assert int(parse(download.data)[1]["SEQUENCE"]) == 0
    response = client.post(docs_url(job.order_id, "assembly", "move"),
                           data={"slot-0-date": in_days(8).isoformat(), "slot-0-part": "evening", "note": "",
                                 "csrf_token": csrf_of(page)})
    assert response.status_code == 303
    page = client.get(docs_url(job.order_id)).get_data(as_text=True)
    assert 'id="oms-assembly-move-requested"' in page
    db.session.expire_all()
    assert db.session.get(AssemblyJob, job.id).move_requested


def test_without_proof_the_assembly_routes_show_nothing(app, job, place, wardrobe):
    other = place([(wardrobe.sku, 1)], confirm=True, email="bob@example.com")
    client = proven_client(app, other.id)
    csrf = csrf_of(client.get(docs_url(other.id)).get_data(as_text=True))
    data = {"slot-0-date": in_days(3).isoformat(), "slot-0-part": "morning", "csrf_token": csrf}
    for url in (docs_url(job.order_id, "assembly"), docs_url(job.order_id, "assembly", "move")):
        response = client.post(url, data=data)
        assert response.status_code == 404 and "1 Main St" not in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(AssemblyJob, job.id).preferred_slots == []
    assert client.get(docs_url(job.order_id, "assembly.ics")).status_code == 404
    assert app.test_client().get(docs_url(job.order_id, "assembly.ics")).status_code == 404


def test_customer_assembly_posts_are_rate_limited(app, job):
    client = proven_client(app, job.order_id)
    csrf = csrf_of(client.get(docs_url(job.order_id)).get_data(as_text=True))
    statuses = [client.post(docs_url(job.order_id, "assembly"),
                            data={"slot-0-date": "bad", "slot-0-part": "morning", "csrf_token": csrf}).status_code
                for _ in range(10)]
    assert statuses[:8] == [400] * 8 and statuses[8:] == [429, 429]


# ------------------------------------------------------------------ fuzzing the new forms


@pytest.mark.parametrize("app_config", [{"OMS_TRACKING_RATE_LIMIT": "100000 per minute", "OMS_SHOP": {"time_zone": ZONE}}])
def test_assembly_forms_survive_fuzzing_and_refusals_change_nothing(app, job, fitter, owner_client):
    import test_fuzz

    watched = dict(test_fuzz.WATCHED)
    test_fuzz.WATCHED[AssemblyJob] = (AssemblyJob.status, AssemblyJob.sequence, AssemblyJob.scheduled_date,
                                      AssemblyJob.window_start, AssemblyJob.window_end, AssemblyJob.assignee_id,
                                      AssemblyJob.move_requested, AssemblyJob.preferred_slots, AssemblyJob.notes,
                                      AssemblyJob.line1, AssemblyJob.reason)
    test_fuzz.WATCHED[Product] = test_fuzz.WATCHED[Product] + (Product.assembly, Product.assembly_price_minor)
    try:
        ids = {"job_id": [job.id], "order_id": [job.order_id], "product_id": [job.order.lines[0].product_id]}
        day = in_days(3).isoformat()
        seeds = {
            "oms_admin.assembly_week": {"week": assembly.week_label(assembly.today())},
            "oms_admin.assembly_schedule": {"date": day, "start": "09:00", "end": "12:00",
                                            "assignee_id": str(fitter.id), "note": "n"},
            "oms_admin.assembly_done": {"note": "n"},
            "oms_admin.assembly_failed": {"reason": "r"},
            "oms_admin.assembly_details": {"name": "Ann", "line1": "1 St", "line2": "", "postal_code": "1",
                                           "city": "C", "country": "NL", "notes": "n"},
            "oms_admin.product_assembly": {"assembly": "offered", "assembly_price": "1.00"},
            "oms_documents.assembly_preferences": {"slot-0-date": day, "slot-0-part": "morning", "note": "n"},
            "oms_documents.assembly_move": {"slot-0-date": day, "slot-0-part": "evening", "note": "n"},
        }
        rules = [rule for rule in app.url_map.iter_rules() if "assembly" in rule.endpoint]
        assert len(rules) == 9
        # The customer's routes with a proof in the same session as the staff login.
        with owner_client.client.session_transaction() as session:
            customer_proof.grant(session, job.order_id)
        with test_fuzz.recording(app):
            for rule in sorted(rules, key=lambda rule: rule.endpoint):
                for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                    test_fuzz.fuzz_endpoint(owner_client.client, rule, method, seeds=seeds, ids=ids,
                                            post=owner_client.post)
        assert {"date", "start", "end", "assignee_id"} <= test_fuzz.READ["oms_admin.assembly_schedule"]
        assert {"slot-0-date", "slot-0-part", "note"} <= test_fuzz.READ["oms_documents.assembly_move"]
    finally:
        test_fuzz.WATCHED.clear()
        test_fuzz.WATCHED.update(watched)


# ------------------------------------------------------------------ at once


def test_confirming_and_scheduling_at_once_make_one_job_and_one_email_per_sequence(app, place, wardrobe, fitter):
    from test_concurrency import race

    order_id, fitter_id = place([(wardrobe.sku, 1)]).id, fitter.id
    db.session.remove()
    outcomes = race(app, 6, lambda _i: orders.confirm_order(order_id, actor="test").id)
    assert sorted(kind for kind, _ in outcomes) == ["error"] * 5 + ["ok"]
    job_id = db.session.scalar(select(AssemblyJob.id).where(AssemblyJob.order_id == order_id))
    assert db.session.scalar(select(func.count()).select_from(AssemblyJob)) == 1
    db.session.remove()
    outcomes = race(app, 6, lambda i: assembly.schedule(job_id, day=in_days(1 + i), start=time(9), end=time(11),
                                                        assignee_id=fitter_id, actor=f"staff:{i}").id)
    assert [kind for kind, _ in outcomes] == ["ok"] * 6, outcomes
    emails = db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.idempotency_key.like("email-assembly-%"))).all()
    assert sorted(message.payload["assembly"]["sequence"] for message in emails) == [0, 1, 2, 3, 4, 5]
    assert len({message.idempotency_key for message in emails}) == 6
    assert db.session.get(AssemblyJob, job_id).sequence == 5
