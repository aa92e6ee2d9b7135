"""Unpaid orders: a payment deadline per order, one reminder before it, then expiry
(docs/architecture.md, "Unpaid orders").

The deadline is computed from OMS_PAYMENT_DEADLINES when the order is placed and
stored on it, so a later change of the config moves no existing deadline; staff
extend one from the order page. Cash on delivery and methods not configured never
expire.

Expiry cancels through the one cancel path (services.orders.cancel_locked: stock
released, on the timeline as "system:expiry"), under the order's lock and only
after checking its payments, not just its status: an order with money on it
(taken, held, disputed, or a gateway payment still open) is never cancelled. A
payment that lands right after expiry is a late payment (services.payments): the
order is reopened, or the money given back and staff alerted.

Every function takes `now` (default: the clock), so tests drive it with a frozen one.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable

from sqlalchemy import select

from .. import limits, order_states, runtime, shop
from ..db import db, write_transaction
from ..errors import ValidationError
from ..models import Order, Payment, order_number
from ..models._base import utcnow
from ..protocols import AUTHORIZED, CAPTURED, DISPUTED, INTENT_CREATED, PARTIALLY_REFUNDED, REFUNDED
from . import notifications, orders, timeline
from .common import lock_order
from .periodic import Periodic

log = logging.getLogger(__name__)

ACTOR = "system:expiry"
# An order waits for its payment in these states; later ones are paid or on their way.
WAITING = (order_states.PLACED, order_states.CONFIRMED)
MAX_HOURS = 24 * 365
MAX_EXTEND_HOURS = 24 * 90
# Payment states with money on them: taken, held, given back (staff decide then), or disputed.
HOLDING_MONEY = frozenset({AUTHORIZED, CAPTURED, PARTIALLY_REFUNDED, REFUNDED, DISPUTED})
REMINDER = "payment_reminder"  # the customer email's status (services.notifications)


@dataclass(frozen=True)
class Terms:
    deadline_hours: int
    remind_hours_before: int = 0  # 0: no reminder


def terms_for(method: str) -> Terms | None:
    """A payment method's terms from OMS_PAYMENT_DEADLINES, or None (never expires).
    A malformed entry is a configuration error, said clearly."""
    entry = (runtime.setting("PAYMENT_DEADLINES") or {}).get(method)
    if entry is None:
        return None
    name = f"OMS_PAYMENT_DEADLINES[{method!r}]"
    if not isinstance(entry, dict) or set(entry) - {"deadline_hours", "remind_hours_before"}:
        raise ValueError(f"{name} must be a mapping with deadline_hours and remind_hours_before.")
    hours, remind = entry.get("deadline_hours"), entry.get("remind_hours_before", 0)
    for label, value in (("deadline_hours", hours), ("remind_hours_before", remind)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_HOURS:
            raise ValueError(f"{name}[{label!r}] must be a whole number from 0 to {MAX_HOURS}, "
                             f"not {value!r}.")
    if hours < 1:
        raise ValueError(f"{name}['deadline_hours'] must be at least 1.")
    return Terms(deadline_hours=hours, remind_hours_before=min(remind, hours))


def deadline_for(method: str, *, pays_on_delivery: bool, now: datetime | None = None) -> datetime | None:
    """When an order placed now with `method` must be paid by (None: never expires)."""
    terms = None if pays_on_delivery else terms_for(method)
    return (now or utcnow()) + timedelta(hours=terms.deadline_hours) if terms else None


def money_on_it(order: Order, *, now: datetime | None = None) -> str | None:
    """Why an order must not expire (money taken, held, disputed, or a gateway
    payment still open), read from its payments; None when nothing is on it."""
    now = now or utcnow()
    if order.paid_minor > 0:
        return "money has been paid on it"
    for payment in db.session.scalars(select(Payment).where(Payment.order_id == order.id)):
        if payment.state in HOLDING_MONEY:
            return f"a {payment.gateway_id} payment is {payment.state}"
        if payment.state == INTENT_CREATED and (payment.expires_at is None or payment.expires_at > now):
            return f"a {payment.gateway_id} payment is still open at the gateway"
    return None


def due_text(order: Order, locale: str | None = None) -> str:
    """The deadline in the shop's time zone, written for `locale` (the shop's by
    default), for emails and pages."""
    from .. import i18n

    if order.payment_due_at is None:
        return ""
    zone = shop.details().time_zone
    return f"{i18n.format_datetime(order.payment_due_at, locale or i18n.shop_locale())} ({zone})"


# ------------------------------------------------------------------ the worker's pass


@dataclass
class Report:
    reminded: list[str] = field(default_factory=list)  # order numbers
    expired: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # "000012: why"


def run(now: datetime | None = None) -> Report:
    """Remind the customers whose deadline is near, then expire the orders past it."""
    now = now or utcnow()
    report = Report()
    for order_id in _due_for_reminder(now):
        if remind(order_id, now=now):
            report.reminded.append(order_number(order_id))
    for order_id in _past_deadline(now):
        outcome = expire(order_id, now=now)
        if outcome is True:
            report.expired.append(order_number(order_id))
        elif isinstance(outcome, str):
            report.kept.append(f"{order_number(order_id)}: {outcome}")
    return report


def _waiting(now: datetime):
    return select(Order.id).where(Order.status.in_(WAITING), Order.pays_on_delivery.is_(False),
                                  Order.payment_due_at.is_not(None))


def _past_deadline(now: datetime) -> list[int]:
    return list(db.session.scalars(_waiting(now).where(Order.payment_due_at <= now)
                                   .order_by(Order.payment_due_at, Order.id)))


def _due_for_reminder(now: datetime) -> list[int]:
    """Orders whose reminder is due by their method's terms (read now: a reminder is
    not a promise the way a deadline is), not reminded yet, with a tracking code
    (the email's link)."""
    longest = max((t.remind_hours_before for t in map(terms_for, runtime.setting("PAYMENT_DEADLINES") or {})
                   if t), default=0)
    if not longest:
        return []
    rows = db.session.execute(
        _waiting(now).add_columns(Order.payment_method, Order.payment_due_at)
        .where(Order.payment_reminded_at.is_(None), Order.tracking_code.is_not(None),
               Order.payment_due_at > now, Order.payment_due_at <= now + timedelta(hours=longest))
        .order_by(Order.payment_due_at, Order.id))
    due = []
    for order_id, method, due_at in rows:
        terms = terms_for(method)
        if terms and terms.remind_hours_before and due_at - timedelta(hours=terms.remind_hours_before) <= now:
            due.append(order_id)
    return due


def remind(order_id: int, *, now: datetime | None = None) -> bool:
    """Queue the customer's one payment reminder (outbox, keyed per order). False when
    it is not due any more (paid meanwhile, reminded already)."""
    now = now or utcnow()
    with write_transaction():
        order = lock_order(order_id)
        waiting = order.status in WAITING and order.payment_reminded_at is None
        due = order.payment_due_at
        if not waiting or due is None or due <= now or money_on_it(order, now=now):
            return False
        order.payment_reminded_at = now
        notifications.queue_status_email(order, REMINDER)
        timeline.record(order, timeline.PAYMENT_DEADLINE, ACTOR,
                        f"Payment reminder sent: due by {due_text(order)}.")
    return True


def expire(order_id: int, *, now: datetime | None = None) -> bool | str | None:
    """Cancel one order past its payment deadline. True when cancelled; a reason
    when it is kept because money is on it; None when it is not due (paid, cancelled
    or extended meanwhile). The check and the cancel run under one lock, so a
    payment is either seen here or arrives after, as a late payment."""
    now = now or utcnow()
    # A read first: an order kept for a held or open payment is looked at every round,
    # and needs no write lock to be left alone. Only the locked check below cancels.
    peek = db.session.get(Order, order_id, populate_existing=True)
    held = money_on_it(peek, now=now) if peek is not None and peek.paid_minor == 0 else None
    if held:
        return held
    with write_transaction() as tx:
        order = lock_order(order_id)
        if order.status not in WAITING or order.payment_due_at is None or order.payment_due_at > now:
            return None
        kept = money_on_it(order, now=now)
        if kept:
            if order.paid_minor > 0:
                # Part of it is paid: staff decide, the deadline no longer applies.
                order.payment_due_at = None
                timeline.record(order, timeline.PAYMENT_DEADLINE, ACTOR,
                                f"Payment deadline passed, order kept: {kept}.")
            return kept
        orders.cancel_locked(order, actor=ACTOR, tx=tx,
                             reason=f"Not paid by the deadline ({due_text(order)}): order expired.")
    log.info("order %06d expired unpaid", order_id)
    return True


# ------------------------------------------------------------------ staff


def extend(order_id: int, hours: int, *, actor: str, now: datetime | None = None) -> Order:
    """Staff give an order more time to be paid: `hours` after its deadline, or after
    now when the deadline is close past (the worker has not expired it yet)."""
    limits.check_whole(hours, "Hours", minimum=1, maximum=MAX_EXTEND_HOURS)
    now = now or utcnow()
    with write_transaction():
        order = lock_order(order_id)
        if order.status not in WAITING or order.payment_due_at is None:
            raise ValidationError(f"Order {order.number} has no payment deadline to extend.")
        order.payment_due_at = max(order.payment_due_at, now) + timedelta(hours=hours)
        timeline.record(order, timeline.PAYMENT_DEADLINE, actor,
                        f"Payment deadline extended by {hours} h to {due_text(order)}.")
    return order


def schedule(*, every_seconds: float = 60.0, clock: Callable[[], float] | None = None) -> Periodic:
    """The worker's pass: reminders and expiry, every minute."""
    def work() -> None:
        report = run()
        for number in report.expired:
            log.info("expired unpaid: %s", number)
    options = {"clock": clock} if clock else {}
    return Periodic(work, what="expiring unpaid orders", every_seconds=every_seconds, **options)
