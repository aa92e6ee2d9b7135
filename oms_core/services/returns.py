"""Returns and exchanges (docs/architecture.md, "Returns"): every rule about them.

A customer who proved the order (or staff for them) asks to send back units that
were delivered and are not in another return yet, within the return window
(OMS_RETURN_WINDOW_DAYS from delivery, per product category where
OMS_RETURN_WINDOW_DAYS_BY_CATEGORY says so), with a reason from OMS_RETURN_REASONS
and a refund or an exchange wanted. Staff approve (a return label bought from the
order's carrier through the outbox when OMS_RETURNS_SHOP_PAYS, else the
instructions are emailed) or reject with a reason; receive the units line by line
(restocked with a ledger row of reason "return", or written off with a reason);
then refund them through services.refunds (its lines, its credit note) or send
the exchange as a replacement order that reserves stock like any order.

Every change locks the order first (the order's lock serialises two staff members
acting on one return at once), checks the edge in oms_core/return_states.py,
lands on the order's timeline and queues the customer's email in the same
transaction.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from .. import limits, order_states, return_states, runtime
from ..db import db, write_transaction
from ..errors import NotFound, ValidationError
from ..models import Order, Product, ReturnLine, ReturnRequest, Shipment, TimelineEvent
from ..models._base import utcnow
from ..protocols import CarrierResult, supports
from . import carrier_ops, notifications, orders, outbound_webhooks, outbox, refunds, stock, timeline
from .common import fetch, lock_order, optional_text, required_text

LABEL_KIND = "return.label"
LABEL_ACTOR = "carrier:return-label"
LABEL_MEDIA_TYPES = {"PDF": "application/pdf", "PNG": "image/png", "ZPL": "application/zpl"}
MAX_TEXT = 2000
# Orders whose units are all with the customer.
DELIVERED_STATES = (order_states.DELIVERED, order_states.CLOSED)


# ------------------------------------------------------------------ configuration


def reasons() -> dict[str, str]:
    """{code: label} of the reasons offered (OMS_RETURN_REASONS; a list is its own labels)."""
    configured = runtime.setting("RETURN_REASONS")
    if isinstance(configured, dict):
        return {str(code): str(label) for code, label in configured.items()}
    return {str(code): str(code) for code in configured}


def window_days(category: str) -> int:
    by_category = runtime.setting("RETURN_WINDOW_DAYS_BY_CATEGORY") or {}
    return int(by_category.get(category, runtime.setting("RETURN_WINDOW_DAYS")))


# ------------------------------------------------------------------ what can be returned


def delivered_at(order: Order) -> datetime | None:
    """When the order was delivered (its last change to delivered), None before."""
    if order.status not in DELIVERED_STATES:
        return None
    found = db.session.scalar(select(TimelineEvent.created_at).where(
        TimelineEvent.order_id == order.id, TimelineEvent.to_status == order_states.DELIVERED)
        .order_by(TimelineEvent.id.desc()).limit(1))
    return found or order.status_changed_at


def _counted_units(order_id: int, *, except_return: int | None = None) -> dict[int, int]:
    """Units per order line in returns that are not rejected or cancelled: asked
    for until received, then those received."""
    rows = db.session.execute(
        select(ReturnLine.order_line_id, ReturnLine.quantity, ReturnLine.received_quantity,
               ReturnRequest.state)
        .join(ReturnRequest, ReturnRequest.id == ReturnLine.return_id)
        .where(ReturnRequest.order_id == order_id, ReturnRequest.state.not_in(return_states.DEAD)))
    counted: dict[int, int] = {}
    for line_id, quantity, received, state in rows:
        units = received if state in return_states.AFTER_RECEIPT else quantity
        counted[line_id] = counted.get(line_id, 0) + units
    return counted


@dataclass(frozen=True)
class ReturnableLine:
    line_id: int
    sku: str
    name: str
    delivered: int
    returnable: int  # delivered, not in another return, window open
    window_closes: datetime | None


def returnable_lines(order: Order) -> list[ReturnableLine]:
    """Each line of the order with what may still be returned, and until when."""
    delivered = delivered_at(order)
    counted = _counted_units(order.id)
    now = utcnow()
    categories = dict(db.session.execute(select(Product.id, Product.category).where(
        Product.id.in_([line.product_id for line in order.lines]))).all())
    found = []
    for line in order.lines:
        days = window_days(categories.get(line.product_id, ""))
        closes = delivered + timedelta(days=days) if delivered else None
        units = line.quantity if delivered else 0
        left = max(units - counted.get(line.id, 0), 0) if closes and closes >= now else 0
        found.append(ReturnableLine(line.id, line.sku, line.name, units, left, closes))
    return found


def _check_lines(order: Order, lines: dict[int, int]) -> dict[int, int]:
    """The lines and quantities asked for, each within what may be returned; or a
    ValidationError that says which and why."""
    if not isinstance(lines, dict):
        raise ValidationError("Pick the items to return.")
    wanted = {}
    for line_id, quantity in lines.items():
        limits.check_whole(quantity, "Quantity to return", minimum=0, maximum=limits.MAX_ORDER_QUANTITY)
        if quantity:
            wanted[line_id] = quantity
    if not wanted:
        raise ValidationError("Pick at least one item to return.")
    if order.status not in DELIVERED_STATES:
        raise ValidationError(f"Order {order.number} has not been delivered yet: items can be returned once "
                              "they have arrived.")
    by_id = {line.line_id: line for line in returnable_lines(order)}
    now = utcnow()
    for line_id, quantity in wanted.items():
        line = by_id.get(line_id)
        if line is None:
            raise ValidationError("Pick items of this order.")
        if line.window_closes is not None and line.window_closes < now:
            raise ValidationError(f"The time to return {line.sku} ended on {line.window_closes:%d %b %Y}.")
        if quantity > line.returnable:
            raise ValidationError(f"At most {line.returnable} of {line.sku} can be returned.")
    return wanted


# ------------------------------------------------------------------ state changes


def _move(ret: ReturnRequest, target: str, *, actor: str, reason: str) -> None:
    """The return's one state writer: the edge checked, the timeline written."""
    return_states.check(ret.state, target)
    old, ret.state = ret.state, target
    ret.updated_at = utcnow()
    timeline.record(ret.order, timeline.RETURN, actor,
                    f"Return #{ret.id}: {return_states.LABELS[old].lower()} → "
                    f"{return_states.LABELS[target].lower()}." + (f" {reason}" if reason else ""))


def _locked(return_id: int, order_id: int | None = None) -> ReturnRequest:
    """The return, its order locked first, read fresh; NotFound for another order's."""
    ret = fetch(ReturnRequest, return_id, "return")
    if order_id is not None and ret.order_id != order_id:
        raise NotFound(f"No return {return_id}.")
    lock_order(ret.order_id)
    db.session.refresh(ret)
    return ret


def request_return(order_id: int, *, lines: dict[int, int], reason_code: str, reason_text: str = "",
                   outcome: str = return_states.REFUND, actor: str) -> ReturnRequest:
    """A customer (or staff for them) asks to return units of an order."""
    if reason_code not in reasons():
        raise ValidationError("Pick a reason for the return.")
    if outcome not in return_states.OUTCOMES:
        raise ValidationError("Pick a refund or an exchange.")
    reason_text = optional_text(reason_text, "Your comments", MAX_TEXT)
    with write_transaction():
        order = lock_order(order_id)
        wanted = _check_lines(order, lines)
        ret = ReturnRequest(order=order, state=return_states.REQUESTED, reason_code=reason_code,
                            reason_text=reason_text, outcome=outcome, created_by=actor,
                            lines=[ReturnLine(order_line_id=line_id, quantity=quantity)
                                   for line_id, quantity in sorted(wanted.items())])
        db.session.add(ret)
        db.session.flush()
        units = ", ".join(f"{line.quantity} × {line.order_line.sku}" for line in ret.lines)
        timeline.record(order, timeline.RETURN, actor,
                        f"Return #{ret.id} requested ({return_states.OUTCOMES[outcome].lower()}): {units}. "
                        f"Reason: {reasons()[reason_code]}.")
        notifications.queue_return_email(order, ret, "requested")
        outbound_webhooks.return_requested(order, return_id=ret.id, lines=wanted, reason=reason_text)
    return ret


def cancel_by_customer(order_id: int, return_id: int, *, actor: str) -> ReturnRequest:
    """The customer withdraws a return staff have not decided on yet."""
    with write_transaction():
        ret = _locked(return_id, order_id)
        _move(ret, return_states.CANCELLED, actor=actor, reason="Withdrawn by the customer.")
    return ret


def approve(return_id: int, *, note: str = "", actor: str) -> ReturnRequest:
    """Staff accept the return. With OMS_RETURNS_SHOP_PAYS and a carrier that sells
    return labels, one is bought through the outbox and emailed when it is stored;
    otherwise the customer gets the return instructions now."""
    note = optional_text(note, "Note", MAX_TEXT)
    with write_transaction():
        ret = _locked(return_id)
        _move(ret, return_states.APPROVED, actor=actor, reason=note)
        ret.staff_note = note or ret.staff_note
        shipment = label_shipment(ret.order) if runtime.setting("RETURNS_SHOP_PAYS") else None
        if shipment is not None:
            outbox.enqueue_once(LABEL_KIND, {"return_id": ret.id, "shipment_id": shipment.id},
                                key=f"return-label-{ret.key}", order_id=ret.order_id)
            timeline.record(ret.order, timeline.RETURN, actor,
                            f"Return #{ret.id}: buying a return label from {shipment.carrier_name}.")
        else:
            notifications.queue_return_email(ret.order, ret, "approved")
    return ret


def label_shipment(order: Order) -> Shipment | None:
    """The parcel a return label is bought for: the order's last delivered parcel
    whose carrier sells return labels; None when there is none."""
    registry = runtime.registry()
    for shipment in db.session.scalars(select(Shipment).where(
            Shipment.order_id == order.id, Shipment.status == "delivered").order_by(Shipment.id.desc())):
        carrier = registry.carriers.get(shipment.carrier_id)
        if carrier is not None and supports(carrier, "create_return_label"):
            return shipment
    return None


def reject(return_id: int, *, reason: str, actor: str) -> ReturnRequest:
    reason = required_text(reason, "A reason for rejecting the return", MAX_TEXT)
    with write_transaction():
        ret = _locked(return_id)
        _move(ret, return_states.REJECTED, actor=actor, reason=f"Reason: {reason}")
        ret.rejection_reason = reason
        notifications.queue_return_email(ret.order, ret, "rejected")
    return ret


@dataclass(frozen=True)
class Receipt:
    """What staff found for one return line: units received and their fate."""

    received: int
    condition: str = return_states.RESTOCK
    write_off_reason: str = ""


def receive(return_id: int, *, lines: dict[int, Receipt], actor: str) -> ReturnRequest:
    """The parcel arrived: per return line the units received, each restocked (a
    ledger row of reason "return") or written off with a reason. Once."""
    if not isinstance(lines, dict):
        raise ValidationError("Say what was received.")
    with write_transaction():
        ret = _locked(return_id)
        # A second receipt is refused before any stock moves.
        return_states.check(ret.state, return_states.RECEIVED)
        by_id = {line.id: line for line in ret.lines}
        if set(lines) - set(by_id):
            raise ValidationError("Say what was received for lines of this return.")
        total = 0
        for line_id, line in by_id.items():
            got = lines.get(line_id, Receipt(0))
            limits.check_whole(got.received, f"Units of {line.order_line.sku} received",
                               maximum=line.quantity)
            if got.received == 0:
                continue
            if got.condition == return_states.RESTOCK:
                stock.restock_return(line.order_line.product_id, got.received, order_id=ret.order_id,
                                     actor=actor, note=f"Return #{ret.id}")
            elif got.condition == return_states.WRITE_OFF:
                line.write_off_reason = required_text(got.write_off_reason,
                                                      f"Why {line.order_line.sku} is written off", 500)
            else:
                raise ValidationError(f"Pick restock or write off for {line.order_line.sku}.")
            line.received_quantity, line.condition = got.received, got.condition
            total += got.received
        if total == 0:
            raise ValidationError("Nothing received: type the units that arrived.")
        summary = ", ".join(f"{line.received_quantity} × {line.order_line.sku} "
                            f"({return_states.CONDITIONS[line.condition].lower()})"
                            for line in ret.lines if line.received_quantity)
        _move(ret, return_states.RECEIVED, actor=actor, reason=f"Received: {summary}.")
        notifications.queue_return_email(ret.order, ret, "received")
    return ret


def refund(return_id: int, *, reference: str = "", actor: str) -> ReturnRequest:
    """Refund the received units through services.refunds (priced from the order,
    never more than was paid, a credit note for the lines)."""
    with write_transaction():
        ret = _locked(return_id)
        return_states.check(ret.state, return_states.REFUNDED)
        lines = {line.order_line_id: line.received_quantity for line in ret.lines if line.received_quantity}
        made = refunds.refund_order(ret.order_id, lines=lines, reason=f"Return #{ret.id}",
                                    reference=reference, actor=actor)
        amount = sum(r.amount_minor for r in made)
        _move(ret, return_states.REFUNDED, actor=actor,
              reason=f"Refund of {_money(amount, ret.order.currency)} made.")
        notifications.queue_return_email(ret.order, ret, "refunded")
    return ret


def exchange(return_id: int, *, lines: list[tuple[str, int]] | None = None, actor: str) -> Order:
    """Send the exchange: a replacement order (no charge) of `lines` (sku,
    quantity), by default the received units' SKUs. Its stock is reserved like any
    order's (OutOfStock refuses it, changing nothing); it ships like any order."""
    with write_transaction() as tx:
        ret = _locked(return_id)
        return_states.check(ret.state, return_states.EXCHANGED)
        if lines is None:
            lines = [(line.order_line.sku, line.received_quantity)
                     for line in ret.lines if line.received_quantity]
        replacement = orders.place_replacement(
            ret.order, lines, note=f"Exchange for return #{ret.id} of order {ret.order.number}.", actor=actor,
            tx=tx)
        db.session.flush()
        ret.exchange_order_id = replacement.id
        _move(ret, return_states.EXCHANGED, actor=actor, reason=f"Replacement order {replacement.number}.")
        notifications.queue_return_email(ret.order, ret, "exchanged")
    return replacement


def close(return_id: int, *, actor: str) -> ReturnRequest:
    with write_transaction():
        ret = _locked(return_id)
        _move(ret, return_states.CLOSED, actor=actor, reason="")
    return ret


def add_note(return_id: int, note: str, *, actor: str) -> ReturnRequest:
    """Staff's note on the return (shown to staff only)."""
    note = required_text(note, "Note", MAX_TEXT)
    with write_transaction():
        ret = _locked(return_id)
        ret.staff_note = note
        timeline.record(ret.order, timeline.NOTE, actor, f"Return #{ret.id}: {note}")
    return ret


def _money(amount_minor: int, currency: str) -> str:
    from ..money import format_amount

    return format_amount(amount_minor, currency)


# ------------------------------------------------------------------ return labels (outbox)


@outbox.handler(LABEL_KIND)
def _buy_label(message) -> None:
    ret = db.session.get(ReturnRequest, message.payload["return_id"])
    if ret is None or ret.label_format:
        db.session.commit()
        return
    result = carrier_ops.return_label(message.payload["shipment_id"])  # commits before the carrier answers
    if isinstance(result, CarrierResult) and result.ok and result.label is not None:
        store_label(ret.id, result)
        return
    error = getattr(result, "error", None) or "The carrier sold no return label."
    if getattr(result, "retryable", False):
        raise outbox.SendError(error)
    label_failed(ret.id, error)
    raise outbox.Refused(error)


def store_label(return_id: int, result: CarrierResult) -> None:
    """Keep the label as the carrier sold it and email it to the customer."""
    with write_transaction():
        ret = _locked(return_id)
        if ret.label_format:
            return
        ret.label_data, ret.label_format = bytes(result.label.data), str(result.label.format)[:8]
        ret.label_tracking_number, ret.label_error = (result.tracking_number or "")[:100], ""
        timeline.record(ret.order, timeline.RETURN, LABEL_ACTOR,
                        f"Return #{ret.id}: return label bought"
                        + (f" ({ret.label_tracking_number})." if ret.label_tracking_number else "."))
        notifications.queue_return_email(ret.order, ret, "approved")


def label_failed(return_id: int, error: str) -> None:
    """The carrier refused: staff see why; the customer gets the instructions instead."""
    with write_transaction():
        ret = _locked(return_id)
        ret.label_error = error[:2000]
        timeline.record(ret.order, timeline.RETURN, LABEL_ACTOR,
                        f"Return #{ret.id}: no return label ({error[:200]}); instructions sent instead.")
        notifications.queue_return_email(ret.order, ret, "approved")


def label(return_id: int, order_id: int | None = None) -> tuple[bytes, str, str]:
    """(bytes, media type, filename) of a return's stored label; NotFound without
    one, or for another order's return when `order_id` is given (the customer's)."""
    ret = fetch(ReturnRequest, return_id, "return")
    if (order_id is not None and ret.order_id != order_id) or not ret.label_format:
        raise NotFound(f"Return {return_id} has no label.")
    media = LABEL_MEDIA_TYPES.get(ret.label_format, "application/octet-stream")
    return ret.label_data, media, f"return-{ret.id}.{ret.label_format.lower()}"


# ------------------------------------------------------------------ reading


@dataclass(frozen=True)
class CustomerView:
    """What the customer's returns page shows (the order proven already)."""

    order_id: int
    order_number: str
    lines: list[ReturnableLine]
    returns: list[ReturnRequest]
    reasons: dict[str, str]
    outcomes: dict[str, str]

    @property
    def can_request(self) -> bool:
        return any(line.returnable for line in self.lines)


def customer_view(order_id: int) -> CustomerView:
    order = fetch(Order, order_id, "order")
    return CustomerView(order.id, order.number, returnable_lines(order), for_order(order.id), reasons(),
                        dict(return_states.OUTCOMES))


def for_order(order_id: int) -> list[ReturnRequest]:
    return list(db.session.scalars(select(ReturnRequest).where(ReturnRequest.order_id == order_id)
                                   .order_by(ReturnRequest.id)))


def get(return_id: int) -> ReturnRequest:
    return fetch(ReturnRequest, return_id, "return")


def listing(*, state: str | None = None, after: int | None = None, limit: int = 50) -> list[ReturnRequest]:
    """Returns for staff, oldest first (those waiting longest on top); `state`
    None: those waiting on the shop (requested, approved, received)."""
    query = select(ReturnRequest).order_by(ReturnRequest.id).limit(limit)
    query = query.where(ReturnRequest.state == state) if state else query.where(
        ReturnRequest.state.in_(return_states.OPEN))
    if after is not None:
        query = query.where(ReturnRequest.id > after)
    return list(db.session.scalars(query))


def staff_actions(ret: ReturnRequest) -> frozenset[str]:
    """What the return page offers in the return's state."""
    return frozenset(return_states.TRANSITIONS[ret.state]) - {return_states.CANCELLED}
