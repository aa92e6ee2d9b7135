"""Every hook a plugin can implement. Call them with keyword arguments only.

Families (as in datasette): `register_*` return objects the core collects;
`on_*` are events, called after the change is committed, whose return values are
ignored; slot hooks return data or HTML the back-office joins into its pages.
No hook is `firstresult`: every implementation is called and every answer used.
Each docstring says when the hook is called and what it returns;
tests/test_hooks.py checks that and that every hook has a test.
"""
import pluggy

from .constants import PROJECT_NAME

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# ------------------------------------------------------------ registration


@hookspec
def register_payment_gateways(settings):
    """Called once at start-up of each app. Return a list of objects following
    `oms_core.protocols.PaymentGateway`. All answers are collected; ids must be unique.
    `settings` (optional argument) is the app's `oms_core.plugin_settings.PluginSettings`:
    build each object from `settings.for_id(its_id)`."""


@hookspec
def register_carriers(settings):
    """Called once at start-up of each app. Return a list of `oms_core.protocols.Carrier`
    objects. All answers are collected; ids must be unique. `settings`: as for
    `register_payment_gateways`."""


@hookspec
def register_forecasters(settings):
    """Called once at start-up of each app. Return a list of
    `oms_core.protocols.Forecaster` objects. All answers are collected; ids must be
    unique. `settings`: as for `register_payment_gateways`."""


# ------------------------------------------------------------ events


@hookspec
def on_order_placed(order):
    """Called after a new order is committed. Return value ignored."""


@hookspec
def on_order_status_changed(order, old_status, new_status, actor):
    """Called after each committed status change of an order. Return value ignored."""


@hookspec
def on_payment_recorded(order, payment):
    """Called after a payment (recorded or flagged) is committed. Return value ignored."""


@hookspec
def on_shipment_updated(order, shipment, event):
    """Called after a shipment is created or gets a new tracking event (`event` is the
    new ShipmentEvent, or None on creation). Return value ignored."""


# ------------------------------------------------------------ UI slots


@hookspec
def admin_menu_items(user):
    """Called for each back-office page, with the logged-in `StaffUser`. Return a list
    of `oms_core.protocols.MenuItem`s to add to the menu (`owner_only` items are
    hidden from staff). All answers are joined in plugin order."""


@hookspec
def order_page_panels(order, user):
    """Called on each back-office order page, with the `Order` and the logged-in
    `StaffUser`. Return an HTML string, or None for no panel; it is marked safe, so
    escape every value you put in it (`markupsafe.escape`). All answers are joined
    in plugin order."""


@hookspec
def register_commands(cli):
    """Called once at start-up when the `flask oms` command group is built: add click
    commands to `cli` (`@cli.command("name")`). Return value ignored."""
