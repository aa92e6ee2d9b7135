"""Log in and out."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, url_for
from flask_login import login_user, logout_user

from oms_core.services import users

from . import blueprint


def _safe_next(target: str | None) -> str:
    """Only same-site paths: never redirect a login to another host."""
    if target and not urlsplit(target).netloc and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("oms_admin.dashboard")


@blueprint.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "POST":
        user = users.authenticate(request.form.get("email", ""), request.form.get("password", ""))
        if user is None:
            flash("Wrong email or password.", "error")
            return render_template("oms/admin/login.html"), 401
        login_user(user)
        return redirect(_safe_next(request.args.get("next")))
    return render_template("oms/admin/login.html")


@blueprint.route("/logout", methods=["POST"])
def logout():
    logout_user()
    flash("Logged out.", "info")
    return redirect(url_for("oms_admin.login"))
