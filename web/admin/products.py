"""Products and stock (placeholder)."""
from . import blueprint


@blueprint.route("/products")
def products():
    return "products"
