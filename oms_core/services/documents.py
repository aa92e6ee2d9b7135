"""Invoices, receipts, credit notes and packing slips (docs/architecture.md,
invariant 4).

Issuing happens inside the caller's write transaction and takes the number
(services.numbering) and a snapshot of everything the document prints: seller
(OMS_SHOP, logo included), customer, lines, taxes. The PDF is rendered from the
snapshot alone, after the commit, so the counter (and on SQLite the database) is
never held locked for the time a PDF takes: by whoever needs the bytes first (a
download, an email attachment) or else by the worker's next pass
(`render_schedule`). A crash in between loses nothing: the snapshot is committed
and the next of them renders it. The bytes and their sha256 are written once, by
a conditional UPDATE; a document whose bytes are stored never changes, and later
changes to the shop's details or the order do not reach it.

Each `issue_*` is idempotent per source: one invoice per order, one receipt per
payment, one credit note per refund, one packing slip per shipment.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import undefer
from sqlalchemy.orm.attributes import set_committed_value

from .. import i18n, limits, runtime, shop
from ..db import db, read_connection, write_transaction
from ..errors import NotFound, ValidationError
from ..i18n import N_
from ..models import Document, Order, Shipment, order_number
from ..models._base import utcnow
from ..protocols import supports
from . import document_data, numbering, timeline
from .common import fetch
from .periodic import Periodic

INVOICE, RECEIPT, CREDIT_NOTE, PACKING_SLIP = Document.KINDS
# English, as stored and on the timeline; documents show them in their own locale.
TITLES = {INVOICE: N_("Invoice"), RECEIPT: N_("Receipt"), CREDIT_NOTE: N_("Credit note"),
          PACKING_SLIP: N_("Packing slip")}
ACTOR = "oms:documents"
log = logging.getLogger(__name__)


# ------------------------------------------------------------------ issuing


def issue_invoice(order: Order) -> Document:
    """The order's invoice (its one invoice: a second call returns it)."""
    return _issue(order, INVOICE, "order", order.id, lambda: {
        **document_data.parties(order), **document_data.taxed(order),
        "payment": document_data.payment_terms(order)})


def issue_receipt(order: Order, *, payment_id: int, amount_minor: int, currency: str, method_label: str,
                  reference: str, paid_at: datetime) -> Document:
    """A receipt for one captured payment."""
    return _issue(order, RECEIPT, "payment", payment_id, lambda: {
        **document_data.parties(order), "currency": currency,
        "payment": {"amount_minor": amount_minor, "method": method_label, "reference": reference or "",
                    "paid_at": paid_at.isoformat(), "due_after_minor": max(order.balance_minor, 0)}})


def issue_credit_note(order: Order, *, refund_id: int, amount_minor: int,
                      lines: list[tuple[int, int]] | None, reason: str, shipping_minor: int = 0) -> Document:
    """A credit note for a refund of `amount_minor`: `lines` ((order line id,
    quantity) each, tax split by the line's rate), `shipping_minor` of the shipping
    (at its rate), and any rest shared over the order's rates in proportion to
    their amounts (oms_core/taxes.py). All of a line or of the shipping gives back
    exactly what the invoice charged."""
    for value, label in ((amount_minor, "amount"), (shipping_minor, "shipping amount")):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValidationError(f"A credit note's {label} is a whole number of minor units.")
    if not amount_minor or shipping_minor > order.shipping_minor:
        raise ValidationError("A credit note needs an amount of more than zero, and at most the shipping paid.")

    def data():
        invoice = current_invoice(order)
        return {**document_data.parties(order),
                **document_data.credited(order, amount_minor, lines or [], shipping_minor),
                "reason": reason or "", "invoice_number": invoice.number if invoice else ""}
    return _issue(order, CREDIT_NOTE, "refund", refund_id, data)


def current_invoice(order: Order) -> Document | None:
    """The order's invoice in force: the latest one not credited by an edit (an
    edited order's invoice is credited in full and a new one issued)."""
    credited = select(Document.source_id).where(Document.kind == CREDIT_NOTE, Document.source_kind == "invoice",
                                                Document.order_id == order.id)
    return db.session.scalar(select(Document).where(
        Document.order_id == order.id, Document.kind == INVOICE, Document.id.not_in(credited))
        .order_by(Document.id.desc()).limit(1))


def correct_invoice(order: Order, invoice: Document, *, edit_id: int, reason: str) -> tuple[Document, Document]:
    """An edit changed an invoiced order: a credit note for the whole of `invoice`
    (its own lines, taxes and parties, so it mirrors it exactly) and a new invoice
    of the order as it is now, sourced by the edit (`edit_id`, its timeline event).
    Caller's transaction; both numbers come from their counters in it."""
    old = db.session.scalar(select(Document).where(Document.id == invoice.id).options(undefer(Document.data)))
    printed = {key: old.data[key] for key in ("billing", "shipping", "customer", "lines", "totals", "breakdown")}
    new = _issue(order, INVOICE, "order_edit", edit_id, lambda: {
        **document_data.parties(order), **document_data.taxed(order),
        "payment": document_data.payment_terms(order)})
    credit = _issue(order, CREDIT_NOTE, "invoice", invoice.id, lambda: {
        **printed, "currency": old.data["currency"], "reason": reason, "invoice_number": old.number,
        "replaced_by": new.number})
    return credit, new


def issue_packing_slip(shipment: Shipment) -> Document:
    """What goes in the parcel: the items and the address, no prices."""
    order = shipment.order
    return _issue(order, PACKING_SLIP, "shipment", shipment.id, lambda: {
        "shipping": order.shipping_address, "note": order.note,
        "lines": [{"sku": item.order_line.sku, "name": item.order_line.name, "quantity": item.quantity}
                  for item in shipment.lines],
        "shipment": {"id": shipment.id, "carrier_name": shipment.carrier_name, "service": shipment.service}})


def invoice_on_confirmation(order: Order) -> bool:
    """Every order gets its invoice when paid in full (services.payments); with
    OMS_INVOICE_ON = "confirmed" (checked at start-up: shop.check_settings), orders
    paid later (cash on delivery, bank transfer: a gateway whose money staff
    record) get it at confirmation already."""
    return runtime.setting("INVOICE_ON") == "confirmed" and _pays_later(order)


def _pays_later(order: Order) -> bool:
    gateway = runtime.registry().gateways.get(order.payment_method)
    return order.pays_on_delivery or bool(gateway is not None and supports(gateway, "verify_payment"))


def _issue(order: Order, kind: str, source_kind: str, source_id: int, snapshot) -> Document:
    if order.id is None or source_id is None:
        db.session.flush()
        source_id = order.id if source_kind == "order" else source_id
    existing = _find(kind, source_kind, source_id)
    if existing is not None:
        return existing
    details = shop.details()
    data = {"currency": order.currency, **snapshot()}
    issued_at = utcnow()
    year = issued_at.astimezone(ZoneInfo(details.time_zone)).year
    sequence = numbering.next_value(kind, year)
    number = numbering.formatted(kind, year, sequence)
    data.update(kind=kind, title=TITLES[kind], number=number, issued_at=issued_at.isoformat(),
                shop=details.snapshot(), locale=i18n.locale_of(order),
                order={"number": order.number, "placed_at": order.created_at.isoformat(),
                       "total_minor": order.total_minor})
    document = Document(order_id=order.id, kind=kind, series=kind, year=year, sequence=sequence,
                        number=number, issued_at=issued_at, source_kind=source_kind, source_id=source_id,
                        data=data, filename=f"{number}.pdf")
    db.session.add(document)
    db.session.flush()
    timeline.record(order, timeline.DOCUMENT_ISSUED, ACTOR, f"{TITLES[kind]} {number} issued.")
    return document


def _find(kind: str, source_kind: str, source_id: int) -> Document | None:
    return db.session.scalar(select(Document).where(
        Document.kind == kind, Document.source_kind == source_kind, Document.source_id == source_id))


# ------------------------------------------------------------------ rendering and reading


def rendered(document_id: int) -> Document:
    """The document with its PDF stored: rendered now from its snapshot if nobody has
    yet. Rendering runs outside any transaction; the first bytes stored win."""
    document = db.session.scalar(select(Document).where(Document.id == document_id).options(
        undefer(Document.data), undefer(Document.pdf))) if limits.is_id(document_id) else None
    if document is None:
        raise NotFound(f"No document {document_id}.")
    if document.sha256 is not None:
        return document
    from ..documents import render

    pdf = render(document.data)
    digest = hashlib.sha256(pdf).hexdigest()
    with write_transaction(keep_loaded=True):  # which ends the read first
        stored = db.session.execute(
            update(Document).where(Document.id == document_id, Document.sha256.is_(None))
            .values(pdf=pdf, sha256=digest, size=len(pdf)).returning(Document.id)).first()
    if stored is None:  # another renderer stored its bytes first: those are the document
        return db.session.get(Document, document_id, populate_existing=True, options=[undefer(Document.pdf)])
    for name, value in (("pdf", pdf), ("sha256", digest), ("size", len(pdf))):
        set_committed_value(document, name, value)
    return document


def pdf_bytes(document_id: int) -> bytes:
    """The stored PDF, checked against its sha256 (rendered first if need be)."""
    return _checked(rendered(document_id))


def _checked(document: Document) -> bytes:
    if hashlib.sha256(document.pdf).hexdigest() != document.sha256:
        raise RuntimeError(f"Document {document.number}: stored bytes do not match their sha256.")
    return document.pdf


def get_document(document_id: int) -> Document:
    return fetch(Document, document_id, "document")


# A download reads one row with a plain statement on its own connection: served as
# often as a static file, it skips the ORM's per-query work.
_docs = Document.__table__.c
_DOWNLOAD = select(_docs.order_id, _docs.number, _docs.filename, _docs.sha256, _docs.pdf).where(
    _docs.id == bindparam("document_id"))


def download(order_id: int, document_id: int):
    """A document of that order (number, filename, sha256) with its stored PDF, or
    NotFound (also for another order's document: the caller proved `order_id` only)."""
    row = None
    if limits.is_id(document_id):
        with read_connection() as connection:
            row = connection.execute(_DOWNLOAD, {"document_id": document_id}).first()
    if row is None or row.order_id != order_id:
        raise NotFound(f"No document {document_id} on this order.")
    document = row if row.sha256 is not None else rendered(document_id)
    return document, _checked(document)


def credit_note_for(refund_id: int) -> list[int]:
    """The id of a refund's credit note, as a list of attachments (empty before it is issued)."""
    found = _find(CREDIT_NOTE, "refund", refund_id)
    return [found.id] if found else []


def attachments_for(order: Order, status: str) -> list[int]:
    """Ids of the documents the customer's email about `status` carries: the invoice
    (once issued) and, when paid, the receipts."""
    wanted = {"confirmed": (INVOICE,), "paid": (INVOICE, RECEIPT)}.get(status, ())
    if not wanted or order.id is None:
        return []
    return list(db.session.scalars(select(Document.id).where(
        Document.order_id == order.id, Document.kind.in_(wanted)).order_by(Document.id)))


@dataclass(frozen=True)
class ListedDocument:
    id: int
    title: str
    number: str
    issued_at: datetime


@dataclass(frozen=True)
class Listing:
    """What a customer who proved the order sees of its documents."""

    order_id: int
    order_number: str
    documents: tuple[ListedDocument, ...]


def listing(order_id: int) -> Listing:
    rows = db.session.execute(select(Document.id, Document.kind, Document.number, Document.issued_at)
                              .where(Document.order_id == order_id).order_by(Document.id)).all()
    return Listing(order_id=order_id, order_number=order_number(order_id),
                   documents=tuple(ListedDocument(r.id, TITLES[r.kind], r.number, r.issued_at) for r in rows))


def documents_for(order_id: int) -> list[Document]:
    return list(db.session.scalars(select(Document).where(Document.order_id == order_id)
                                   .order_by(Document.id)))


def render_pending(limit: int = 50) -> int:
    """Render documents issued without their PDF yet (the worker's pass); how many
    were rendered. One that fails is logged and left for its first reader or the
    next pass, without holding up the others."""
    pending = list(db.session.scalars(select(Document.id).where(Document.sha256.is_(None))
                                      .order_by(Document.id).limit(limit)))
    done = 0
    for document_id in pending:
        try:
            rendered(document_id)
            done += 1
        except Exception:  # noqa: BLE001 - the worker goes on with the next document
            db.session.rollback()
            log.exception("rendering document %s failed; trying again later", document_id)
    return done


def render_schedule(every_seconds: float = 10.0) -> Periodic:
    return Periodic(render_pending, what="rendering issued documents", every_seconds=every_seconds)
