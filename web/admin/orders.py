"""Orders: the list (status filter, search, keyset pagination) and the order page."""
from __future__ import annotations

from flask import make_response, render_template, request, url_for
from flask_login import current_user
from markupsafe import Markup

from oms_core import limits, order_states, payment_states, runtime, shipping_config
from oms_core.plugins import CARRIER, GATEWAY
from oms_core.protocols import TRACKING_STATUSES, supports
from oms_core.services import assembly, backoffice, bulk, catalog, complaints, dashboard, queries
from oms_core.services.orders import ADDRESS_FIELDS

from . import blueprint, forms
from .responses import vary_on_htmx, wants_fragment


@blueprint.route("/orders")
def orders():
    filters = forms.order_filters(request.args)
    status, search = filters["status"], filters["search"]
    attention = request.args.get("attention", "")
    attention = attention if attention in dashboard.ATTENTION_LISTS else ""
    before = forms.query_id(request.args, "before")
    limit = runtime.setting("PAGE_SIZE")
    if attention:
        page = dashboard.attention_orders(attention, before=before, limit=limit)
    else:
        page = queries.list_orders(status=status or None, search=search, before=before, limit=limit)
    context = dict(page=page, status=status, attention=attention, search=search, before=before,
                   statuses=order_states.STATUSES, attention_lists=dashboard.ATTENTION_LISTS,
                   bulk_actions=bulk.ACTIONS, max_bulk=limits.MAX_BULK_ORDERS)
    template = "oms/admin/orders/_results.html" if wants_fragment() else "oms/admin/orders/list.html"
    return vary_on_htmx(make_response(render_template(template, **context)))


def order_body_context(order_id: int, values=None) -> dict:
    """Everything the order page's body (all panels and action forms) needs."""
    detail = backoffice.order_detail(order_id)
    registry = runtime.registry()
    answers = registry.hook.order_page_panels(order=detail.order, user=current_user)
    # Plugins return HTML they escaped themselves (hookspec order_page_panels).
    panels = Markup("").join(Markup(answer) for answer in answers if answer)
    # The forms offer what can be chosen; labels cover everything installed, so an
    # order paid with a gateway that has lost its settings still shows its name.
    # Staff record payments only for methods that take them by hand (verify_payment).
    recordable = [g for g in registry.usable(GATEWAY) if supports(g, "verify_payment")]
    return dict(detail=detail, order=detail.order, gateways=recordable,
                payment_state_labels=payment_states.LABELS,
                gateway_labels={g.id: g.label for g in registry.gateways.values()},
                carriers=registry.usable(CARRIER), tracking_statuses=TRACKING_STATUSES,
                packaging_presets=shipping_config.packaging_presets().values(),
                ship_from_addresses=shipping_config.ship_from_addresses(), supports=supports,
                plugin_panels=panels, values=values or {}, address_labels=ADDRESS_FIELDS,
                complaint_labels=complaints.LABELS,
                assembly_assignees=assembly.assignees() if detail.assembly_job else [],
                assembly_labels=assembly.LABELS, assembly_parts=assembly.PARTS_OF_DAY,
                # What the edit form can add (only while the order can be edited).
                edit_products=catalog.products_on_sale() if "edit" in detail.actions else [])


@blueprint.route("/orders/<int:order_id>")
def order(order_id: int):
    return render_template("oms/admin/orders/page.html", **order_body_context(order_id))


def order_url(order_id: int) -> str:
    return url_for("oms_admin.order", order_id=order_id)
