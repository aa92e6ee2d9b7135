"""Products and stock: the list, stock adjustments (to the ledger), the ledger
history of one product, and (owners) new products."""
from __future__ import annotations

from flask import flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user

from oms_core import limits, money, runtime, taxes
from oms_core.errors import DomainError
from oms_core.services import assembly, backoffice, catalog, stock

from . import blueprint, forms
from .access import actor, owner_required
from .responses import action_result, vary_on_htmx, wants_fragment

ADJUST_REASONS = tuple(stock.ADJUST_REASONS.items())


def _list_context(**extra) -> dict:
    search = request.args.get("q", "").strip()[:100]
    after = request.args.get("after", "") or None
    page = catalog.product_page(after=after, search=search)
    return dict(page=page, search=search, after=after, reasons=ADJUST_REASONS, assembly_choices=assembly.CHOICES,
                currency=runtime.setting("DEFAULT_CURRENCY"), values={}, **extra)


@blueprint.route("/products")
def products():
    context = _list_context()
    template = ("oms/admin/products/_results.html" if wants_fragment()
                else "oms/admin/products/list.html")
    return vary_on_htmx(make_response(render_template(template, **context)))


@blueprint.route("/products/<int:product_id>")
def product(product_id: int):
    detail = backoffice.product_detail(product_id)
    return render_template("oms/admin/products/detail.html", detail=detail, reasons=ADJUST_REASONS,
                           values={})


@blueprint.route("/products/<int:product_id>/adjust", methods=["POST"])
def product_adjust(product_id: int):
    form = request.form
    try:
        delta = forms.whole_number(form.get("delta"), "Change", signed=True)
        product = stock.adjust(product_id, delta, reason=forms.text(form, "reason"),
                               note=forms.text(form, "note"), actor=actor())
        message, error = f"{product.sku}: {delta:+d} on hand, now {product.on_hand}.", None
    except DomainError as exc:
        message, error = None, str(exc)
    values = form if error else {}
    # The list swaps one table row; the product page swaps its stock panel and ledger.
    if form.get("view") == "row":
        fragment, redirect_to = "oms/admin/products/_row.html", url_for("oms_admin.products")
        context = {"product": catalog.get_product(product_id)} if wants_fragment() else {}
    else:
        fragment = "oms/admin/products/_detail_body.html"
        redirect_to = url_for("oms_admin.product", product_id=product_id)
        context = {"detail": backoffice.product_detail(product_id)} if wants_fragment() else {}
    return action_result(fragment=fragment, redirect_to=redirect_to, message=message, error=error,
                         context=dict(context, reasons=ADJUST_REASONS, values=values))


@blueprint.route("/products/new", methods=["POST"])
@owner_required
def product_create():
    form = request.form
    currency = forms.text(form, "currency") or runtime.setting("DEFAULT_CURRENCY")
    try:
        currency = money.check_currency(currency)
        product = catalog.create_product(
            sku=forms.text(form, "sku"), name=forms.text(form, "name"),
            price_minor=forms.amount(form.get("price"), currency, "Price"), currency=currency,
            on_hand=forms.whole_number(form.get("on_hand") or "0", "Stock on hand"),
            low_stock_threshold=forms.whole_number(form.get("low_stock_threshold") or "3",
                                                   "Low-stock threshold"),
            description=forms.text(form, "description"),
            tax_class=forms.text(form, "tax_class") or taxes.STANDARD,
            tax_rate_bp=taxes.parse_percent(form["tax_rate"]) if forms.text(form, "tax_rate") else None,
            weight_grams=forms.whole_number(form.get("weight_grams") or "0", "Weight (g)",
                                            maximum=limits.MAX_WEIGHT_GRAMS),
            hs_code=forms.text(form, "hs_code"), origin_country=forms.text(form, "origin_country"),
            assembly=forms.text(form, "assembly") or assembly.NONE,
            assembly_price_minor=forms.amount(form.get("assembly_price"), currency, "Assembly price")
            if forms.text(form, "assembly_price") else 0,
            category=forms.text(form, "category"), actor=actor())
    except DomainError as exc:
        page = render_template("oms/admin/products/list.html",
                               **dict(_list_context(), values=form, create_error=str(exc),
                                      show_create=True))
        return page, 400
    flash(f"Product {product.sku} created.", "info")
    return redirect(url_for("oms_admin.product", product_id=product.id))


@blueprint.route("/products/<int:product_id>/assembly", methods=["POST"])
@owner_required
def product_assembly(product_id: int):
    form = request.form
    try:
        product = catalog.get_product(product_id)
        typed = forms.text(form, "assembly_price")
        catalog.set_assembly(product_id, assembly=forms.text(form, "assembly"),
                             assembly_price_minor=forms.amount(typed, product.currency, "Assembly price") if typed else 0,
                             actor=actor())
        message, error = f"{product.sku}: assembly saved.", None
    except DomainError as exc:
        message, error = None, str(exc)
    context = {"detail": backoffice.product_detail(product_id)} if wants_fragment() else {}
    return action_result(fragment="oms/admin/products/_detail_body.html",
                         redirect_to=url_for("oms_admin.product", product_id=product_id), message=message,
                         error=error, context=dict(context, reasons=ADJUST_REASONS, values=form if error else {}))


def can_create_products() -> bool:
    return bool(getattr(current_user, "is_owner", False))


@blueprint.context_processor
def _product_roles():
    return {"can_create_products": can_create_products, "assembly_choices": assembly.CHOICES}
