"""returns and exchanges as their own entity

- oms_product.category (return windows per category).
- oms_return, oms_return_line: returns with their lines, state, label, outcome.
- Orders left in the old return states of the order machine (return_requested,
  return_approved, return_received, refunded, return_rejected) move back to
  delivered (return still open) or closed (finished), each with a return row of
  every line in the matching state.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 03:00:00.000000
"""
import uuid
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

# old order status -> (the order's status now, the return's state)
OLD_STATES = {
    'return_requested': ('delivered', 'requested'),
    'return_approved': ('delivered', 'approved'),
    'return_received': ('delivered', 'received'),
    'refunded': ('closed', 'refunded'),
    'return_rejected': ('closed', 'rejected'),
}


def upgrade():
    with op.batch_alter_table('oms_product', schema=None) as batch_op:
        batch_op.add_column(sa.Column('category', sa.String(length=64), server_default='', nullable=False))
    op.create_table(
        'oms_return',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('order_id', sa.Integer(), nullable=False),
        sa.Column('state', sa.String(length=20), nullable=False),
        sa.Column('reason_code', sa.String(length=32), nullable=False),
        sa.Column('reason_text', sa.Text(), nullable=False),
        sa.Column('outcome', sa.String(length=10), nullable=False),
        sa.Column('staff_note', sa.Text(), nullable=False),
        sa.Column('rejection_reason', sa.Text(), nullable=False),
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('label_data', sa.LargeBinary(), nullable=True),
        sa.Column('label_format', sa.String(length=8), nullable=False),
        sa.Column('label_tracking_number', sa.String(length=100), nullable=False),
        sa.Column('label_error', sa.Text(), nullable=False),
        sa.Column('exchange_order_id', sa.Integer(), nullable=True),
        sa.Column('created_by', sa.String(length=200), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['order_id'], ['oms_order.id']),
        sa.ForeignKeyConstraint(['exchange_order_id'], ['oms_order.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('key'),
    )
    with op.batch_alter_table('oms_return', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oms_return_order_id'), ['order_id'], unique=False)
        batch_op.create_index('ix_oms_return_state_id', ['state', 'id'], unique=False)
    op.create_table(
        'oms_return_line',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('return_id', sa.Integer(), nullable=False),
        sa.Column('order_line_id', sa.Integer(), nullable=False),
        sa.Column('quantity', sa.Integer(), nullable=False),
        sa.Column('received_quantity', sa.Integer(), nullable=False),
        sa.Column('condition', sa.String(length=16), nullable=False),
        sa.Column('write_off_reason', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['return_id'], ['oms_return.id']),
        sa.ForeignKeyConstraint(['order_line_id'], ['oms_order_line.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('return_id', 'order_line_id', name='uq_oms_return_line'),
        sa.CheckConstraint('quantity > 0', name='return_line_quantity_positive'),
        sa.CheckConstraint('received_quantity >= 0 AND received_quantity <= quantity',
                           name='return_line_received_within_quantity'),
    )
    with op.batch_alter_table('oms_return_line', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oms_return_line_return_id'), ['return_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_oms_return_line_order_line_id'), ['order_line_id'], unique=False)
    _move_old_return_states()


def _move_old_return_states():
    """Each order in an old return state gets a return of all its lines in that
    state, and steps back to delivered or closed."""
    bind = op.get_bind()
    now = datetime.now(timezone.utc)
    if bind.dialect.name == 'sqlite':
        now = now.replace(tzinfo=None)  # stored naive UTC, like UTCDateTime does
    orders = bind.execute(sa.text("SELECT id, status FROM oms_order WHERE status IN "
                                  "('return_requested', 'return_approved', 'return_received', 'refunded', "
                                  "'return_rejected') ORDER BY id")).all()
    for order_id, old in orders:
        order_status, state = OLD_STATES[old]
        return_id = bind.execute(sa.text(
            "INSERT INTO oms_return (order_id, state, reason_code, reason_text, outcome, staff_note, "
            "rejection_reason, key, label_format, label_tracking_number, label_error, created_by, "
            "created_at, updated_at) VALUES (:order_id, :state, 'other', :text, 'refund', '', :rejection, "
            ":key, '', '', '', 'migration', :now, :now) RETURNING id"),
            {"order_id": order_id, "state": state, "key": uuid.uuid4().hex, "now": now,
             "text": f"Recorded as the order's status '{old}' before returns had their own records.",
             "rejection": "Rejected before returns had their own records." if state == 'rejected' else ""},
        ).scalar_one()
        received = state in ('received', 'refunded')
        bind.execute(sa.text(
            "INSERT INTO oms_return_line (return_id, order_line_id, quantity, received_quantity, condition, "
            "write_off_reason) SELECT :return_id, id, quantity, " + ("quantity" if received else "0")
            + ", '', '' FROM oms_order_line WHERE order_id = :order_id AND quantity > 0"),
            {"return_id": return_id, "order_id": order_id})
        bind.execute(sa.text("UPDATE oms_order SET status = :status WHERE id = :order_id"),
                     {"status": order_status, "order_id": order_id})


def downgrade():
    # Orders keep delivered/closed: the old return states are gone from the code.
    op.drop_table('oms_return_line')
    op.drop_table('oms_return')
    with op.batch_alter_table('oms_product', schema=None) as batch_op:
        batch_op.drop_column('category')
