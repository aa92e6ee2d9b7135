"""Fast bulk seeding of orders for benchmarks: plain INSERTs in batches, bypassing the
services (which would take minutes at a million orders). The rows are shaped like
real ones (statuses, customers, tracking codes, lines) so indexes see real data."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

from sqlalchemy import insert, select

from oms_core import order_states, tracking_codes
from oms_core.db import db
from oms_core.models import Customer, Order, OrderLine, Product

STATUS_WEIGHTS = [
    (order_states.CLOSED, 55), (order_states.DELIVERED, 15), (order_states.SHIPPED, 8),
    (order_states.PAID, 5), (order_states.CONFIRMED, 6), (order_states.PLACED, 3),
    (order_states.CANCELLED, 6), (order_states.FULFILLING, 2),
]


def seed_orders(count: int, *, seed: int = 1, batch: int = 5000) -> None:
    rng = random.Random(seed)
    statuses = [s for s, w in STATUS_WEIGHTS for _ in range(w)]
    session = db.session
    if not session.scalar(select(Product.id).limit(1)):
        session.execute(insert(Product), [
            dict(sku=f"BENCH-{i:03d}", name=f"Bench product {i}", description="", price_minor=1000 + i,
                 currency="EUR", on_hand=0, reserved=0, low_stock_threshold=3, active=True,
                 created_at=datetime.now(timezone.utc)) for i in range(50)])
        session.commit()
    product_ids = list(session.scalars(select(Product.id)))
    n_customers = max(10, count // 4)
    start_customer = (session.scalar(select(db.func.max(Customer.id))) or 0) + 1
    now = datetime.now(timezone.utc)
    for offset in range(0, n_customers, batch):
        session.execute(insert(Customer), [
            dict(email=f"customer{start_customer + i}@example.com", name=f"Customer {start_customer + i}",
                 phone="", created_at=now) for i in range(offset, min(offset + batch, n_customers))])
        session.commit()
    first_order = (session.scalar(select(db.func.max(Order.id))) or 0) + 1
    for offset in range(0, count, batch):
        n = min(batch, count - offset)
        orders, lines = [], []
        for i in range(n):
            order_id = first_order + offset + i
            status = rng.choice(statuses)
            created = now - timedelta(minutes=(count - offset - i) * 5)
            orders.append(dict(
                id=order_id, status=status, customer_id=start_customer + rng.randrange(n_customers),
                channel="web", currency="EUR", subtotal_minor=2500, shipping_minor=0, total_minor=2500,
                paid_minor=2500 if status not in ("placed", "confirmed", "cancelled") else 0,
                payment_method="bank_transfer", pays_on_delivery=False,
                payment_status="paid" if status not in ("placed", "confirmed", "cancelled") else "unpaid",
                tracking_code=None if status == "placed" else tracking_codes.generate(),
                customer_name="Bench", ship_name="Bench", ship_line1="", ship_line2="", ship_postal_code="",
                ship_city="",
                ship_country="NL", note="", created_at=created, updated_at=created,
                status_changed_at=created))
            lines.append(dict(order_id=order_id, product_id=rng.choice(product_ids), sku="BENCH",
                              name="Bench product", unit_price_minor=2500, quantity=1))
        session.execute(insert(Order), orders)
        session.execute(insert(OrderLine), lines)
        session.commit()
    if db.engine.dialect.name == "postgresql":
        session.execute(db.text(
            f"SELECT setval(pg_get_serial_sequence('oms_order', 'id'), {first_order + count})"))
        session.execute(db.text("ANALYZE"))
        session.commit()
