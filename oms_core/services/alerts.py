"""Staff alerts (docs/architecture.md, "Staff alerts").

An alert is something a person must act on, with a link to the back-office page
that resolves it. Each is raised once per kind and subject (a unique constraint,
inserted with ON CONFLICT DO NOTHING, so two workers raising it at once still make
one). Most are raised where their event happens, in that event's transaction:
payments flagged or disputed and late payments given back (services.payments),
delivery problems (services.shipments), outbox messages dead after their last
attempt (services.outbox). The time-based ones, orders not shipped after
OMS_UNSHIPPED_AFTER_DAYS (the dashboard's list of late orders) and stock expected
to run out within its lead time (services.replenishment), are found by the
worker's sweep. Other areas raise their
own with `raise_alert` (a new complaint message).

Each staff member chooses how they hear of alerts (StaffUser.alert_delivery): an
email per alert at once (an outbox message per alert and person), a daily digest
at OMS_DIGEST_HOUR shop time (one AlertDigest row per person and shop day, so at
most one digest a day whatever the workers do), or none: the back-office lists
them all with a count in its menu either way.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import formataddr
from typing import Callable

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from .. import limits, runtime, shop
from ..db import db, is_postgres, write_transaction
from ..errors import NotFound, ValidationError
from ..models import ALERT_DELIVERIES, Alert, AlertDigest, StaffUser, StockMove, order_number
from ..models._base import utcnow
from ..models.payments import random_key
from . import dashboard, notifications, outbox, replenishment
from .common import optional_text, required_text
from .periodic import Periodic

log = logging.getLogger(__name__)

# Kinds of alerts, with the words staff read.
PAYMENT_FLAGGED = "payment_flagged"
PAYMENT_DISPUTED = "payment_disputed"
DELIVERY_PROBLEM = "delivery_problem"
OUTBOX_DEAD = "outbox_dead"
UNSHIPPED = "unshipped"
STOCK_RUNOUT = "stock_runout"
COMPLAINT_MESSAGE = "complaint_message"
LATE_PAYMENT_REFUNDED = "late_payment_refunded"
KINDS = {
    PAYMENT_FLAGGED: "Payment flagged",
    PAYMENT_DISPUTED: "Payment disputed",
    DELIVERY_PROBLEM: "Delivery problem",
    OUTBOX_DEAD: "Message failed for good",
    UNSHIPPED: "Not shipped in time",
    STOCK_RUNOUT: "Stock runs out",
    COMPLAINT_MESSAGE: "New complaint message",
    LATE_PAYMENT_REFUNDED: "Late payment given back",
}
# Kinds whose event already emails staff at once with its own message (a customer's
# complaint message goes to its assignee or the support address: services/complaint_emails.py):
# no second email for them; they are on the alerts list and in digests.
EMAILED_BY_THEIR_OWN = frozenset({COMPLAINT_MESSAGE})
DELIVERY_LABELS = {"immediate": "An email for each alert, at once", "digest": "One email a day (digest)",
                   "none": "No email: I read them in the back-office"}
EMAIL_KIND, DIGEST_KIND = "alert.email", "alert.digest"
LISTS = {"open": "Open", "resolved": "Resolved"}
TITLE_LENGTH = Alert.__table__.c.title.type.length
DIGEST_MAX_LINES = 200


# ------------------------------------------------------------------ raising


def raise_alert(kind: str, key: str, title: str, url: str, *, order_id: int | None = None) -> Alert | None:
    """Raise an alert once: returns it when new, None when this kind and key were
    raised before. `key` names its subject ("payment:12"); `url` is the back-office
    path that resolves it ("/orders/12"). Joins the caller's write transaction, if
    any; staff who want alerts at once get an email through the outbox."""
    if kind not in KINDS:
        raise ValidationError(f"Unknown kind of alert '{kind}'.")
    key = required_text(key, "An alert's key", Alert.__table__.c.subject.type.length)
    title = required_text(title, "An alert's title", 10_000)
    if len(title) > TITLE_LENGTH:  # it may quote a customer or a gateway: shorten, never refuse
        title = title[:TITLE_LENGTH - 1] + "…"
    url = required_text(url, "An alert's link", Alert.__table__.c.url.type.length)
    if not url.startswith("/") or url.startswith("//") or "\\" in url:
        raise ValidationError("An alert's link must be a back-office path such as /orders/12.")
    if order_id is not None and not limits.is_id(order_id):
        raise ValidationError("An alert's order must be an order id.")
    insert = postgres_insert if is_postgres() else sqlite_insert
    statement = (insert(Alert).values(kind=kind, subject=key, title=title, url=url, order_id=order_id,
                                      key=random_key(), created_at=utcnow(), resolved_by="")
                 .on_conflict_do_nothing(index_elements=["kind", "subject"]).returning(Alert.id))
    with write_transaction():
        alert_id = db.session.scalar(statement)
        if alert_id is None:
            return None
        alert = db.session.get(Alert, alert_id)
        immediate = [] if kind in EMAILED_BY_THEIR_OWN else db.session.scalars(select(StaffUser.id).where(
                StaffUser.active.is_(True), StaffUser.alert_delivery == "immediate").order_by(StaffUser.id))
        for user_id in immediate:
            outbox.enqueue_once(EMAIL_KIND, {"alert_id": alert.id, "staff_user_id": user_id},
                                key=f"alert-{alert.key}-{user_id}", order_id=order_id)
    log.info("alert %s %s: %s", kind, key, title)
    return alert


def order_path(order_id: int) -> str:
    return f"/orders/{order_id}"


def complaint_message(complaint, message) -> None:
    """A customer wrote in a complaint (the caller's transaction; once per message)."""
    raise_alert(COMPLAINT_MESSAGE, f"complaint-message:{message.id}",
                f"Order {order_number(complaint.order_id)}, complaint #{complaint.id}: {complaint.subject}",
                f"/complaints/{complaint.id}", order_id=complaint.order_id)


def payment_problem(order, payment) -> None:
    """A payment's state asks for a person: flagged, or disputed by the bank (the
    caller's transaction; once per payment and kind)."""
    if payment.status == "flagged":
        raise_alert(PAYMENT_FLAGGED, f"payment:{payment.id}",
                    f"Order {order.number}: payment flagged ({payment.flag_reason})", order_path(order.id),
                    order_id=order.id)
    if payment.state == "disputed":
        raise_alert(PAYMENT_DISPUTED, f"payment:{payment.id}",
                    f"Order {order.number}: payment disputed by the cardholder's bank", order_path(order.id),
                    order_id=order.id)


def late_payment_given_back(order, payment, what: str) -> None:
    raise_alert(LATE_PAYMENT_REFUNDED, f"payment:{payment.id}", f"Order {order.number}: {what}",
                order_path(order.id), order_id=order.id)


def delivery_problem(order, shipment, status_label: str) -> None:
    raise_alert(DELIVERY_PROBLEM, f"shipment:{shipment.id}:{shipment.status}",
                f"Order {order.number}: parcel {shipment.tracking_number or shipment.id} - {status_label}",
                order_path(order.id), order_id=order.id)


def message_dead(message) -> None:
    """An outbox message failed for good. Alert emails themselves are left out: with
    the mail server down for good, each would raise another."""
    if message.kind in (EMAIL_KIND, DIGEST_KIND):
        return
    where = f" for order {order_number(message.order_id)}" if message.order_id else ""
    raise_alert(OUTBOX_DEAD, f"outbox:{message.id}",
                f"{message.kind} message{where} failed for good: {message.last_error}",
                order_path(message.order_id) if message.order_id else "/", order_id=message.order_id)


# ------------------------------------------------------------------ the worker's sweep


@dataclass
class SweepReport:
    raised: list[str] = field(default_factory=list)  # titles
    digests: int = 0


def sweep(now: datetime | None = None) -> SweepReport:
    """Raise the time-based alerts (each once however often it runs) and send the
    digests that are due."""
    now = now or utcnow()
    report = SweepReport()
    for alert in _unshipped(now) + _stock_runouts(now):
        report.raised.append(alert.title)
    report.digests = send_digests(now)
    return report


def _unshipped(now: datetime) -> list[Alert]:
    days = runtime.whole_setting("UNSHIPPED_AFTER_DAYS", 1, 365)  # the dashboard's own
    from ..models import Order

    raised = []
    for order_id in db.session.scalars(select(Order.id).where(dashboard.late_clause(days, now=now))
                                       .order_by(Order.id)):
        alert = raise_alert(UNSHIPPED, f"order:{order_id}",
                            f"Order {order_number(order_id)} not shipped after {days} days",
                            order_path(order_id), order_id=order_id)
        if alert is not None:
            raised.append(alert)
    return raised


def _stock_runouts(now: datetime) -> list[Alert]:
    """Products expected to run out before a reorder placed today arrives; once per
    product until stock is received again (a new delivery starts a new cycle)."""
    raised = []
    today = now.astimezone(_zone()).date()
    for row in replenishment.expected_stockouts(today):
        product, plan = row.product, row.plan
        received = db.session.scalar(select(func.max(StockMove.id)).where(
            StockMove.product_id == product.id, StockMove.on_hand_delta > 0,
            StockMove.order_id.is_(None))) or 0
        when = f", out by {plan.stockout_date.isoformat()}" if plan.stockout_date else ""
        alert = raise_alert(STOCK_RUNOUT, f"product:{product.id}:received:{received}",
                            f"{product.sku} ({product.name}) runs out within its lead time{when}: "
                            "reorder now",
                            "/replenishment")
        if alert is not None:
            raised.append(alert)
    return raised


def _zone():
    from zoneinfo import ZoneInfo

    return ZoneInfo(shop.details().time_zone)


def send_digests(now: datetime | None = None) -> int:
    """From OMS_DIGEST_HOUR (shop time) on, one digest per staff member who chose it
    and shop day, listing the alerts raised since their previous digest; a day
    without new alerts sends nothing (but counts as that day's digest). Returns
    the number queued."""
    now = now or utcnow()
    hour = runtime.whole_setting("DIGEST_HOUR", 0, 23)
    local = now.astimezone(_zone())
    if local.hour < hour:
        return 0
    queued = 0
    for user_id in db.session.scalars(select(StaffUser.id).where(
            StaffUser.active.is_(True), StaffUser.alert_delivery == "digest").order_by(StaffUser.id)):
        queued += _digest_for(user_id, local.date(), now)
    return queued


def _digest_for(user_id: int, day, now: datetime) -> int:
    insert = postgres_insert if is_postgres() else sqlite_insert
    with write_transaction():
        since = db.session.scalar(select(func.max(AlertDigest.last_alert_id))
                                  .where(AlertDigest.staff_user_id == user_id)) or 0
        last = db.session.scalar(select(func.max(Alert.id))) or 0
        digest_id = db.session.scalar(
            insert(AlertDigest).values(staff_user_id=user_id, day=day, first_alert_id=since,
                                       last_alert_id=max(last, since), key=random_key(), created_at=now)
            .on_conflict_do_nothing(index_elements=["staff_user_id", "day"]).returning(AlertDigest.id))
        if digest_id is None or last <= since:
            return 0  # sent today already (maybe by another worker), or nothing new
        digest = db.session.get(AlertDigest, digest_id)
        outbox.enqueue_once(DIGEST_KIND, {"digest_id": digest.id}, key=f"alert-digest-{digest.key}")
    return 1


def schedule(*, every_seconds: float = 300.0, clock: Callable[[], float] | None = None) -> Periodic:
    """The worker's sweep, every five minutes."""
    def work() -> None:
        report = sweep()
        for title in report.raised:
            log.info("alert raised: %s", title)
    options = {"clock": clock} if clock else {}
    return Periodic(work, what="sweeping for staff alerts", every_seconds=every_seconds, **options)


# ------------------------------------------------------------------ the back-office


@dataclass
class AlertPage:
    alerts: list[Alert]
    next_before: int | None


def alert_page(name: str = "open", *, before: int | None = None, limit: int = 50) -> AlertPage:
    """Open (not resolved) or resolved alerts, newest first."""
    from .queries import keyset_rows

    if name not in LISTS:
        raise ValidationError(f"Unknown list '{name}'.")
    resolved = Alert.resolved_at.is_(None) if name == "open" else Alert.resolved_at.is_not(None)
    query = select(Alert).where(resolved)
    rows, next_before = keyset_rows(query, Alert.id, before=before, limit=limit)
    return AlertPage(alerts=rows, next_before=next_before)


def open_count() -> int:
    return db.session.scalar(select(func.count(Alert.id)).where(Alert.resolved_at.is_(None))) or 0


def resolve(alert_id: int, *, actor: str, now: datetime | None = None) -> Alert:
    """Staff mark an alert dealt with; resolving it twice keeps the first."""
    if not limits.is_id(alert_id):
        raise NotFound("No such alert.")
    with write_transaction():
        alert = db.session.get(Alert, alert_id, with_for_update=True, populate_existing=True)
        if alert is None:
            raise NotFound(f"No alert {alert_id}.")
        if alert.resolved_at is None:
            alert.resolved_at, alert.resolved_by = now or utcnow(), optional_text(actor, "Actor", 200)
    return alert


def set_delivery(user_id: int, delivery: str) -> StaffUser:
    """How a staff member hears of alerts: immediate, digest or none."""
    if delivery not in ALERT_DELIVERIES:
        raise ValidationError(f"Choose one of: {', '.join(ALERT_DELIVERIES)}.")
    if not limits.is_id(user_id):
        raise NotFound("No such user.")
    with write_transaction():
        user = db.session.get(StaffUser, user_id, with_for_update=True)
        if user is None:
            raise NotFound(f"No user {user_id}.")
        user.alert_delivery = delivery
    return user


# ------------------------------------------------------------------ emails


def admin_url(path: str) -> str:
    """An alert's link as staff open it from an email (the worker has no request)."""
    base = runtime.setting("PUBLIC_BASE_URL").rstrip("/")
    return f"{base}{runtime.setting('ADMIN_PREFIX').rstrip('/')}{path}"


def _email(user: StaffUser, subject: str, template: str, message_id: str, **context):
    from email.message import EmailMessage

    context = {"shop_name": runtime.setting("SHOP_NAME"), "user": user, "kinds": KINDS, "link": admin_url,
               "settings_url": admin_url("/alerts/settings"), **context}
    email = EmailMessage()
    email["From"] = formataddr((runtime.setting("SHOP_NAME"), runtime.setting("MAIL_SENDER")))
    email["To"] = formataddr((" ".join(user.name.split()), user.email))
    email["Subject"] = subject
    email["Message-ID"] = message_id
    email.set_content(notifications.render(f"{template}.txt", **context))
    email.add_alternative(notifications.render(f"{template}.html", **context), subtype="html")
    return email


def _message_id(message) -> str:
    from urllib.parse import urlsplit

    return f"<{message.idempotency_key}@{urlsplit(runtime.setting('PUBLIC_BASE_URL')).hostname or 'oms'}>"


@outbox.handler(EMAIL_KIND)
def _send_alert(message) -> None:
    alert = db.session.get(Alert, message.payload["alert_id"])
    user = db.session.get(StaffUser, message.payload["staff_user_id"])
    if alert is None or user is None or not user.active:
        db.session.commit()
        return  # nobody to tell any more
    subject = " ".join(f"[{runtime.setting('SHOP_NAME')}] {KINDS[alert.kind]}: {alert.title}".split())
    notifications.send(_email(user, subject[:250], "alert", _message_id(message), alert=alert))


@outbox.handler(DIGEST_KIND)
def _send_digest(message) -> None:
    digest = db.session.get(AlertDigest, message.payload["digest_id"])
    user = db.session.get(StaffUser, digest.staff_user_id) if digest else None
    if user is None or not user.active:
        db.session.commit()
        return
    rows = list(db.session.scalars(select(Alert).where(Alert.id > digest.first_alert_id,
                                                       Alert.id <= digest.last_alert_id)
                                   .order_by(Alert.id).limit(DIGEST_MAX_LINES + 1)))
    shown = rows[:DIGEST_MAX_LINES]
    more = digest.last_alert_id - digest.first_alert_id - len(shown) if len(rows) > len(shown) else 0
    subject = f"[{runtime.setting('SHOP_NAME')}] Alerts of {digest.day.isoformat()}: {len(shown)}"
    notifications.send(_email(user, " ".join(subject.split()), "digest", _message_id(message),
                              alerts=shown, more=more, day=digest.day,
                              list_url=admin_url("/alerts")))
