"""Complaints: a support thread per complaint on an order (docs/architecture.md,
"Complaints and uploads").

A customer who proved the order opens a complaint (subject, category, a message,
photos) and writes in its thread; staff reply, add internal notes (never shown or
sent to the customer), assign it, change its category and status. The status is
a small state machine (`TRANSITIONS`): a customer's message means it waits on us,
a staff reply that it waits on the customer; staff resolve and reopen it, and a
customer writing on a resolved complaint reopens it. Every change lands on the
order's timeline as a private event: the public tracking page shows public
events to anyone with the code, and a complaint is personal.

Emails go through the outbox (services.complaint_emails): staff hear of each
customer message, the customer gets each staff reply with a link to the thread.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from .. import limits, runtime
from ..db import db, write_transaction
from ..errors import NotFound, ValidationError
from ..i18n import N_
from ..models import Complaint, ComplaintAttachment, ComplaintMessage, Order, StaffUser
from ..models._base import utcnow
from . import alerts, complaint_emails, timeline, uploads
from .common import fetch, lock_order, required_text

OPEN = "open"
WAITING_ON_CUSTOMER = "waiting_on_customer"
WAITING_ON_US = "waiting_on_us"
RESOLVED = "resolved"
STATUSES = (OPEN, WAITING_ON_US, WAITING_ON_CUSTOMER, RESOLVED)
LABELS = {OPEN: "Open", WAITING_ON_US: "Waiting on us", WAITING_ON_CUSTOMER: "Waiting on the customer",
          RESOLVED: "Resolved"}
# The same, as the customer reads them (marked for the catalogs; translated where shown).
CUSTOMER_LABELS = {OPEN: N_("Open"), WAITING_ON_US: N_("We are looking into it"),
                   WAITING_ON_CUSTOMER: N_("Waiting for your answer"), RESOLVED: N_("Resolved")}
# Where a complaint may go from each status. Resolved ones come back only by
# reopening, or by the customer writing again.
TRANSITIONS = {
    OPEN: {WAITING_ON_US, WAITING_ON_CUSTOMER, RESOLVED},
    WAITING_ON_US: {OPEN, WAITING_ON_CUSTOMER, RESOLVED},
    WAITING_ON_CUSTOMER: {OPEN, WAITING_ON_US, RESOLVED},
    RESOLVED: {OPEN, WAITING_ON_US},
}
WAITING = (WAITING_ON_US, WAITING_ON_CUSTOMER)

CUSTOMER, STAFF, INTERNAL = "customer", "staff", "internal"
AUTHOR_KINDS = (CUSTOMER, STAFF, INTERNAL)
CUSTOMER_ACTOR = "customer"

MAX_SUBJECT = 200
MAX_BODY = 5000


def categories() -> list[str]:
    value = runtime.setting("COMPLAINT_CATEGORIES")
    if not isinstance(value, (list, tuple)) or not value or not all(
            isinstance(c, str) and c.strip() and len(c) <= 64 for c in value):
        raise ValueError("OMS_COMPLAINT_CATEGORIES must be a list of names of at most 64 characters.")
    return list(value)


def check_settings() -> None:
    """Refuse, at start-up, complaint and upload settings that could only fail later."""
    categories()
    uploads.max_bytes(), uploads.max_per_message()
    runtime.whole_setting("UPLOAD_MAX_PIXELS", 1, 200_000_000)
    if not isinstance(runtime.setting("SUPPORT_EMAIL"), str):
        raise ValueError("OMS_SUPPORT_EMAIL must be an email address, or empty.")


def _category(value: str) -> str:
    value = (value or "").strip()
    if value not in categories():
        raise ValidationError("Pick one of the categories offered.")
    return value


def _body(value: str) -> str:
    return required_text(value, "The message", MAX_BODY)


# ------------------------------------------------------------------ the state machine


def _move(complaint: Complaint, status: str, *, actor: str, reason: str) -> None:
    """The only writer of Complaint.status: checks the edge, keeps waiting_since
    (when the wait began, kept while it goes on) and writes the timeline."""
    if status == complaint.status:
        return
    if status not in TRANSITIONS.get(complaint.status, ()):
        raise ValidationError(f"A complaint that is {LABELS[complaint.status].lower()} cannot become "
                              f"{LABELS.get(status, status).lower()}.")
    before, complaint.status = complaint.status, status
    complaint.waiting_since = utcnow() if status in WAITING else None
    timeline.record(complaint.order, timeline.COMPLAINT, actor,
                    f"Complaint #{complaint.id}: {LABELS[before]} → {LABELS[status]}"
                    + (f" ({reason})" if reason else "") + ".")


def _locked(complaint_id: int, order_id: int | None = None) -> Complaint:
    """A complaint for change, its order locked first (serialises two replies at
    once). With `order_id`: NotFound unless it is that order's."""
    complaint = fetch(Complaint, complaint_id, "complaint")
    if order_id is not None and complaint.order_id != order_id:
        raise NotFound("No such complaint.")
    lock_order(complaint.order_id)
    db.session.refresh(complaint)
    return complaint


def _add_message(complaint: Complaint, kind: str, body: str, images, *, actor: str,
                 staff_user_id: int | None = None) -> ComplaintMessage:
    message = ComplaintMessage(complaint=complaint, author_kind=kind, body=body, staff_user_id=staff_user_id)
    db.session.add(message)
    db.session.flush()
    for image in images:
        upload = uploads.store(complaint.order_id, image, actor=actor)
        db.session.flush()
        db.session.add(ComplaintAttachment(message_id=message.id, upload_id=upload.id))
    complaint.last_activity_at = utcnow()
    photos = f" with {len(images)} photo{'s' if len(images) != 1 else ''}" if images else ""
    what = {CUSTOMER: "the customer wrote", STAFF: "staff replied", INTERNAL: "internal note"}[kind]
    timeline.record(complaint.order, timeline.COMPLAINT, actor,
                    f"Complaint #{complaint.id}: {what}{photos}.")
    return message


def _customer_wrote(complaint: Complaint, message: ComplaintMessage) -> None:
    """Staff hear of a customer's message: its email, and an alert on the list and in digests."""
    complaint_emails.customer_wrote(complaint, message)
    alerts.complaint_message(complaint, message)


# ------------------------------------------------------------------ customers


def open_complaint(order_id: int, *, subject: str, category: str, body: str,
                   files: list[uploads.Incoming] = ()) -> Complaint:
    """A proven customer opens a complaint with its first message: it waits on us."""
    # One line: it heads emails.
    subject = " ".join(required_text(subject, "The subject", MAX_SUBJECT).split())
    category = _category(category)
    body = _body(body)
    images = uploads.clean_all(list(files))
    with write_transaction():
        order = lock_order(order_id)
        complaint = Complaint(order=order, subject=subject, category=category, status=OPEN)
        db.session.add(complaint)
        db.session.flush()
        timeline.record(order, timeline.COMPLAINT, CUSTOMER_ACTOR,
                        f"Complaint #{complaint.id} opened ({category}).")
        message = _add_message(complaint, CUSTOMER, body, images, actor=CUSTOMER_ACTOR)
        _move(complaint, WAITING_ON_US, actor=CUSTOMER_ACTOR, reason="the customer wrote")
        _customer_wrote(complaint, message)
    return complaint


def customer_reply(order_id: int, complaint_id: int, *, body: str,
                   files: list[uploads.Incoming] = ()) -> ComplaintMessage:
    """The customer writes in a thread of their order: it waits on us (a resolved
    one is reopened)."""
    body = _body(body)
    images = uploads.clean_all(list(files))
    with write_transaction():
        complaint = _locked(complaint_id, order_id)
        message = _add_message(complaint, CUSTOMER, body, images, actor=CUSTOMER_ACTOR)
        _move(complaint, WAITING_ON_US, actor=CUSTOMER_ACTOR, reason="the customer wrote")
        _customer_wrote(complaint, message)
    return message


# ------------------------------------------------------------------ staff


def staff_reply(complaint_id: int, *, body: str, files: list[uploads.Incoming] = (), user: StaffUser,
                internal: bool = False) -> ComplaintMessage:
    """A reply to the customer (emailed; the complaint then waits on them), or an
    internal note (`internal`: nothing changes for the customer)."""
    body = _body(body)
    images = uploads.clean_all(list(files))
    with write_transaction():
        complaint = _locked(complaint_id)
        if not internal and complaint.status == RESOLVED:
            raise ValidationError("This complaint is resolved: reopen it before replying.")
        message = _add_message(complaint, INTERNAL if internal else STAFF, body, images, actor=user.actor,
                               staff_user_id=user.id)
        if not internal:
            _move(complaint, WAITING_ON_CUSTOMER, actor=user.actor, reason="staff replied")
            complaint_emails.staff_replied(complaint, message)
    return message


def set_status(complaint_id: int, status: str, *, actor: str, reason: str = "") -> Complaint:
    """Staff move a complaint (resolve, reopen, or say who it waits on)."""
    if status not in STATUSES:
        raise ValidationError("Pick one of the statuses offered.")
    reason = (reason or "").strip()[:200]
    with write_transaction():
        complaint = _locked(complaint_id)
        if status == complaint.status:
            raise ValidationError(f"The complaint is {LABELS[status].lower()} already.")
        _move(complaint, status, actor=actor, reason=reason)
        complaint.last_activity_at = utcnow()
    return complaint


def assign(complaint_id: int, assignee_id: int | None, *, actor: str) -> Complaint:
    """Give a complaint to an active staff user, or to nobody (None)."""
    with write_transaction():
        complaint = _locked(complaint_id)
        user = None
        if assignee_id is not None:
            user = db.session.get(StaffUser, assignee_id) if limits.is_id(assignee_id) else None
            if user is None or not user.active:
                raise ValidationError("Pick an active staff user.")
        if complaint.assignee_id == assignee_id:
            raise ValidationError("The complaint is assigned so already.")
        complaint.assignee_id = assignee_id
        timeline.record(complaint.order, timeline.COMPLAINT, actor,
                        f"Complaint #{complaint.id} assigned to {user.name if user else 'nobody'}.")
    return complaint


def set_category(complaint_id: int, category: str, *, actor: str) -> Complaint:
    category = _category(category)
    with write_transaction():
        complaint = _locked(complaint_id)
        if complaint.category == category:
            raise ValidationError(f"The category is {category} already.")
        before, complaint.category = complaint.category, category
        timeline.record(complaint.order, timeline.COMPLAINT, actor,
                        f"Complaint #{complaint.id}: category {before} → {category}.")
    return complaint


# ------------------------------------------------------------------ reading


@dataclass
class Thread:
    complaint: Complaint
    messages: list[ComplaintMessage]


def _thread(complaint: Complaint, *, for_customer: bool) -> Thread:
    messages = list(db.session.scalars(
        select(ComplaintMessage).where(ComplaintMessage.complaint_id == complaint.id)
        .options(selectinload(ComplaintMessage.attachments), selectinload(ComplaintMessage.staff_user))
        .order_by(ComplaintMessage.id)))
    if for_customer:
        messages = [m for m in messages if m.author_kind != INTERNAL]
    return Thread(complaint=complaint, messages=messages)


def customer_threads(order_id: int) -> list[Thread]:
    """An order's complaints with their threads as the customer sees them (no
    internal notes), newest first."""
    complaints = db.session.scalars(select(Complaint).where(Complaint.order_id == order_id)
                                    .order_by(Complaint.id.desc()))
    return [_thread(c, for_customer=True) for c in complaints]


@dataclass
class CustomerView:
    """What the proven customer's page shows of complaints and offers to open one."""
    order_id: int
    threads: list[Thread]
    categories: list[str]
    max_photos: int
    labels: dict


def customer_view(order_id: int) -> CustomerView:
    return CustomerView(order_id=order_id, threads=customer_threads(order_id), categories=categories(),
                        max_photos=uploads.max_per_message(), labels=CUSTOMER_LABELS)


def customer_thread(order_id: int, complaint_id: int) -> Thread:
    complaint = fetch(Complaint, complaint_id, "complaint")
    if complaint.order_id != order_id:
        raise NotFound("No such complaint.")
    return _thread(complaint, for_customer=True)


def staff_thread(complaint_id: int) -> Thread:
    return _thread(fetch(Complaint, complaint_id, "complaint"), for_customer=False)


def for_order(order_id: int) -> list[Complaint]:
    """An order's complaints for its back-office page, newest first."""
    return list(db.session.scalars(select(Complaint).where(Complaint.order_id == order_id)
                                   .order_by(Complaint.id.desc())))


def listing(*, status: str = "", assignee_id: int | None = None, unassigned: bool = False,
            category: str = "", limit: int = 200) -> list[Complaint]:
    """The back-office list, most recent activity first, filtered."""
    query = select(Complaint).options(selectinload(Complaint.order), selectinload(Complaint.assignee))
    if status:
        query = query.where(Complaint.status == status)
    if unassigned:
        query = query.where(Complaint.assignee_id.is_(None))
    elif assignee_id is not None:
        query = query.where(Complaint.assignee_id == assignee_id)
    if category:
        query = query.where(Complaint.category == category)
    return list(db.session.scalars(query.order_by(Complaint.last_activity_at.desc(), Complaint.id.desc())
                                   .limit(limit)))


def staff_users() -> list[StaffUser]:
    """Who a complaint can be assigned to."""
    return list(db.session.scalars(select(StaffUser).where(StaffUser.active.is_(True))
                                   .order_by(StaffUser.name)))


@dataclass
class Waiting:
    complaint: Complaint
    since: datetime

    @property
    def age_hours(self) -> int:
        return int((utcnow() - self.since).total_seconds() // 3600)

    @property
    def age(self) -> str:
        hours = self.age_hours
        return f"{hours // 24} days" if hours >= 48 else f"{hours} h" if hours >= 1 else "< 1 h"


def waiting_on_us(limit: int = 50) -> tuple[int, list[Waiting]]:
    """Complaints waiting on our answer: how many, and the oldest wait first."""
    where = Complaint.status == WAITING_ON_US
    count = db.session.scalar(select(func.count(Complaint.id)).where(where)) or 0
    rows = db.session.scalars(select(Complaint).where(where).options(selectinload(Complaint.order))
                              .order_by(Complaint.waiting_since, Complaint.id).limit(limit))
    return count, [Waiting(c, c.waiting_since or c.last_activity_at) for c in rows]


def order_of(complaint_id: int) -> Order:
    return fetch(Complaint, complaint_id, "complaint").order
