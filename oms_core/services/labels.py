"""Carrier labels: kept as the carrier sold them, served as stored, and printed per
parcel with its packing slip (one PDF: the label, then the slip, when the label is
a PDF), or for many orders at once (one batch PDF).

pypdf joins the PDFs: pure Python, small and well kept; imported only here, when a
label is printed."""
from __future__ import annotations

import io

from sqlalchemy import select

from .. import limits
from ..db import db
from ..errors import NotFound, ValidationError
from ..models import Document, Shipment
from ..protocols import LABEL_FORMATS, CarrierResult
from . import documents

MEDIA_TYPES = {"PDF": "application/pdf", "ZPL": "application/x-zpl", "PNG": "image/png"}
MAX_LABEL_BYTES = 5 * 1024 * 1024
MAX_BATCH_ORDERS = 200


def keep(shipment: Shipment, result: CarrierResult) -> None:
    """Store the label and its cost from a booking's answer (caller's transaction).
    A label in a format the OMS does not know, or too big, is left out, not guessed."""
    label = result.label
    if label is not None and isinstance(label.data, bytes) and label.format in LABEL_FORMATS \
            and 0 < len(label.data) <= MAX_LABEL_BYTES:
        shipment.label_data, shipment.label_format = label.data, label.format
    if isinstance(result.cost_minor, int) and not isinstance(result.cost_minor, bool) and result.cost_minor >= 0:
        shipment.label_cost_minor = result.cost_minor
        shipment.label_currency = (result.currency or "")[:3].upper()


def _shipment(order_id: int, shipment_id: int) -> Shipment:
    shipment = db.session.get(Shipment, shipment_id) if limits.is_id(shipment_id) else None
    if shipment is None or shipment.order_id != order_id:
        raise NotFound(f"Order {order_id} has no shipment #{shipment_id}.")
    return shipment


def label(order_id: int, shipment_id: int) -> tuple[bytes, str, str]:
    """(bytes, media type, filename) of a parcel's label, as the carrier sold it."""
    shipment = _shipment(order_id, shipment_id)
    if not shipment.label_data:
        raise NotFound(f"Shipment #{shipment_id} has no label.")
    extension = shipment.label_format.lower()
    return (shipment.label_data, MEDIA_TYPES[shipment.label_format],
            f"label-{shipment.order.number}-{shipment.id}.{extension}")


def _packing_slip_pdf(shipment: Shipment) -> bytes | None:
    document_id = db.session.scalar(select(Document.id).where(
        Document.source_kind == "shipment", Document.source_id == shipment.id))
    return documents.download(shipment.order_id, document_id)[1] if document_id else None


def join_pdfs(pdfs: list[bytes]) -> bytes:
    """PDFs one after the other in one PDF (also services.bulk's packing slips)."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for pdf in pdfs:
        for page in PdfReader(io.BytesIO(pdf)).pages:
            writer.add_page(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _parcel_pdfs(shipment: Shipment) -> list[bytes]:
    pdfs = [shipment.label_data] if shipment.label_data and shipment.label_format == "PDF" else []
    slip = _packing_slip_pdf(shipment)
    return pdfs + ([slip] if slip else [])


def parcel_pdf(order_id: int, shipment_id: int) -> tuple[bytes, str]:
    """One PDF per parcel: its label (when a PDF) followed by its packing slip."""
    shipment = _shipment(order_id, shipment_id)
    pdfs = _parcel_pdfs(shipment)
    if not pdfs:
        raise NotFound(f"Shipment #{shipment_id} has neither a PDF label nor a packing slip yet.")
    return join_pdfs(pdfs), f"parcel-{shipment.order.number}-{shipment.id}.pdf"


def batch_pdf(order_ids: list[int]) -> bytes:
    """Labels and packing slips of the booked, not cancelled parcels of these orders."""
    if not order_ids or len(order_ids) > MAX_BATCH_ORDERS:
        raise ValidationError(f"Pick 1 to {MAX_BATCH_ORDERS} orders.")
    parcels = db.session.scalars(select(Shipment).where(
        Shipment.order_id.in_(order_ids), Shipment.status != "cancelled").order_by(Shipment.order_id, Shipment.id))
    pdfs = [pdf for shipment in parcels for pdf in _parcel_pdfs(shipment)]
    if not pdfs:
        raise ValidationError("These orders have no labels or packing slips yet.")
    return join_pdfs(pdfs)
