"""The dashboard: what needs attention now, and retrying failed outbox messages."""
from flask import render_template, url_for

from oms_core.errors import DomainError
from oms_core.services import dashboard as dashboard_service
from oms_core.services import outbox

from .. import ratelimit
from . import blueprint
from .responses import action_result, wants_fragment


@blueprint.route("/")
def dashboard():
    return render_template("oms/admin/dashboard.html", view=dashboard_service.dashboard_view(),
                           rate_limit_storage=ratelimit.current_storage())


@blueprint.route("/outbox/<int:message_id>/retry", methods=["POST"])
def outbox_retry(message_id: int):
    try:
        message = outbox.retry_now(message_id)
        note, error = f"Message #{message.id} will be sent again by the worker.", None
    except DomainError as exc:
        note, error = None, str(exc)
    return action_result(fragment="oms/admin/_outbox_panel.html",
                         context={"problems": outbox.problems() if wants_fragment() else []},
                         redirect_to=url_for("oms_admin.dashboard"), message=note, error=error)
