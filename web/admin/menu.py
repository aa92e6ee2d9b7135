"""The back-office menu: built-in entries plus those plugins add (admin_menu_items)."""
from __future__ import annotations

from flask import url_for
from flask_login import current_user

from oms_core import runtime
from oms_core.services import alerts
from oms_core.protocols import MenuItem

from . import blueprint


def menu_groups() -> tuple[list[MenuItem], list[MenuItem]]:
    """(the daily work, always in the bar; the rest, with plugins' entries, under "More")."""
    main = [
        MenuItem("Dashboard", url_for("oms_admin.dashboard")),
        MenuItem("Orders", url_for("oms_admin.orders")),
        MenuItem("New order", url_for("oms_admin.new_order")),
        MenuItem("Returns", url_for("oms_admin.returns_list")),
        MenuItem("Complaints", url_for("oms_admin.complaints_list")),
        MenuItem("Assembly", url_for("oms_admin.assembly_week")),
        MenuItem("Products & stock", url_for("oms_admin.products")),
    ]
    more = [
        MenuItem("Replenishment", url_for("oms_admin.replenishment_page")),
        MenuItem("Webhook inbox", url_for("oms_admin.inbox_list")),
        MenuItem("Reconciliation", url_for("oms_admin.reconciliation_page")),
        MenuItem("Import & export", url_for("oms_admin.data_transfer")),
        MenuItem("Outbound webhooks", url_for("oms_admin.webhook_endpoints"), owner_only=True),
        MenuItem("Staff", url_for("oms_admin.staff_page"), owner_only=True),
        MenuItem("Plugins", url_for("oms_admin.plugins"), owner_only=True),
    ]
    for answer in runtime.registry().hook.admin_menu_items(user=current_user):
        more.extend(answer or [])
    allowed = lambda items: [item for item in items if not item.owner_only or current_user.is_owner]  # noqa: E731
    return allowed(main), allowed(more)


@blueprint.context_processor
def _menu():
    return {"oms_admin_menu": menu_groups, "oms_open_alert_count": alerts.open_count}
