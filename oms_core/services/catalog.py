"""The catalogue: creating, reading and listing products.

For the back-office (a product, a page of products, a search) and for a host
shop's own pages (what is on sale, a name or price by SKU). Stock moves are
`stock`; what the shopper sees of stock is `storefront.stock_badge`.

From Python (inside the app context):

    from oms_core.services import catalog
    product = catalog.create_product(sku="MUG-1", name="Stoneware mug", price_minor=1450,
                                     currency="EUR", on_hand=12, actor="script:import")
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Iterable

from sqlalchemy import bindparam, select

from .. import limits, taxes
from ..db import db, read_connection, write_transaction
from ..errors import ValidationError
from ..money import check_currency
from ..models import Product
from . import assembly as assembly_service, stock
from .common import fetch, optional_text, required_text

log = logging.getLogger(__name__)


def create_product(*, sku: str, name: str, price_minor: int, currency: str, on_hand: int = 0,
                   low_stock_threshold: int = 3, description: str = "", tax_class: str = "standard",
                   tax_rate_bp: int | None = None, weight_grams: int = 0, hs_code: str = "",
                   origin_country: str = "", assembly: str = "none", assembly_price_minor: int = 0,
                   category: str = "", actor: str) -> Product:
    """A new active product; its opening stock (if any) is the first ledger row. Its
    tax is its class's rate in the order's country (OMS_TAX_CLASSES), or
    `tax_rate_bp` (basis points) when given. Weight (grams per unit), HS code and
    country of origin go to carriers: parcel weights, customs outside the EU.
    `assembly` (none, offered, required) adds a service line at `assembly_price_minor`
    per unit to orders (services.assembly). The category is the shop's own word
    (return windows per category)."""
    if not (sku or "").strip() or not (name or "").strip():
        raise ValidationError("A product needs a SKU and a name.")
    sku, name = required_text(sku, "SKU", 64), required_text(name, "Name", 200)
    description = optional_text(description, "Description", 10_000)
    for value, label, maximum in ((price_minor, "Price", limits.MAX_AMOUNT_MINOR),
                                  (on_hand, "Stock on hand", limits.MAX_STOCK),
                                  (low_stock_threshold, "Low-stock threshold", limits.MAX_STOCK)):
        if isinstance(value, int) and value < 0:
            raise ValidationError("Price and stock cannot be negative.")
        limits.check_whole(value, label, maximum=maximum)
    currency = check_currency(currency)
    tax_class = required_text(tax_class, "Tax class", 32)
    limits.check_whole(weight_grams, "Weight (g)", maximum=limits.MAX_WEIGHT_GRAMS)
    hs_code = optional_text(hs_code, "HS code", 20).replace(" ", "").replace(".", "")
    if hs_code and not (hs_code.isdigit() and 6 <= len(hs_code) <= 10):
        raise ValidationError("An HS code has 6 to 10 digits.")
    origin_country = optional_text(origin_country, "Country of origin", 2).upper()
    if origin_country and not (len(origin_country) == 2 and origin_country.isalpha() and origin_country.isascii()):
        raise ValidationError("The country of origin is a two-letter code (NL, CN...).")
    category = optional_text(category, "Category", 64)
    if tax_rate_bp is not None:
        taxes.check_rate(tax_rate_bp)
    assembly, assembly_price_minor = assembly_service.check_choice(assembly, assembly_price_minor)
    with write_transaction():
        if db.session.scalar(select(Product.id).where(Product.sku == sku)) is not None:
            raise ValidationError(f"SKU {sku} exists already.")
        product = Product(sku=sku, name=name, price_minor=price_minor, currency=currency,
                          on_hand=on_hand, reserved=0, low_stock_threshold=low_stock_threshold,
                          description=description, tax_class=tax_class, tax_rate_bp=tax_rate_bp,
                          weight_grams=weight_grams, hs_code=hs_code, origin_country=origin_country,
                          assembly=assembly, assembly_price_minor=assembly_price_minor, category=category)
        db.session.add(product)
        db.session.flush()
        if on_hand:
            stock.record_opening_stock(product.id, on_hand, actor=actor)
    return product


def set_assembly(product_id: int, *, assembly: str, assembly_price_minor: int, actor: str) -> Product:
    """Whether a product offers or requires assembly, and its price per unit, for the
    orders placed from now on (placed orders keep their lines)."""
    assembly, assembly_price_minor = assembly_service.check_choice(assembly, assembly_price_minor)
    with write_transaction():
        product = fetch(Product, product_id, "product", with_for_update=True)
        product.assembly, product.assembly_price_minor = assembly, assembly_price_minor
    log.info("%s set the assembly of %s: %s at %s", actor, product.sku, assembly, assembly_price_minor)
    return product


def update_product(product_id: int, *, name: str | None = None, price_minor: int | None = None,
                   description: str | None = None, low_stock_threshold: int | None = None,
                   weight_grams: int | None = None) -> Product:
    """Change what is given (None: left as it is) of a product's catalogue data;
    caller's transaction or its own. Its SKU and currency stay; stock moves are `stock`'s."""
    changes = {}
    if name is not None:
        changes["name"] = required_text(name, "Name", 200)
    if description is not None:
        changes["description"] = optional_text(description, "Description", 10_000)
    for key, value, label, maximum in (("price_minor", price_minor, "Price", limits.MAX_AMOUNT_MINOR),
                                       ("low_stock_threshold", low_stock_threshold, "Low-stock threshold",
                                        limits.MAX_STOCK),
                                       ("weight_grams", weight_grams, "Weight (g)", limits.MAX_WEIGHT_GRAMS)):
        if value is not None:
            changes[key] = limits.check_whole(value, label, maximum=maximum)
    with write_transaction():
        product = fetch(Product, product_id, "product", with_for_update=True, populate_existing=True)
        for key, value in changes.items():
            setattr(product, key, value)
    return product


def find_by_sku(sku: str) -> Product | None:
    return db.session.scalar(select(Product).where(Product.sku == sku))


def get_product(product_id: int) -> Product:
    return fetch(Product, product_id, "product")


@dataclass
class ProductPage:
    products: list[Product]
    next_after: str | None  # pass as `after` (a SKU) for the next page


def product_page(*, after: str | None = None, search: str = "", limit: int = 100) -> ProductPage:
    """Products by SKU, keyset paginated; `search` is a SKU or name prefix."""
    query = select(Product)
    term = (search or "").strip()
    if term:
        query = query.where((Product.sku >= term) & (Product.sku < term + "\uffff")
                            | Product.name.ilike(term.replace("%", r"\%").replace("_", r"\_") + "%",
                                                 escape="\\"))
    if after:
        query = query.where(Product.sku > after)
    rows = list(db.session.scalars(query.order_by(Product.sku).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return ProductPage(products=rows, next_after=rows[-1].sku if more and rows else None)


_ORDERINGS = {"name": (Product.name, Product.sku), "sku": (Product.sku,)}


def products_on_sale(*, by: str = "name") -> list[Product]:
    """Active products (the ones an order may hold), by name or by SKU."""
    if by not in _ORDERINGS:
        raise ValueError(f"order products by one of {', '.join(_ORDERINGS)}, not {by!r}")
    return list(db.session.scalars(select(Product).where(Product.active.is_(True)).order_by(*_ORDERINGS[by])))


@dataclass(frozen=True)
class CatalogItem:
    """What a shop page shows of a product on sale."""

    sku: str
    name: str
    price_minor: int
    currency: str
    assembly: str = "none"  # none, offered (a checkout may offer it) or required
    assembly_price_minor: int = 0  # per unit


# Built once (an expanding IN): a shop's cart reads it on every page and checkout.
_ITEMS_ON_SALE = (select(Product.sku, Product.name, Product.price_minor, Product.currency, Product.assembly,
                         Product.assembly_price_minor)
                  .where(Product.sku.in_(bindparam("skus", expanding=True)), Product.active.is_(True))
                  .order_by(Product.name, Product.sku))


def items_on_sale(skus: Iterable[str]) -> list[CatalogItem]:
    """The active products among `skus`, by name; unknown or inactive SKUs are left out."""
    wanted = list(skus)
    if not wanted:
        return []
    with read_connection() as connection:  # a shop's cart reads this on every page: keep it light
        rows = connection.execute(_ITEMS_ON_SALE, {"skus": wanted}).all()
    return [CatalogItem(*row) for row in rows]
