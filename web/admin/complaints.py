"""Complaints in the back-office: the list (status, assignee, category filters),
the thread page (reply, internal note, status, category, assignee; each an HTMX
action that swaps the thread's body) and the photos, served to staff only."""
from __future__ import annotations

from typing import Callable

from flask import make_response, render_template, request, url_for
from flask_login import current_user

from oms_core import limits
from oms_core.errors import DomainError, ValidationError
from oms_core.services import complaints, uploads

from ..uploads import accepts_uploads, image_response, incoming_files
from . import blueprint, forms
from .access import actor
from .responses import action_result, vary_on_htmx, wants_fragment

BODY = "oms/admin/complaints/_thread.html"


@blueprint.route("/complaints")
def complaints_list():
    args = request.args
    status = args.get("status", "")
    status = status if status in complaints.STATUSES else ""
    category = args.get("category", "")
    category = category if category in complaints.categories() else ""
    assignee = args.get("assignee", "")
    assignee_id = None if assignee in ("", "none") else forms.query_id(args, "assignee")
    rows = complaints.listing(status=status, assignee_id=assignee_id, unassigned=assignee == "none",
                              category=category)
    return vary_on_htmx(make_response(render_template(
        "oms/admin/complaints/list.html", rows=rows, status=status, category=category, assignee=assignee,
        statuses=complaints.STATUSES, labels=complaints.LABELS, categories=complaints.categories(),
        users=complaints.staff_users())))


def thread_context(complaint_id: int, values=None) -> dict:
    return dict(thread=complaints.staff_thread(complaint_id), labels=complaints.LABELS,
                statuses=complaints.STATUSES, transitions=complaints.TRANSITIONS,
                categories=complaints.categories(), users=complaints.staff_users(),
                max_photos=uploads.max_per_message(), values=values or {})


@blueprint.route("/complaints/<int:complaint_id>")
def complaint(complaint_id: int):
    return render_template("oms/admin/complaints/page.html", **thread_context(complaint_id))


def _run(complaint_id: int, action: Callable[[], str]):
    """Run `action` (returns the success message); show its DomainError instead."""
    complaints.staff_thread(complaint_id)  # a missing complaint is a 404, not a message
    try:
        message, error = action(), None
    except DomainError as exc:
        message, error = None, str(exc)
    values = request.form if error else None
    context = thread_context(complaint_id, values) if wants_fragment() else {}
    return action_result(fragment=BODY, context=context, message=message, error=error,
                         redirect_to=url_for("oms_admin.complaint", complaint_id=complaint_id))


def _write(complaint_id: int, *, internal: bool):
    def write():
        complaints.staff_reply(complaint_id, body=forms.text(request.form, "body")[:20_000],
                               files=incoming_files(), user=current_user, internal=internal)
        return "Internal note added." if internal else "Reply sent to the customer."
    return _run(complaint_id, write)


@blueprint.route("/complaints/<int:complaint_id>/reply", methods=["POST"])
@accepts_uploads
def complaint_reply(complaint_id: int):
    return _write(complaint_id, internal=False)


@blueprint.route("/complaints/<int:complaint_id>/note", methods=["POST"])
@accepts_uploads
def complaint_note(complaint_id: int):
    return _write(complaint_id, internal=True)


@blueprint.route("/complaints/<int:complaint_id>/status", methods=["POST"])
def complaint_status(complaint_id: int):
    def move():
        done = complaints.set_status(complaint_id, forms.text(request.form, "status")[:40], actor=actor(),
                                     reason=forms.text(request.form, "reason")[:200])
        return f"The complaint is now {complaints.LABELS[done.status].lower()}."
    return _run(complaint_id, move)


@blueprint.route("/complaints/<int:complaint_id>/assign", methods=["POST"])
def complaint_assign(complaint_id: int):
    def give():
        raw = forms.text(request.form, "assignee_id")
        user_id = limits.parse_id(raw) if raw else None
        if raw and user_id is None:
            raise ValidationError("Pick a staff user.")
        done = complaints.assign(complaint_id, user_id, actor=actor())
        return f"Assigned to {done.assignee.name}." if done.assignee_id else "Nobody is assigned now."
    return _run(complaint_id, give)


@blueprint.route("/complaints/<int:complaint_id>/category", methods=["POST"])
def complaint_category(complaint_id: int):
    def recategorise():
        category = forms.text(request.form, "category")[:200]
        done = complaints.set_category(complaint_id, category, actor=actor())
        return f"Category: {done.category}."
    return _run(complaint_id, recategorise)


@blueprint.route("/complaints/photos/<token>")
def complaint_photo_staff(token: str):
    return image_response(*uploads.for_staff(token[:64]))
