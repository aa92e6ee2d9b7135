"""Assembly jobs in the back-office: the week's jobs per assignee (ISO week in the
URL) with the jobs waiting to be scheduled, and the job's actions (schedule or move,
done, failed, address and notes). The order page shows the job with the same forms;
its forms swap the order body like every order action, the week page's post and
come back to the week."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from oms_core import limits
from oms_core.errors import DomainError
from oms_core.services import assembly
from oms_core.services.orders import ADDRESS_FIELDS

from . import blueprint, forms
from .access import actor
from .order_actions import respond as respond_on_order_page


@blueprint.route("/assembly")
def assembly_week():
    week = assembly.week(request.args.get("week", "")[:20])
    return render_template("oms/admin/assembly/week.html", week=week, assignees=assembly.assignees(),
                           labels=assembly.LABELS, parts=assembly.PARTS_OF_DAY)


def _act(job_id: int, action) -> object:
    """Run `action()` (returns the success message) and answer where the form was."""
    job = assembly.get_job(job_id)  # a missing job is a 404, not a message
    try:
        message, error = action(), None
    except DomainError as exc:
        message, error = None, str(exc)
    week = request.form.get("week", "")
    if week:  # posted from the week page
        flash(error or message, "error" if error else "info")
        return redirect(url_for("oms_admin.assembly_week", week=week[:20]))
    return respond_on_order_page(job.order_id, message=message, error=error,
                                 values=request.form if error else None)


@blueprint.route("/assembly/<int:job_id>/schedule", methods=["POST"])
def assembly_schedule(job_id: int):
    def schedule():
        form = request.form
        job = assembly.schedule(
            job_id, day=forms.day(form.get("date"), "Date"),
            start=forms.time_of_day(form.get("start"), "Window start"),
            end=forms.time_of_day(form.get("end"), "Window end"),
            assignee_id=forms.whole_number(form.get("assignee_id"), "Assignee", minimum=1,
                                           maximum=limits.MAX_ID),
            note=forms.text(form, "note"), actor=actor())
        return f"Assembly scheduled for {job.scheduled_date:%a %d %b %Y}; the customer gets the appointment."
    return _act(job_id, schedule)


@blueprint.route("/assembly/<int:job_id>/done", methods=["POST"])
def assembly_done(job_id: int):
    def done():
        assembly.mark_done(job_id, note=forms.text(request.form, "note"), actor=actor())
        return "Assembly done."
    return _act(job_id, done)


@blueprint.route("/assembly/<int:job_id>/failed", methods=["POST"])
def assembly_failed(job_id: int):
    def failed():
        assembly.mark_failed(job_id, reason=forms.text(request.form, "reason"), actor=actor())
        return "Assembly marked failed: schedule it again when the customer is ready."
    return _act(job_id, failed)


@blueprint.route("/assembly/<int:job_id>/details", methods=["POST"])
def assembly_details(job_id: int):
    def details():
        form = request.form
        address = {key: forms.text(form, key) for key in ("name", *ADDRESS_FIELDS)}
        assembly.update_details(job_id, address=address, notes=forms.text(form, "notes"), actor=actor())
        return "Assembly details saved."
    return _act(job_id, details)
