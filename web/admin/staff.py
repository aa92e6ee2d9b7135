"""Staff management (owners): the staff page, invitations, roles, disabling and
reset links; and the pages the emailed links open (an invitation, a password reset)
and "forgot password", which need no log-in (PUBLIC_ENDPOINTS) and are rate-limited
like the log-in (web/__init__.py)."""
from __future__ import annotations

from functools import wraps

from flask import flash, make_response, redirect, render_template, request, url_for

from oms_core.errors import DomainError
from oms_core.models import ROLES
from oms_core.services import staff

from . import blueprint, forms
from .access import actor, owner_required

FORGOT_ANSWER = ("If that email belongs to a back-office user, a link to choose a new password is on its way. "
                 "It works once, for a limited time.")


def _back(message: str | None = None, error: str | None = None):
    flash(error or message, "error" if error else "info")
    return redirect(url_for("oms_admin.staff_page"))


@blueprint.route("/staff")
@owner_required
def staff_page():
    return render_template("oms/admin/staff/page.html", overview=staff.overview(), roles=ROLES,
                           labels=staff.ACTION_LABELS)


@blueprint.route("/staff/invite", methods=["POST"])
@owner_required
def staff_invite():
    try:
        token = staff.invite(forms.text(request.form, "email"), forms.text(request.form, "role"), actor=actor())
    except DomainError as exc:
        return _back(error=str(exc))
    return _back(f"Invitation emailed to {token.email}.")


@blueprint.route("/staff/invitations/<int:token_id>/withdraw", methods=["POST"])
@owner_required
def staff_withdraw_invite(token_id: int):
    try:
        staff.withdraw_invite(token_id, actor=actor())
    except DomainError as exc:
        return _back(error=str(exc))
    return _back("Invitation withdrawn.")


@blueprint.route("/staff/<int:user_id>/role", methods=["POST"])
@owner_required
def staff_role(user_id: int):
    try:
        user = staff.set_role(user_id, forms.text(request.form, "role"), actor=actor())
    except DomainError as exc:
        return _back(error=str(exc))
    return _back(f"{user.email} is {user.role}.")


@blueprint.route("/staff/<int:user_id>/active", methods=["POST"])
@owner_required
def staff_active(user_id: int):
    try:
        user = staff.set_active(user_id, forms.checkbox(request.form, "active"), actor=actor())
    except DomainError as exc:
        return _back(error=str(exc))
    return _back(f"{user.email} can log in again." if user.active
                 else f"{user.email} is disabled; their sessions have ended.")


@blueprint.route("/staff/<int:user_id>/reset", methods=["POST"])
@owner_required
def staff_reset(user_id: int):
    try:
        token = staff.send_reset(user_id, actor=actor())
    except DomainError as exc:
        return _back(error=str(exc))
    return _back(f"A password reset link is on its way to {token.email}.")


# ------------------------------------------------------------------ no log-in needed


@blueprint.route("/forgot-password", methods=["GET", "POST"])
def forgot_password():
    if request.method == "POST":
        staff.request_reset(forms.text(request.form, "email"))
        flash(FORGOT_ANSWER, "info")
        return redirect(url_for("oms_admin.login"))
    return render_template("oms/admin/staff/forgot.html")


def _no_referrer(view):
    """The page's URL holds a link's secret: never send it on in a Referer header."""
    @wraps(view)
    def wrapped(*args, **kwargs):
        response = make_response(view(*args, **kwargs))
        response.headers["Referrer-Policy"] = "no-referrer"
        return response
    return wrapped


def _link_page(link: str, purpose: str, template: str, submit):
    """The page a link opens: its form, or why the link no longer works."""
    try:
        email = staff.check_link(link, purpose)
    except DomainError as exc:
        return render_template(template, link_error=str(exc)), 400
    if request.method == "POST":
        try:
            submit()
        except DomainError as exc:
            return render_template(template, email=email, error=str(exc), values=request.form), 400
        return None
    return render_template(template, email=email, values={})


@blueprint.route("/reset-password/<path:link>", methods=["GET", "POST"])
@_no_referrer
def reset_password(link: str):
    page = _link_page(link, staff.RESET, "oms/admin/staff/reset.html",
                      lambda: staff.reset_password(link, request.form.get("password", "")))
    if page is not None:
        return page
    flash("Your new password is set: log in with it.", "info")
    return redirect(url_for("oms_admin.login"))


@blueprint.route("/invite/<path:link>", methods=["GET", "POST"])
@_no_referrer
def accept_invite(link: str):
    page = _link_page(link, staff.INVITE, "oms/admin/staff/accept.html",
                      lambda: staff.accept_invite(link, name=forms.text(request.form, "name"),
                                                  password=request.form.get("password", "")))
    if page is not None:
        return page
    flash("Welcome: log in with your email and the password you chose.", "info")
    return redirect(url_for("oms_admin.login"))
