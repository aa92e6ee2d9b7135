"""The back-office blueprint. Every route requires a logged-in staff user (checked
once for the whole blueprint, so a new view cannot forget it); owner-only views
also use `owner_required`."""
from __future__ import annotations

from flask import Blueprint, request
from flask_login import LoginManager, current_user

from oms_core.services import users

blueprint = Blueprint("oms_admin", __name__)
PUBLIC_ENDPOINTS = {"oms_admin.login", "oms_admin.forgot_password", "oms_admin.reset_password",
                    "oms_admin.accept_invite"}
# Rate-limited per client like the log-in (OMS_LOGIN_RATE_LIMIT, web/__init__.py).
RATE_LIMITED_ENDPOINTS = ("oms_admin.login", "oms_admin.forgot_password", "oms_admin.reset_password",
                          "oms_admin.accept_invite")


def configure_login(login_manager: LoginManager) -> None:
    login_manager.login_view = "oms_admin.login"
    login_manager.login_message = "Please log in to the back-office."

    @login_manager.user_loader
    def _load_user(session_id: str):
        # Checked on every request: an inactive user, or a session ended by a log-out
        # or a new password, is anonymous from the next request on.
        return users.session_user(session_id)


def current_user_for_templates() -> dict:
    """`current_user` for every template as flask-login's lazy proxy: the user is
    loaded when a template reads it. flask-login's own context processor loaded it
    for every page rendered (a session check and a hash on a shop's fragments too)."""
    return {"current_user": current_user}


@blueprint.before_request
def _require_login():
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if not current_user.is_authenticated:
        from flask import current_app

        response = current_app.login_manager.unauthorized()
        if request.headers.get("HX-Request") == "true":
            # htmx would swap the login page into the panel: send the whole tab there.
            response.headers["HX-Redirect"] = response.headers["Location"]
        return response
    return None


# Views register themselves on the blueprint.
from . import auth, dashboard, menu, orders, products, plugins_page  # noqa: E402,F401
from . import formatting, new_order, order_actions, order_edit_form  # noqa: E402,F401
from . import forecasts, replenishment, replenishment_settings  # noqa: E402,F401
from . import errors  # noqa: E402,F401
from . import inbox  # noqa: E402,F401
from . import documents, labels, reconciliation  # noqa: E402,F401
from . import alerts, assembly, bulk, complaints, data_transfer, outbound_webhooks, returns, staff  # noqa: E402,F401
