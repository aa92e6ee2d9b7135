"""What is loaded: plugins with versions and hooks, and the gateways, carriers and
forecasters they registered, each with whether its required settings are set
(owners only; setting names, never values)."""
from flask import render_template

from oms_core import runtime
from oms_core.plugins import CARRIER, FORECASTER, GATEWAY

from . import blueprint
from .access import owner_required


@blueprint.route("/plugins")
@owner_required
def plugins():
    registry = runtime.registry()
    return render_template("oms/admin/plugins.html", plugins=registry.plugins(),
                           gateways=registry.status(GATEWAY), carriers=registry.status(CARRIER),
                           forecasters=registry.status(FORECASTER))
