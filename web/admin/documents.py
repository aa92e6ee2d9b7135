"""Staff download an order's documents from the order page (login required, like
every back-office route)."""
from __future__ import annotations

from oms_core.services import documents

from ..pdf_response import pdf_response
from . import blueprint


@blueprint.route("/orders/<int:order_id>/documents/<int:document_id>")
def order_document(order_id: int, document_id: int):
    return pdf_response(*documents.download(order_id, document_id))
