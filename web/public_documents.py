"""Customers download their order's documents once they have proven the order is
theirs (docs/architecture.md, invariant 6): the tracking code and the order's
email, typed here (rate-limited like the tracking page), or the signed link in
their emails. The proof is kept in their session for a while
(services.customer_proof); without it nothing of the order is shown."""
from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, session, url_for

from oms_core.errors import ValidationError
from oms_core.services import complaints, customer_proof, documents

from . import public_returns
from .errors import answer_domain_errors_inline
from .pdf_response import pdf_response
from .public import private_pages
from .public_assembly import install as install_assembly
from .public_complaints import add_routes as add_complaint_routes

NOT_PROVEN = "Prove the order is yours first: type its tracking code and email."


def make_blueprint(limiter, limit: str) -> Blueprint:
    blueprint = Blueprint("oms_documents", __name__)
    answer_domain_errors_inline(blueprint)

    def proven_order(order_id: int) -> int:
        if not customer_proof.granted(session, order_id):
            abort(404, NOT_PROVEN)  # the same answer whether the order exists or not
        return order_id

    def granted_redirect(order_id: int):
        customer_proof.grant(session, order_id)
        return redirect(url_for("oms_documents.order_documents", order_id=order_id), code=303)

    @blueprint.route("", methods=["GET", "POST"])
    @limiter.limit(limit, methods=["POST"])
    def prove():
        code = (request.values.get("code") or "").strip()[:40]
        if request.method == "GET":
            return render_template("oms/public/documents_proof.html", code=code, error=None)
        try:
            order_id = customer_proof.prove(code, request.form.get("email", "")[:254])
        except ValidationError as exc:
            return render_template("oms/public/documents_proof.html", code=code, error=str(exc)), 400
        return granted_redirect(order_id)

    @blueprint.route("/link/<token>")
    def link(token: str):
        return granted_redirect(customer_proof.order_from_link(token[:500]))

    @blueprint.route("/<int:order_id>")
    def order_documents(order_id: int):
        listing = documents.listing(proven_order(order_id))
        return render_template("oms/public/documents.html", listing=listing,
                               complaints=complaints.customer_view(order_id))

    @blueprint.route("/<int:order_id>/<int:document_id>")
    def document(order_id: int, document_id: int):
        return pdf_response(*documents.download(proven_order(order_id), document_id))

    add_complaint_routes(blueprint, limiter, limit, proven_order)

    @blueprint.errorhandler(404)
    def not_proven(error):
        return render_template("oms/public/documents_proof.html", code="", error=error.description), 404

    install_assembly(blueprint, limiter, limit, proven_order)
    public_returns.add_routes(blueprint, limiter, limit, proven_order)
    private_pages(blueprint)
    return blueprint
