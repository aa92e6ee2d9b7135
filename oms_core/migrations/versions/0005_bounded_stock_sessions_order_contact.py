"""bounded stock counters, session versions, the contact typed per order

- oms_product: on hand at most MAX_STOCK, and (SQLite) on hand and reserved stored as
  integers: SQLite turns an overflowing sum into a REAL, which no check saw.
- oms_staff_user.session_version: part of the session's user id; raising it ends the
  user's sessions (log-out, deactivation, a new password).
- oms_order.customer_name / customer_phone: the name and phone typed for the order,
  so a checkout with someone else's email no longer renames the stored customer.
  Existing orders get their ship-to name (the name typed at checkout) and the phone
  their customer has now.

A database whose stock counters already hold such a number is refused with the
products to repair (`flask oms check-stock` shows the ledger's sums).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 10:12:03.512207
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

MAX_STOCK = 1_000_000_000  # oms_core.limits.MAX_STOCK when this revision was written


def _refuse_bad_counters(bind):
    typed = "typeof(on_hand) <> 'integer' OR typeof(reserved) <> 'integer' OR " if (
        bind.dialect.name == "sqlite") else ""
    bad = bind.execute(sa.text(
        f"SELECT sku, on_hand, reserved FROM oms_product WHERE {typed}on_hand > {MAX_STOCK} "
        "ORDER BY sku")).all()
    if bad:
        listed = "; ".join(f"{sku}: on hand {on_hand!r}, reserved {reserved!r}" for sku, on_hand, reserved in bad)
        raise RuntimeError(
            f"Stock counters that are not whole numbers within 0..{MAX_STOCK:,}: {listed}. Set them to "
            "the ledger's sums (`flask oms check-stock` lists them) and upgrade again.")


def upgrade():
    bind = op.get_bind()
    _refuse_bad_counters(bind)
    with op.batch_alter_table('oms_product', schema=None) as batch_op:
        batch_op.create_check_constraint('on_hand_within_bound', f'on_hand <= {MAX_STOCK}')
        if bind.dialect.name == "sqlite":
            batch_op.create_check_constraint(
                'stock_whole_numbers', "typeof(on_hand) = 'integer' AND typeof(reserved) = 'integer'")

    with op.batch_alter_table('oms_staff_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_version', sa.Integer(), server_default='1', nullable=False))

    with op.batch_alter_table('oms_order', schema=None) as batch_op:
        batch_op.add_column(sa.Column('customer_name', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('customer_phone', sa.String(length=50), server_default='',
                                      nullable=False))
    op.execute("UPDATE oms_order SET customer_name = ship_name, customer_phone = "
               "(SELECT phone FROM oms_customer WHERE oms_customer.id = oms_order.customer_id)")
    with op.batch_alter_table('oms_order', schema=None) as batch_op:
        batch_op.alter_column('customer_name', existing_type=sa.String(length=200), nullable=False)
        batch_op.alter_column('customer_phone', existing_type=sa.String(length=50), server_default=None)


def downgrade():
    with op.batch_alter_table('oms_order', schema=None) as batch_op:
        batch_op.drop_column('customer_phone')
        batch_op.drop_column('customer_name')

    with op.batch_alter_table('oms_staff_user', schema=None) as batch_op:
        batch_op.drop_column('session_version')

    bind = op.get_bind()
    with op.batch_alter_table('oms_product', schema=None) as batch_op:
        if bind.dialect.name == "sqlite":
            batch_op.drop_constraint('stock_whole_numbers', type_='check')
        batch_op.drop_constraint('on_hand_within_bound', type_='check')
