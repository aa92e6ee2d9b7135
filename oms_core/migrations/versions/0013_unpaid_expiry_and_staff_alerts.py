"""unpaid-order deadlines, staff alerts and digests

- oms_order: the payment deadline stored when the order is placed, and when the
  customer was reminded of it. Existing orders get none (they never expire).
- oms_staff_user: how each staff member hears of alerts (existing users: digest).
- oms_alert: one row per kind and subject; oms_alert_digest: one per user and day.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 03:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('oms_order', schema=None) as batch_op:
        batch_op.add_column(sa.Column('payment_due_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('payment_reminded_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_oms_order_payment_due_at', ['payment_due_at'], unique=False)
    with op.batch_alter_table('oms_staff_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('alert_delivery', sa.String(length=10), server_default='digest',
                                      nullable=False))
    op.create_table(
        'oms_alert',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('subject', sa.String(length=200), nullable=False),
        sa.Column('title', sa.String(length=300), nullable=False),
        sa.Column('url', sa.String(length=500), nullable=False),
        sa.Column('order_id', sa.Integer(), nullable=True),
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('resolved_by', sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(['order_id'], ['oms_order.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('kind', 'subject', name='uq_oms_alert_kind_subject'),
        sa.UniqueConstraint('key'),
    )
    with op.batch_alter_table('oms_alert', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oms_alert_order_id'), ['order_id'], unique=False)
        batch_op.create_index('ix_oms_alert_resolved_at_id', ['resolved_at', 'id'], unique=False)
    op.create_table(
        'oms_alert_digest',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('staff_user_id', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('first_alert_id', sa.Integer(), nullable=False),
        sa.Column('last_alert_id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['staff_user_id'], ['oms_staff_user.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('staff_user_id', 'day', name='uq_oms_alert_digest_user_day'),
        sa.UniqueConstraint('key'),
    )


def downgrade():
    op.drop_table('oms_alert_digest')
    op.drop_table('oms_alert')
    with op.batch_alter_table('oms_staff_user', schema=None) as batch_op:
        batch_op.drop_column('alert_delivery')
    with op.batch_alter_table('oms_order', schema=None) as batch_op:
        batch_op.drop_index('ix_oms_order_payment_due_at')
        for name in ('payment_reminded_at', 'payment_due_at'):
            batch_op.drop_column(name)
