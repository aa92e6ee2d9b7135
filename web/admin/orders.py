"""Orders (placeholder: filled in by the back-office work)."""
from . import blueprint


@blueprint.route("/orders")
def orders():
    return "orders"


@blueprint.route("/orders/new")
def new_order():
    return "new order"
