"""The webhook inbox: every delivery from gateways and carriers as received, and the
events still waiting for their shipment or order, for staff to reconcile."""
from __future__ import annotations

from flask import render_template, request

from oms_core import runtime
from oms_core.services import inbox

from . import blueprint, forms


@blueprint.route("/inbox")
def inbox_list():
    name = request.args.get("list", "waiting")
    name = name if name in inbox.LISTS else "waiting"
    page = inbox.inbound_page(name, before=forms.query_id(request.args, "before"),
                              limit=runtime.setting("PAGE_SIZE"))
    return render_template("oms/admin/inbox/list.html", page=page, current=name, lists=inbox.LISTS)


@blueprint.route("/inbox/<int:inbound_id>")
def inbound_delivery(inbound_id: int):
    return render_template("oms/admin/inbox/delivery.html", detail=inbox.inbound_detail(inbound_id))
