"""What is loaded: plugins with versions and hooks, the gateways, carriers and
forecasters they registered, and where rate limits are counted (owners only)."""
from flask import render_template

from oms_core import runtime

from .. import ratelimit
from . import blueprint
from .access import owner_required


@blueprint.route("/plugins")
@owner_required
def plugins():
    registry = runtime.registry()
    return render_template("oms/admin/plugins.html", plugins=registry.plugins(),
                           gateways=list(registry.gateways.values()),
                           carriers=list(registry.carriers.values()),
                           forecasters=list(registry.forecasters.values()),
                           rate_limits=ratelimit.overview())
