"""Assembly and installation jobs (docs/architecture.md, "Assembly jobs").

A product may offer or require assembly at a price per unit. An order holding such
a product gets a service line (taxed like the product, reserving no stock) and,
once confirmed, one job: where (the order's address, which staff may correct), the
customer's preferred slots, the appointment staff set (a date and a time window in
the shop's time zone, OMS_SHOP["time_zone"]) and who goes. Its own state machine:

    to_schedule -> scheduled -> done
                   scheduled -> scheduled (moved: the calendar SEQUENCE grows)
                   scheduled -> failed -> scheduled (booked again)
    to_schedule | scheduled | failed -> cancelled (the order was cancelled)
    cancelled -> to_schedule (the order was confirmed again)

Every change is on the order's timeline. The customer gets an email with a
calendar file for each appointment and its cancellation, through the outbox, one
per SEQUENCE. A customer who proved the order (services.customer_proof) gives
preferred slots and asks to move an appointment; staff answer by scheduling again.
"""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from .. import limits, shop
from ..db import db, write_transaction
from ..errors import IllegalTransition, NotFound, ValidationError
from ..i18n import N_
from ..models import AssemblyJob, Order, Product, StaffUser
from . import assembly_calendar, notifications, outbox, timeline
from .common import fetch, lock_order, optional_text, required_text

SERVICE = "assembly"  # OrderLine.service of an assembly line
NONE, OFFERED, REQUIRED = "none", "offered", "required"
CHOICES = {NONE: "No assembly", OFFERED: "Assembly offered", REQUIRED: "Assembly required"}

TO_SCHEDULE, SCHEDULED, DONE, FAILED, CANCELLED = "to_schedule", "scheduled", "done", "failed", "cancelled"
LABELS = {TO_SCHEDULE: N_("To schedule"), SCHEDULED: N_("Scheduled"), DONE: N_("Done"), FAILED: N_("Failed"),
          CANCELLED: N_("Cancelled")}
TRANSITIONS = {
    TO_SCHEDULE: {SCHEDULED, CANCELLED},
    SCHEDULED: {SCHEDULED, DONE, FAILED, CANCELLED},
    FAILED: {SCHEDULED, CANCELLED},
    DONE: set(),
    CANCELLED: {TO_SCHEDULE},
}
# Parts of the day a customer may prefer.
PARTS_OF_DAY = {"morning": N_("Morning (8:00-12:00)"), "afternoon": N_("Afternoon (12:00-17:00)"),
                "evening": N_("Evening (17:00-21:00)")}
MAX_SLOTS = 5
# How far ahead an appointment or a preferred slot may be.
MAX_DAYS_AHEAD = 366
# Email kinds (notifications.SUBJECTS) and the calendar method each carries.
EMAIL_SCHEDULED, EMAIL_CANCELLED = "assembly_scheduled", "assembly_cancelled"
METHOD_OF_EMAIL = {EMAIL_SCHEDULED: "REQUEST", EMAIL_CANCELLED: "CANCEL"}
CUSTOMER = "customer"
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


# ------------------------------------------------------------------ products and order lines


def check_choice(choice: str, price_minor) -> tuple[str, int]:
    """A product's assembly setting, bounded: (choice, price per unit)."""
    if choice not in CHOICES:
        raise ValidationError(f"Assembly is one of {', '.join(CHOICES)}.")
    if isinstance(price_minor, int) and not isinstance(price_minor, bool) and price_minor < 0:
        raise ValidationError("The assembly price cannot be negative.")
    limits.check_whole(price_minor, "Assembly price", maximum=limits.MAX_AMOUNT_MINOR)
    if choice == NONE and price_minor:
        raise ValidationError("A product without assembly has no assembly price.")
    return choice, price_minor


def services_for(products: dict[str, Product], wanted: dict[str, int], chosen) -> dict[str, int]:
    """SKU -> units of assembly an order gets: every unit of a product that requires
    it, and of one that offers it when the customer chose it (`chosen`: SKUs).
    Choosing it for a product the order does not hold or that does not offer it is
    refused, not ignored: the customer would expect a visit that never comes."""
    chosen = list(chosen or ())
    if len(chosen) > len(wanted):
        raise ValidationError("Assembly was chosen for more products than the order holds.")
    picked = set()
    for sku in chosen:
        sku = str(sku).strip()
        product = products.get(sku) if sku in wanted else None
        if product is None:
            raise ValidationError("Assembly can only be chosen for a product of the order.")
        if product.assembly == NONE:
            raise ValidationError(f"{product.name} cannot be ordered with assembly.")
        picked.add(sku)
    return {sku: quantity for sku, quantity in wanted.items()
            if products[sku].assembly == REQUIRED or (products[sku].assembly == OFFERED and sku in picked)}


def unit_price(product: Product) -> int:
    return product.assembly_price_minor


def line_name(product: Product) -> str:
    """A service line's name (services.orders writes the line, SERVICE in its `service`)."""
    return f"Assembly: {product.name}"[:200]


# ------------------------------------------------------------------ the order's loop


def order_confirmed(order: Order, *, actor: str) -> None:
    """The order is confirmed (services.status, caller's transaction, order locked):
    it gets its job once; a job cancelled with the order is to schedule again."""
    if not any(line.service == SERVICE for line in order.lines):
        return
    db.session.flush()
    job = db.session.scalar(select(AssemblyJob).where(AssemblyJob.order_id == order.id))
    if job is None:
        job = AssemblyJob(order_id=order.id, key=secrets.token_hex(16), status=TO_SCHEDULE,
                          name=order.ship_name, line1=order.ship_line1, line2=order.ship_line2,
                          postal_code=order.ship_postal_code, city=order.ship_city,
                          country=order.ship_country, preferred_slots=[], sequence=0)
        db.session.add(job)
        timeline.record(order, timeline.ASSEMBLY, actor, "Assembly job created: to schedule.")
    elif job.status == CANCELLED:
        _move(order, job, TO_SCHEDULE, actor, "order confirmed again")


def order_cancelled(order: Order, *, actor: str) -> None:
    """The order is cancelled (caller's transaction): so is its job; a customer with
    an appointment gets its cancellation."""
    job = db.session.scalar(select(AssemblyJob).where(AssemblyJob.order_id == order.id))
    if job is None or CANCELLED not in TRANSITIONS[job.status]:
        return
    had_appointment = job.status == SCHEDULED
    _move(order, job, CANCELLED, actor, "order cancelled")
    if had_appointment:
        job.sequence += 1
        _queue_email(order, job, EMAIL_CANCELLED)


# ------------------------------------------------------------------ staff


def zone() -> ZoneInfo:
    # The shop's own zone (OMS_SHOP["time_zone"], checked at start-up by shop.check_settings).
    return ZoneInfo(shop.details().time_zone)


def today() -> date:
    return datetime.now(zone()).date()


def _check_day(day: date, label: str) -> date:
    if not isinstance(day, date) or isinstance(day, datetime):
        raise ValidationError(f"{label} must be a date.")
    first, last = today(), today() + timedelta(days=MAX_DAYS_AHEAD)
    if not first <= day <= last:
        raise ValidationError(f"{label} must be between {first:%d %b %Y} and {last:%d %b %Y}.")
    return day


def schedule(job_id: int, *, day: date, start: time, end: time, assignee_id: int, actor: str,
             note: str = "") -> AssemblyJob:
    """Set (or move) the appointment: a day from today on, a window that ends after
    it starts, an active staff member. Every appointment after the first raises the
    calendar SEQUENCE; it clears the customer's move request; the customer gets it."""
    _check_day(day, "The date")
    if not (isinstance(start, time) and isinstance(end, time)) or start.tzinfo or end.tzinfo:
        raise ValidationError("The window is two times of day.")
    start, end = start.replace(second=0, microsecond=0), end.replace(second=0, microsecond=0)
    if end <= start:
        raise ValidationError("The window must end after it starts.")
    note = optional_text(note, "Note", 500)
    with write_transaction():
        job, order = _locked(job_id)
        assignee = db.session.get(StaffUser, assignee_id) if limits.is_id(assignee_id) else None
        if assignee is None or not assignee.active:
            raise ValidationError("Assign the job to an active staff member.")
        moved = job.status == SCHEDULED
        if job.scheduled_date is not None:
            # The customer's calendar holds an earlier version of this event (moved,
            # failed or cancelled): only a higher SEQUENCE replaces it.
            job.sequence += 1
        job.scheduled_date, job.window_start, job.window_end = day, start, end
        job.assignee_id, job.move_requested = assignee.id, False
        when = f"{day:%a %d %b %Y} {start:%H:%M}-{end:%H:%M}, {assignee.name}"
        detail = ("moved to " if moved else "") + when + (f" ({note})" if note else "")
        _move(order, job, SCHEDULED, actor, detail)
        _queue_email(order, job, EMAIL_SCHEDULED)
    return job


def mark_done(job_id: int, *, actor: str, note: str = "") -> AssemblyJob:
    note = optional_text(note, "Note", 500)
    with write_transaction():
        job, order = _locked(job_id)
        _move(order, job, DONE, actor, note)
    return job


def mark_failed(job_id: int, *, reason: str, actor: str) -> AssemblyJob:
    """The visit did not work out (nobody home, a part missing): why, for booking again."""
    reason = required_text(reason, "A reason", 500)
    with write_transaction():
        job, order = _locked(job_id)
        _move(order, job, FAILED, actor, reason)
        job.reason = reason
    return job


def update_details(job_id: int, *, address: dict, notes: str, actor: str) -> AssemblyJob:
    """Correct where the job is and its staff notes (not shown to the customer)."""
    from .orders import clean_address  # the order's own address rules, one definition

    cleaned = clean_address(address, with_name=True)
    cleaned["name"] = required_text(cleaned["name"], "Name")
    notes = optional_text(notes, "Notes", 2000)
    with write_transaction():
        job, order = _locked(job_id)
        if job.status in (DONE, CANCELLED):
            raise _illegal(job.status, job.status,
                           f"A job that is {LABELS[job.status].lower()} cannot be changed.")
        changed = [key for key, value in cleaned.items() if getattr(job, key) != value]
        for key in changed:
            setattr(job, key, cleaned[key])
        if changed:
            timeline.record(order, timeline.ASSEMBLY, actor, "Assembly address changed.")
        if notes != job.notes:
            job.notes = notes
            timeline.record(order, timeline.ASSEMBLY, actor, "Assembly notes changed.")
    return job


def _locked(job_id: int) -> tuple[AssemblyJob, Order]:
    job = fetch(AssemblyJob, job_id, "assembly job")
    order = lock_order(job.order_id)  # the order's lock serialises changes to its job
    db.session.refresh(job)
    return job, order


def _move(order: Order, job: AssemblyJob, target: str, actor: str, detail: str = "") -> None:
    if target not in TRANSITIONS[job.status]:
        raise _illegal(job.status, target, f"An assembly job that is {LABELS[job.status].lower()} cannot "
                                           f"become {LABELS[target].lower()}.")
    job.status = target
    if target != FAILED:
        job.reason = ""
    timeline.record(order, timeline.ASSEMBLY, actor,
                    f"Assembly {LABELS[target].lower()}" + (f": {detail}" if detail else "."))


def _illegal(current: str, target: str, message: str) -> IllegalTransition:
    """IllegalTransition with words for people (its own message names raw states)."""
    error = IllegalTransition("assembly job", current, target)
    error.args = (message,)
    return error


def _queue_email(order: Order, job: AssemblyJob, kind: str) -> None:
    """One email per appointment version: the key holds the job's random key and SEQUENCE.
    The payload keeps the appointment as it was, so a late send tells what was decided then."""
    if not order.tracking_code:
        return
    db.session.flush()
    snapshot = assembly_calendar.snapshot(job, METHOD_OF_EMAIL[kind])
    outbox.enqueue_once(notifications.EMAIL_KIND, {"status": kind, "assembly": snapshot},
                        key=f"email-assembly-{job.key}-{job.sequence}", order_id=order.id)


# ------------------------------------------------------------------ the customer


def parse_slots(pairs) -> list[dict]:
    """(date text, part of day) pairs as a customer typed them -> the job's bounded
    list of slots, blanks left out, each date from today to MAX_DAYS_AHEAD."""
    slots = []
    for raw_day, part in list(pairs)[:MAX_SLOTS + 5]:
        raw_day, part = str(raw_day or "").strip()[:20], str(part or "").strip()[:20]
        if not raw_day:
            continue
        try:
            if not _ISO_DATE.fullmatch(raw_day):
                raise ValueError
            day = date.fromisoformat(raw_day)
        except ValueError:
            raise ValidationError(f"'{raw_day}' is not a date (YYYY-MM-DD).") from None
        if part not in PARTS_OF_DAY:
            raise ValidationError(f"Pick a part of the day: {', '.join(PARTS_OF_DAY)}.")
        slot = {"date": _check_day(day, "A preferred date").isoformat(), "part": part}
        if slot not in slots:
            slots.append(slot)
    if len(slots) > MAX_SLOTS:
        raise ValidationError(f"Give at most {MAX_SLOTS} preferred slots.")
    return slots


def set_preferences(order_id: int, *, slots: list[dict], note: str) -> AssemblyJob:
    """The customer's preferred slots and a note, while the job waits to be scheduled."""
    return _customer_change(order_id, slots, note, move=False)


def request_move(order_id: int, *, slots: list[dict], note: str) -> AssemblyJob:
    """The customer asks to move the appointment (at least one slot or a note);
    staff answer by scheduling it again."""
    return _customer_change(order_id, slots, note, move=True)


def _customer_change(order_id: int, slots, note: str, *, move: bool) -> AssemblyJob:
    slots = parse_slots((slot.get("date"), slot.get("part")) for slot in slots)
    note = optional_text(note, "Your note", 1000)
    if move and not (slots or note):
        raise ValidationError("Give a preferred slot or a note for the new appointment.")
    with write_transaction():
        order = lock_order(order_id)
        job = db.session.scalar(select(AssemblyJob).where(AssemblyJob.order_id == order.id))
        if job is None:
            raise NotFound("This order has no assembly job.")
        allowed = (SCHEDULED,) if move else (TO_SCHEDULE, FAILED)
        if job.status not in allowed:
            raise _illegal(job.status, job.status,
                           "The appointment can be moved once it is scheduled." if move
                           else "Preferred slots can be given until the appointment is scheduled.")
        job.preferred_slots, job.customer_note = slots, note
        if move:
            job.move_requested = True
        shown = ", ".join(f"{slot['date']} {slot['part']}" for slot in slots) or "no slot"
        timeline.record(order, timeline.ASSEMBLY, CUSTOMER,
                        ("Customer asks to move the appointment: " if move else "Customer prefers: ") + shown
                        + (f" ({note})" if note else ""))
    return job


@dataclass(frozen=True)
class CustomerJob:
    """What a customer who proved the order sees of its job (no staff notes)."""

    order_id: int
    status: str
    status_label: str
    day: date | None
    start: time | None
    end: time | None
    preferred_slots: tuple[dict, ...]
    customer_note: str
    move_requested: bool
    can_prefer: bool
    can_move: bool
    has_calendar: bool
    time_zone: str


def for_customer(order_id: int) -> CustomerJob | None:
    job = db.session.scalar(select(AssemblyJob).where(AssemblyJob.order_id == order_id))
    if job is None:
        return None
    return CustomerJob(order_id=order_id, status=job.status, status_label=LABELS[job.status],
                       day=job.scheduled_date, start=job.window_start, end=job.window_end,
                       preferred_slots=tuple(job.preferred_slots or ()), customer_note=job.customer_note,
                       move_requested=job.move_requested, can_prefer=job.status in (TO_SCHEDULE, FAILED),
                       can_move=job.status == SCHEDULED, has_calendar=job.status in (SCHEDULED, CANCELLED)
                       and job.scheduled_date is not None, time_zone=str(zone()))


def calendar_download(order_id: int) -> tuple[str, bytes]:
    """(file name, .ics bytes) of the order's appointment as it stands now."""
    job = db.session.scalar(select(AssemblyJob).where(AssemblyJob.order_id == order_id))
    if job is None or job.scheduled_date is None or job.status not in (SCHEDULED, CANCELLED):
        raise NotFound("This order has no assembly appointment.")
    method = "CANCEL" if job.status == CANCELLED else "REQUEST"
    appointment = assembly_calendar.snapshot(job, method)
    return assembly_calendar.filename(job), assembly_calendar.ics(job, appointment)


# ------------------------------------------------------------------ back-office reads


def get_job(job_id: int) -> AssemblyJob:
    return fetch(AssemblyJob, job_id, "assembly job")


def job_for_order(order_id: int) -> AssemblyJob | None:
    return db.session.scalar(select(AssemblyJob).options(joinedload(AssemblyJob.assignee))
                             .where(AssemblyJob.order_id == order_id))


def assignees() -> list[StaffUser]:
    """Who jobs can be assigned to: active staff, by name."""
    return list(db.session.scalars(
        select(StaffUser).where(StaffUser.active.is_(True)).order_by(StaffUser.name)))


def parse_week(text: str | None) -> date:
    """'2026-W49' -> the Monday of that ISO week; blank: this week. Bounded to the
    years a schedule can hold."""
    raw = (text or "").strip()
    if not raw:
        day = today()
        return day - timedelta(days=day.weekday())
    try:
        year, week = raw.upper().split("-W")
        if not (len(year) == 4 and year.isdigit() and week.isdigit() and len(week) <= 2):
            raise ValueError
        monday = date.fromisocalendar(int(year), int(week), 1)
    except ValueError:
        raise ValidationError(f"'{raw[:20]}' is not an ISO week such as 2026-W49.") from None
    if not 2000 <= monday.year <= 2100:
        raise ValidationError("Pick a week between 2000 and 2100.")
    return monday


def week_label(monday: date) -> str:
    year, week, _day = monday.isocalendar()
    return f"{year}-W{week:02d}"


@dataclass(frozen=True)
class WeekRow:
    assignee: str
    days: tuple[tuple[AssemblyJob, ...], ...]  # Monday..Sunday


@dataclass(frozen=True)
class Week:
    label: str
    previous: str
    next: str
    days: tuple[date, ...]
    rows: tuple[WeekRow, ...]
    unscheduled: tuple[AssemblyJob, ...]  # to schedule, failed, or asked to move: oldest first


def week(text: str | None) -> Week:
    monday = parse_week(text)
    days = tuple(monday + timedelta(days=n) for n in range(7))
    jobs = db.session.scalars(
        select(AssemblyJob).options(joinedload(AssemblyJob.assignee), joinedload(AssemblyJob.order))
        .where(AssemblyJob.scheduled_date >= days[0], AssemblyJob.scheduled_date <= days[-1],
               AssemblyJob.status.in_((SCHEDULED, DONE, FAILED)))
        .order_by(AssemblyJob.scheduled_date, AssemblyJob.window_start, AssemblyJob.id)).all()
    by_assignee: dict[str, list[list[AssemblyJob]]] = {}
    for job in jobs:
        name = job.assignee.name if job.assignee else "Unassigned"
        by_assignee.setdefault(name, [[] for _ in days])[(job.scheduled_date - monday).days].append(job)
    waiting = db.session.scalars(
        select(AssemblyJob).options(joinedload(AssemblyJob.order))
        .where(AssemblyJob.status.in_((TO_SCHEDULE, FAILED))
               | ((AssemblyJob.status == SCHEDULED) & AssemblyJob.move_requested.is_(True)))
        .order_by(AssemblyJob.created_at, AssemblyJob.id).limit(200)).all()
    return Week(label=week_label(monday), previous=week_label(monday - timedelta(days=7)),
                next=week_label(monday + timedelta(days=7)), days=days,
                rows=tuple(WeekRow(name, tuple(tuple(day) for day in columns))
                           for name, columns in sorted(by_assignee.items())),
                unscheduled=tuple(waiting))
