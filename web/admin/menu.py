"""The back-office menu: built-in entries plus those plugins add (admin_menu_items)."""
from __future__ import annotations

from flask import url_for
from flask_login import current_user

from oms_core import runtime
from oms_core.services import alerts
from oms_core.protocols import MenuItem

from . import blueprint


def menu_items() -> list[MenuItem]:
    items = [
        MenuItem("Dashboard", url_for("oms_admin.dashboard")),
        MenuItem("Orders", url_for("oms_admin.orders")),
        MenuItem("Returns", url_for("oms_admin.returns_list")),
        MenuItem("New order", url_for("oms_admin.new_order")),
        MenuItem("Complaints", url_for("oms_admin.complaints_list")),
        MenuItem("Products & stock", url_for("oms_admin.products")),
        MenuItem("Assembly", url_for("oms_admin.assembly_week")),
        MenuItem("Replenishment", url_for("oms_admin.replenishment_page")),
        MenuItem("Webhook inbox", url_for("oms_admin.inbox_list")),
        MenuItem("Reconciliation", url_for("oms_admin.reconciliation_page")),
        MenuItem("Outbound webhooks", url_for("oms_admin.webhook_endpoints"), owner_only=True),
        MenuItem("Import & export", url_for("oms_admin.data_transfer")),
        MenuItem("Staff", url_for("oms_admin.staff_page"), owner_only=True),
        MenuItem("Plugins", url_for("oms_admin.plugins"), owner_only=True),
    ]
    for answer in runtime.registry().hook.admin_menu_items(user=current_user):
        items.extend(answer or [])
    return [item for item in items if not item.owner_only or current_user.is_owner]


@blueprint.context_processor
def _menu():
    return {"oms_admin_menu": menu_items, "oms_open_alert_count": alerts.open_count}
