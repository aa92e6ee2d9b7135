"""Customers' returns and exchanges, on the pages of an order they proved is
theirs (web/public_documents.py, docs/architecture.md invariant 6): what can be
returned, a form to ask for a return, each return's state, its label, and
withdrawing one not decided yet. The same proof, rate limit and CSRF as the
documents pages; a return is only ever looked up within the proven order."""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, session, url_for
from werkzeug.exceptions import NotFound as HTTPNotFound

from oms_core import return_states
from oms_core.errors import DomainError, NotFound
from oms_core.services import customer_proof, returns

from .admin import forms
from .pdf_response import attachment

CUSTOMER = "customer"


def _page(order_id: int, *, error: str | None = None, message: str | None = None, values=None,
          status: int = 200):
    view = returns.customer_view(order_id)
    return render_template("oms/public/returns.html", view=view, error=error, message=message,
                           values=values or {}, labels=return_states.LABELS,
                           conditions=return_states.CONDITIONS), status


def add_routes(blueprint: Blueprint, limiter, limit: str, proven_order) -> None:
    """Register the returns pages on the documents blueprint; `proven_order(id)`
    answers 404 unless this visitor proved that order."""

    @blueprint.route("/<int:order_id>/returns")
    def order_returns(order_id: int):
        return _page(proven_order(order_id))

    @blueprint.route("/<int:order_id>/returns", methods=["POST"])
    @limiter.limit(limit)
    def request_return(order_id: int):
        order_id = proven_order(order_id)
        form = request.form
        try:
            ret = returns.request_return(order_id, lines=forms.line_quantities(form),
                                         reason_code=forms.text(form, "reason")[:32],
                                         reason_text=form.get("text", "")[:returns.MAX_TEXT + 1],
                                         outcome=forms.text(form, "outcome")[:10], actor=CUSTOMER)
        except DomainError as exc:
            return _page(order_id, error=str(exc), values=form, status=400)
        return _page(order_id, message=f"Return #{ret.id} requested: we will email you when we have "
                                       "looked at it.")

    @blueprint.route("/<int:order_id>/returns/<int:return_id>/cancel", methods=["POST"])
    @limiter.limit(limit)
    def cancel_return(order_id: int, return_id: int):
        order_id = proven_order(order_id)
        try:
            returns.cancel_by_customer(order_id, return_id, actor=CUSTOMER)
        except NotFound:
            raise HTTPNotFound("No such return.") from None
        except DomainError as exc:
            return _page(order_id, error=str(exc), status=409)
        return _page(order_id, message=f"Return #{return_id} withdrawn.")

    @blueprint.route("/<int:order_id>/returns/<int:return_id>/label")
    def customer_return_label(order_id: int, return_id: int):
        try:
            return attachment(*returns.label(return_id, proven_order(order_id)))
        except NotFound:
            raise HTTPNotFound("No such label.") from None

    @blueprint.route("/<int:order_id>/returns/link/<token>")
    def returns_link(order_id: int, token: str):
        proven = customer_proof.order_from_link(token[:500])
        if proven != order_id:
            raise HTTPNotFound("This link is not valid.")
        customer_proof.grant(session, proven)
        return redirect(url_for("oms_documents.order_returns", order_id=proven), code=303)
