"""Import and export: orders from other channels and products/stock from CSV files
(the report shown at once), CSV exports of the orders list (its filters), the
stock ledger, and (owners) the shop's whole data as a zip."""
from __future__ import annotations

from flask import Response, abort, render_template, request, stream_with_context

from oms_core import runtime
from oms_core.errors import DomainError
from oms_core.models._base import utcnow
from oms_core.services import csv_export, csv_import

from . import blueprint, forms
from .access import actor, owner_required


def _page(report=None, error=None, status=200):
    return render_template("oms/admin/data/page.html", report=report, error=error,
                           order_columns=csv_import.ORDER_COLUMNS, product_columns=csv_import.PRODUCT_COLUMNS,
                           max_rows=runtime.setting("IMPORT_MAX_ROWS"),
                           max_bytes=runtime.setting("IMPORT_MAX_BYTES")), status


@blueprint.route("/data")
def data_transfer():
    return _page()


def _import(service):
    try:
        data = forms.upload(request.files, "file", runtime.setting("IMPORT_MAX_BYTES"))
        report = service(data, actor=actor())
    except DomainError as exc:
        return _page(error=str(exc), status=400)
    return _page(report=report)


@blueprint.route("/data/import/orders", methods=["POST"])
def import_orders():
    return _import(csv_import.import_orders)


@blueprint.route("/data/import/products", methods=["POST"])
@owner_required
def import_products():
    return _import(csv_import.import_products)


def _download(body, filename: str, mimetype: str) -> Response:
    response = Response(stream_with_context(body), mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.route("/data/export/<kind>.csv")
def export_csv(kind: str):
    stamp = utcnow().strftime("%Y%m%d-%H%M")
    if kind == "stock":
        body = csv_export.export_stock_moves(search=request.args.get("q", "").strip()[:64])
    elif kind in csv_export.EXPORTS:
        body = csv_export.EXPORTS[kind](**forms.order_filters(request.args))
    else:
        abort(404)
    return _download(body, f"{kind}-{stamp}.csv", "text/csv; charset=utf-8")


@blueprint.route("/data/export/everything.zip")
@owner_required
def export_everything():
    stamp = utcnow().strftime("%Y%m%d-%H%M")
    return _download(csv_export.full_export(), f"oms-data-{stamp}.zip", "application/zip")
