"""Complaints on the customer's proven page (docs/architecture.md, "Complaints and
uploads"): open one (subject, category, message, photos), read each thread (no
internal notes) and answer it, see the photos. Mounted on the documents blueprint
(web/public_documents.py), so the same proof, session, rate limit, CSRF and
private-page headers apply; everything is addressed through the proven order, so
nothing of another order is reachable. Plain forms: the public pages run no
script. The pages and the view's own messages speak the visitor's language
(web/i18n.py); texts the customer typed, and the shop's category names, stay as written."""
from __future__ import annotations

from typing import Callable

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_babel import gettext

from oms_core.errors import ValidationError
from oms_core.services import complaints, customer_proof, uploads

from .uploads import accepts_uploads, image_response, incoming_files

NEW = "oms/public/complaint_new.html"
THREAD = "oms/public/complaint_thread.html"


def add_routes(blueprint: Blueprint, limiter, limit: str, proven_order: Callable[[int], int]) -> None:
    def thread_url(order_id: int, complaint_id: int) -> str:
        return url_for("oms_documents.complaint_thread", order_id=order_id, complaint_id=complaint_id)

    @blueprint.route("/<int:order_id>/complaints", methods=["GET", "POST"])
    @limiter.limit(limit, methods=["POST"])
    @accepts_uploads
    def complaint_new(order_id: int):
        proven_order(order_id)
        view = complaints.customer_view(order_id)
        if request.method == "GET":
            return render_template(NEW, view=view, values={}, error=None)
        form = request.form
        try:
            complaint = complaints.open_complaint(
                order_id, subject=form.get("subject", "")[:1000], category=form.get("category", "")[:200],
                body=form.get("body", "")[:20_000], files=incoming_files())
        except ValidationError as exc:
            return render_template(NEW, view=view, values=form, error=str(exc)), 400
        return redirect(thread_url(order_id, complaint.id), code=303)

    @blueprint.route("/<int:order_id>/complaints/<int:complaint_id>", methods=["GET", "POST"])
    @limiter.limit(limit, methods=["POST"])
    @accepts_uploads
    def complaint_thread(order_id: int, complaint_id: int):
        proven_order(order_id)
        if request.method == "GET":
            return render_template(THREAD, thread=complaints.customer_thread(order_id, complaint_id),
                                   view=complaints.customer_view(order_id), values={}, error=None)
        try:
            complaints.customer_reply(order_id, complaint_id, body=request.form.get("body", "")[:20_000],
                                      files=incoming_files())
        except ValidationError as exc:
            return render_template(THREAD, thread=complaints.customer_thread(order_id, complaint_id),
                                   view=complaints.customer_view(order_id), values=request.form,
                                   error=str(exc)), 400
        return redirect(thread_url(order_id, complaint_id) + "#oms-complaint-end", code=303)

    @blueprint.route("/<int:order_id>/complaints/<int:complaint_id>/link/<token>")
    @limiter.limit(limit)
    def complaint_link(order_id: int, complaint_id: int, token: str):
        """The link in a reply's email: it proves the order, then opens the thread."""
        if customer_proof.order_from_link(token[:500]) != order_id:
            raise ValidationError(gettext("This link is not valid."))
        customer_proof.grant(session, order_id)
        return redirect(thread_url(order_id, complaint_id), code=303)

    @blueprint.route("/<int:order_id>/complaints/photos/<token>")
    def complaint_photo(order_id: int, token: str):
        return image_response(*uploads.for_order(token[:64], proven_order(order_id)))

    @blueprint.errorhandler(413)
    def too_large(_error):
        message = gettext("That is too much to send at once: at most %(count)s photos of %(size)s MB each.",
                          count=uploads.max_per_message(), size=uploads.max_bytes() // (1024 * 1024) or 1)
        return render_template("oms/public/documents_proof.html", code="", error=message), 413
