"""A product's lead time and service level, edited on its page. Any staff member may
change them, as they may adjust its stock; blank means the shop's default."""
from __future__ import annotations

from flask import request, url_for

from oms_core.errors import DomainError
from oms_core.services import backoffice, replenishment

from . import blueprint, forms
from .access import actor
from .products import ADJUST_REASONS
from .responses import action_result, wants_fragment


@blueprint.route("/products/<int:product_id>/replenishment", methods=["POST"])
def product_replenishment_settings(product_id: int):
    form = request.form
    try:
        product = replenishment.set_replenishment_settings(
            product_id, lead_time_days=forms.optional_whole_number(form.get("lead_time_days"), "Lead time"),
            service_level=forms.optional_percent(form.get("service_level"), "Service level"), actor=actor())
        message, error = f"{product.sku}: lead time and service level saved.", None
    except DomainError as exc:
        message, error = None, str(exc)
    context = {"detail": backoffice.product_detail(product_id)} if wants_fragment() else {}
    return action_result(fragment="oms/admin/products/_detail_body.html",
                         redirect_to=url_for("oms_admin.product", product_id=product_id),
                         message=message, error=error,
                         context=dict(context, reasons=ADJUST_REASONS, values=form if error else {}))


@blueprint.context_processor
def _replenishment_defaults():
    return {"replenishment_defaults": replenishment.shop_defaults}
