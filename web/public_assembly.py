"""A customer who proved the order (web/public_documents.py) sees its assembly job
on the documents page, gives preferred slots, asks to move the appointment and
downloads it as a calendar file. Same proof, rate limit and CSRF as the documents
pages; the rules are services.assembly's."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for

from oms_core.errors import DomainError
from oms_core.services import assembly, complaints, documents

FLASH = "assembly"
# Date and part-of-day fields of the slots form: slot-0-date, slot-0-part, ...
SLOT_FIELDS = range(assembly.MAX_SLOTS)


def _slots(form) -> list[dict]:
    return [{"date": (form.get(f"slot-{n}-date") or "")[:20], "part": (form.get(f"slot-{n}-part") or "")[:20]}
            for n in SLOT_FIELDS]


def install(blueprint: Blueprint, limiter, limit: str, proven_order) -> None:
    @blueprint.context_processor
    def _assembly_helpers():
        return {"oms_assembly_job": assembly.for_customer, "oms_assembly_parts": assembly.PARTS_OF_DAY,
                "oms_assembly_slot_fields": SLOT_FIELDS}

    def answer(order_id: int, change, message: str):
        """Call `change(order_id, slots=..., note=...)`; on a refusal show the page again
        with what was typed, else go back to it with `message`."""
        form = request.form
        try:
            change(order_id, slots=_slots(form), note=(form.get("note") or "")[:2000])
        except DomainError as exc:
            listing = documents.listing(order_id)
            return render_template("oms/public/documents.html", listing=listing, assembly_error=str(exc),
                                   assembly_values=form, complaints=complaints.customer_view(order_id)), \
                exc.status_code
        flash(message, FLASH)
        page = url_for("oms_documents.order_documents", order_id=order_id)
        return redirect(page + "#oms-assembly", code=303)

    @blueprint.route("/<int:order_id>/assembly", methods=["POST"])
    @limiter.limit(limit)
    def assembly_preferences(order_id: int):
        order_id = proven_order(order_id)
        return answer(order_id, assembly.set_preferences,
                      "Thank you: we will propose an appointment in one of these slots.")

    @blueprint.route("/<int:order_id>/assembly/move", methods=["POST"])
    @limiter.limit(limit)
    def assembly_move(order_id: int):
        order_id = proven_order(order_id)
        return answer(order_id, assembly.request_move,
                      "Your request is sent: we will confirm a new appointment by email.")

    @blueprint.route("/<int:order_id>/assembly.ics")
    @limiter.limit(limit)
    def assembly_calendar(order_id: int):
        filename, data = assembly.calendar_download(proven_order(order_id))
        return data, 200, {"Content-Type": "text/calendar; charset=utf-8",
                           "Content-Disposition": f'attachment; filename="{filename}"'}
