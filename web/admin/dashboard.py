"""The dashboard: what needs attention now."""
from flask import render_template

from oms_core.services import dashboard as dashboard_service

from . import blueprint


@blueprint.route("/")
def dashboard():
    return render_template("oms/admin/dashboard.html", attention=dashboard_service.attention())
