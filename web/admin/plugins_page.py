"""Loaded plugins (placeholder)."""
from . import blueprint
from .access import owner_required


@blueprint.route("/plugins")
@owner_required
def plugins():
    return "plugins"
