"""Log in and out."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, flash, g, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user

from oms_core.services import users

from . import blueprint


def _safe_next(target: str | None) -> str:
    """Only same-site paths: never redirect a login to another host."""
    if target and not urlsplit(target).netloc and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("oms_admin.dashboard")


def _new_session() -> None:
    """Nothing put in the session cookie before (a planted value, an old CSRF token)
    carries over: a fixed session cannot be logged in for someone else."""
    session.clear()
    # Flask-WTF caches the request's token in g (g outlives the request when an app
    # context was pushed around it, as in tests): it belonged to the old session.
    g.pop(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), None)


@blueprint.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "POST":
        user = users.authenticate(request.form.get("email", ""), request.form.get("password", ""))
        if user is None:
            flash("Wrong email or password.", "error")
            return render_template("oms/admin/login.html"), 401
        _new_session()
        login_user(user)
        return redirect(_safe_next(request.args.get("next")))
    return render_template("oms/admin/login.html")


@blueprint.route("/logout", methods=["POST"])
def logout():
    # Ends every session of this user, so a copy of the cookie stops working too.
    users.end_sessions(current_user.id)
    logout_user()
    _new_session()
    flash("Logged out.", "info")
    return redirect(url_for("oms_admin.login"))
