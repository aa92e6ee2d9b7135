"""Stock: available = on hand - reserved. Every change is one conditional UPDATE
(atomic on SQLite and PostgreSQL, no read-then-write race) plus a ledger row."""
from __future__ import annotations

from sqlalchemy import bindparam, case, func, insert, literal, select, update

from .. import limits
from ..db import db, execute_core, is_postgres, write_transaction
from ..errors import OutOfStock, ValidationError
from ..limits import MAX_STOCK
from ..models import Product, StockMove
from ..models._base import UTCDateTime, utcnow
from .common import fetch

# Why stock changed: the reasons of ledger rows.
INITIAL, RECEIPT, ADJUSTMENT = "initial", "receipt", "adjustment"
RESERVATION, RELEASE, SHIPMENT = "reservation", "release", "shipment"
LABEL_VOIDED = "label_voided"
ORDER_EDIT = "order_edit"  # units added to or taken off an order before it ships
IMPORT = "import"  # a count set from a file (services/csv_import.py)
RETURN = "return"  # a customer's returned units put back on sale (services.returns)
# Why staff change stock by hand, with the labels they pick from.
ADJUST_REASONS = {RECEIPT: "Goods received", ADJUSTMENT: "Count adjustment"}


def _move(product_id: int, *, on_hand: int = 0, reserved: int = 0, reason: str, actor: str,
          note: str = "", order_id: int | None = None) -> None:
    db.session.add(StockMove(product_id=product_id, on_hand_delta=on_hand, reserved_delta=reserved,
                             reason=reason, actor=actor, note=note, order_id=order_id))


# Hold stock only while it is there: the never-below-zero guard in the UPDATE itself.
_RESERVE = (update(Product.__table__)
            .where(Product.id == bindparam("product_id"),
                   Product.on_hand - Product.reserved >= bindparam("quantity"))
            .values(reserved=Product.reserved + bindparam("quantity")))
_INSERT_MOVES = insert(StockMove.__table__)
# PostgreSQL: the same guarded UPDATE and its ledger row in one statement (one round
# trip per product, not one more for the ledger); the row is written only when the
# UPDATE held the units, so the INSERT returns a row if and only if it did. (No bind
# parameter is named as a product column: the UPDATE would SET that column.)
_RESERVED = _RESERVE.returning(Product.id).cte("reserved")
_RESERVE_WITH_MOVE = insert(StockMove.__table__).from_select(
    ["product_id", "on_hand_delta", "reserved_delta", "reason", "note", "actor", "order_id", "created_at"],
    select(_RESERVED.c.id, literal(0), bindparam("quantity"), bindparam("reason"), literal(""),
           bindparam("actor"), bindparam("order_id"), bindparam("moved_at", type_=UTCDateTime()))
).returning(StockMove.id)


def reserve_lines(lines: list[tuple[int, int]], *, order_id: int, actor: str,
                  reason: str = RESERVATION) -> None:
    """Hold (product id, quantity) of each line for a confirmed order (or units an
    edit adds), or raise OutOfStock and hold nothing (the caller's transaction rolls
    back). One conditional UPDATE per product, in id order so two orders never
    deadlock on PostgreSQL, with its ledger row there (_RESERVE_WITH_MOVE); on SQLite,
    in-process, the ledger rows follow in one INSERT. Caller's transaction; the order
    must have its id (flushed)."""
    postgres, now = is_postgres(), utcnow()
    for product_id, quantity in sorted(lines):
        if postgres:
            held = len(execute_core(_RESERVE_WITH_MOVE, {
                "product_id": product_id, "quantity": quantity, "reason": reason, "actor": actor,
                "order_id": order_id, "moved_at": now}).all())
        else:
            held = execute_core(_RESERVE, {"product_id": product_id, "quantity": quantity}).rowcount
        if held != 1:
            sku, available = db.session.execute(select(Product.sku, Product.on_hand - Product.reserved)
                                                .where(Product.id == product_id)).one()
            raise OutOfStock(sku, quantity, available)
        _expire_reserved(product_id)
    if not postgres:
        execute_core(_INSERT_MOVES, [
            {"product_id": product_id, "on_hand_delta": 0, "reserved_delta": quantity, "reason": reason,
             "actor": actor, "note": "", "order_id": order_id, "created_at": now}
            for product_id, quantity in sorted(lines)])


def _expire_reserved(product_id: int) -> None:
    """A Product loaded in the session reads its counter again: it changed in the
    database, not on the object."""
    loaded = db.session.identity_map.get(db.session.identity_key(Product, product_id))
    if loaded is not None:
        db.session.expire(loaded, ["reserved"])


def release(product_id: int, quantity: int, *, order_id: int, actor: str, reason: str = RELEASE) -> None:
    """Give back a cancelled order's reservation (or units an edit took off). Caller's transaction."""
    db.session.execute(
        update(Product).where(Product.id == product_id)
        .values(reserved=Product.reserved - quantity)
        .execution_options(synchronize_session=False)
    )
    _move(product_id, reserved=-quantity, reason=reason, actor=actor, order_id=order_id)


def deduct_shipped(product_id: int, quantity: int, *, order_id: int, actor: str) -> None:
    """Reserved goods leave the building: on hand and reserved both drop."""
    db.session.execute(
        update(Product).where(Product.id == product_id)
        .values(on_hand=Product.on_hand - quantity, reserved=Product.reserved - quantity)
        .execution_options(synchronize_session=False)
    )
    _move(product_id, on_hand=-quantity, reserved=-quantity, reason=SHIPMENT, actor=actor,
          order_id=order_id)


def return_unshipped(product_id: int, quantity: int, *, order_id: int, actor: str) -> None:
    """A parcel's label was voided before the carrier took it: its units are back on
    the shelf, reserved for the order again (the reverse of deduct_shipped)."""
    db.session.execute(
        update(Product).where(Product.id == product_id)
        .values(on_hand=Product.on_hand + quantity, reserved=Product.reserved + quantity)
        .execution_options(synchronize_session=False)
    )
    _move(product_id, on_hand=quantity, reserved=quantity, reason=LABEL_VOIDED, actor=actor, order_id=order_id)


def restock_return(product_id: int, quantity: int, *, order_id: int, actor: str, note: str) -> None:
    """Returned units back on sale: on hand grows (never past MAX_STOCK), with a
    ledger row of reason "return". Caller's transaction."""
    limits.check_whole(quantity, "Units put back", minimum=1, maximum=limits.MAX_ORDER_QUANTITY)
    result = db.session.execute(
        update(Product).where(Product.id == product_id, Product.on_hand + quantity <= MAX_STOCK)
        .values(on_hand=Product.on_hand + quantity)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise ValidationError(f"Product {product_id} cannot hold {quantity} more units "
                              f"(at most {MAX_STOCK:,}).")
    _move(product_id, on_hand=quantity, reason=RETURN, actor=actor, note=note, order_id=order_id)


def adjust(product_id: int, delta: int, *, reason: str, note: str, actor: str) -> Product:
    """Count correction or goods received. A reason is required; stock held for
    confirmed orders cannot be adjusted away."""
    if reason not in (*ADJUST_REASONS, INITIAL):
        raise ValidationError("Pick a reason: goods received or count adjustment.")
    if reason == ADJUSTMENT and not note.strip():
        raise ValidationError("Say why the count changes (damaged, found, recount...).")
    limits.check_whole(delta, "The change", minimum=-MAX_STOCK, maximum=MAX_STOCK)
    if delta == 0:
        raise ValidationError("The change must not be zero.")
    if reason != ADJUSTMENT and delta < 0:
        # Otherwise picking "receipt" would take stock away without the note.
        raise ValidationError("Goods received add stock; a decrease is a count adjustment.")
    with write_transaction():
        product = fetch(Product, product_id, "product")
        result = db.session.execute(
            update(Product)
            .where(Product.id == product_id, Product.on_hand + delta >= Product.reserved,
                   Product.on_hand + delta <= MAX_STOCK)
            .values(on_hand=Product.on_hand + delta)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            db.session.refresh(product)
            if delta > 0:
                raise ValidationError(f"{product.sku} has {product.on_hand:,} on hand; it cannot hold more "
                                      f"than {MAX_STOCK:,}.")
            raise ValidationError(
                f"{product.sku} has {product.on_hand} on hand of which {product.reserved} are "
                f"reserved; it cannot go down by {-delta}."
            )
        _move(product_id, on_hand=delta, reason=reason, note=note.strip(), actor=actor)
    db.session.refresh(product)
    return product


def set_count(product_id: int, on_hand: int, *, reason: str, note: str, actor: str) -> int:
    """Set the count on hand to `on_hand` (a stock file says how many there are), as
    one ledger row of the difference; caller's transaction. Returns the difference
    (0: nothing written). Refused below what confirmed orders hold."""
    limits.check_whole(on_hand, "Stock on hand", maximum=MAX_STOCK)
    product = fetch(Product, product_id, "product", with_for_update=True, populate_existing=True)
    delta = on_hand - product.on_hand
    if delta == 0:
        return 0
    result = db.session.execute(
        update(Product)
        .where(Product.id == product_id, Product.on_hand == product.on_hand, Product.reserved <= on_hand)
        .values(on_hand=on_hand)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        db.session.refresh(product)
        raise ValidationError(f"{product.sku} has {product.reserved} reserved for confirmed orders: its count "
                              f"cannot be set to {on_hand}.")
    db.session.expire(product, ["on_hand"])
    _move(product_id, on_hand=delta, reason=reason, note=note, actor=actor)
    return delta


def record_opening_stock(product_id: int, quantity: int, *, actor: str) -> None:
    """The ledger row of a new product's first count (`catalog.create_product`);
    the product row already holds it. Caller's transaction."""
    _move(product_id, on_hand=quantity, reason=INITIAL, actor=actor)


def available_for_sale(skus: list[str]) -> dict[str, int]:
    """SKU -> units that can be sold right now (0 for unknown or inactive)."""
    rows = db.session.execute(
        select(Product.sku, Product.on_hand - Product.reserved)
        .where(Product.sku.in_(skus), Product.active.is_(True))
    ).all()
    found = {sku: max(avail, 0) for sku, avail in rows}
    return {sku: found.get(sku, 0) for sku in skus}


def ledger(product_id: int, limit: int = 100) -> list[StockMove]:
    return list(db.session.scalars(
        select(StockMove).where(StockMove.product_id == product_id)
        .order_by(StockMove.id.desc()).limit(limit)
    ))


def _in_range(column):
    return column.between(-MAX_STOCK, MAX_STOCK)


def ledger_mismatches() -> list[tuple[str, int, int, int, int]]:
    """Products whose counters differ from the ledger's sums: (sku, on_hand, ledger
    on hand, reserved, ledger reserved). Empty when the invariant holds.

    The database sums only rows within the bounds any real change has; a product with
    a row beyond them (written before the bounds existed) is summed here in Python,
    whose integers cannot overflow as SQLite's sum() does."""
    in_range = _in_range(StockMove.on_hand_delta) & _in_range(StockMove.reserved_delta)
    sums = (
        select(StockMove.product_id,
               func.sum(case((in_range, StockMove.on_hand_delta), else_=0)).label("on_hand"),
               func.sum(case((in_range, StockMove.reserved_delta), else_=0)).label("reserved"),
               func.sum(case((in_range, 0), else_=1)).label("outliers"))
        .group_by(StockMove.product_id).subquery()
    )
    rows = db.session.execute(
        select(Product.id, Product.sku, Product.on_hand, func.coalesce(sums.c.on_hand, 0),
               Product.reserved, func.coalesce(sums.c.reserved, 0), func.coalesce(sums.c.outliers, 0))
        .outerjoin(sums, sums.c.product_id == Product.id).order_by(Product.sku)
    ).all()
    found = []
    for product_id, sku, on_hand, ledger_on_hand, reserved, ledger_reserved, outliers in rows:
        if outliers:
            moves = db.session.execute(select(StockMove.on_hand_delta, StockMove.reserved_delta)
                                       .where(StockMove.product_id == product_id)).all()
            ledger_on_hand, ledger_reserved = sum(m[0] for m in moves), sum(m[1] for m in moves)
        if on_hand != ledger_on_hand or reserved != ledger_reserved:
            found.append((sku, on_hand, ledger_on_hand, reserved, ledger_reserved))
    return found


def stock_problems() -> list[str]:
    """What no real change can produce, one line each: a counter that is not a whole
    number within 0..MAX_STOCK (SQLite turns an overflowing sum into a REAL), and a
    ledger row moving more than MAX_STOCK units."""
    problems = []
    for sku, on_hand, reserved in db.session.execute(
            select(Product.sku, Product.on_hand, Product.reserved).order_by(Product.sku)):
        for label, value in (("on hand", on_hand), ("reserved", reserved)):
            if not (isinstance(value, int) and 0 <= value <= MAX_STOCK):
                problems.append(f"{sku}: {label} is {value!r}, not a whole number within 0..{MAX_STOCK:,}")
    for move_id, sku, on_hand_delta, reserved_delta in db.session.execute(
            select(StockMove.id, Product.sku, StockMove.on_hand_delta, StockMove.reserved_delta)
            .join(Product, Product.id == StockMove.product_id)
            .where(~(_in_range(StockMove.on_hand_delta) & _in_range(StockMove.reserved_delta)))
            .order_by(StockMove.id)):
        problems.append(f"{sku}: ledger row #{move_id} moves on hand {on_hand_delta!r}, reserved "
                        f"{reserved_delta!r}: beyond {MAX_STOCK:,} units")
    return problems
