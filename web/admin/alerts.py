"""Staff alerts in the back-office: the list (open / resolved) with "resolved" per
alert, and each user's own choice of how to hear of them
(oms_core/services/alerts.py)."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from oms_core import runtime
from oms_core.errors import DomainError
from oms_core.services import alerts

from . import blueprint, forms
from .access import actor


def _done(message: str | None, error: str | None, endpoint: str):
    """Plain forms (no fragment to swap): a flash and back to the page (post/redirect/get)."""
    flash(error or message, "error" if error else "info")
    return redirect(url_for(endpoint))


@blueprint.route("/alerts")
def alerts_list():
    name = request.args.get("list", "open")
    name = name if name in alerts.LISTS else "open"
    page = alerts.alert_page(name, before=forms.query_id(request.args, "before"),
                             limit=runtime.setting("PAGE_SIZE"))
    return render_template("oms/admin/alerts/list.html", page=page, current=name, lists=alerts.LISTS,
                           kinds=alerts.KINDS)


@blueprint.route("/alerts/<int:alert_id>/resolve", methods=["POST"])
def alert_resolve(alert_id: int):
    try:
        alert = alerts.resolve(alert_id, actor=actor())
        message, error = f"Resolved: {alert.title}", None
    except DomainError as exc:
        message, error = None, str(exc)
    return _done(message, error, "oms_admin.alerts_list")


@blueprint.route("/alerts/settings", methods=["GET", "POST"])
def alert_settings():
    if request.method == "POST":
        try:
            alerts.set_delivery(current_user.id, forms.text(request.form, "alert_delivery"))
            message, error = "Saved: how you hear of alerts.", None
        except DomainError as exc:
            message, error = None, str(exc)
        return _done(message, error, "oms_admin.alert_settings")
    return render_template("oms/admin/alerts/settings.html", choices=alerts.DELIVERY_LABELS,
                           chosen=current_user.alert_delivery)
