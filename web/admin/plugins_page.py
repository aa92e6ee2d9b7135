"""What is loaded: plugins with versions and hooks, the gateways, carriers and
forecasters they registered, each with whether its required settings are set
(setting names, never values), and where rate limits are counted (owners only)."""
from flask import render_template

from oms_core import runtime
from oms_core.plugins import CARRIER, FORECASTER, GATEWAY

from .. import ratelimit
from . import blueprint
from .access import owner_required


@blueprint.route("/plugins")
@owner_required
def plugins():
    registry = runtime.registry()
    return render_template("oms/admin/plugins.html", plugins=registry.plugins(),
                           gateways=registry.status(GATEWAY), carriers=registry.status(CARRIER),
                           forecasters=registry.status(FORECASTER), rate_limits=ratelimit.overview())
