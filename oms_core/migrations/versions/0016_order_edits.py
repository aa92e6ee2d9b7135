"""order edits: an edit version on orders, refunds without their own credit note

- oms_order.version: raised by every edit (services.order_edits), so two staff
  editing the same order at once cannot overwrite each other.
- oms_refund.credit_note: false for the difference an edit gives back; the edit
  credits the whole invoice itself and issues a new one.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30 03:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('oms_order', schema=None) as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), server_default='0', nullable=False))
    with op.batch_alter_table('oms_refund', schema=None) as batch_op:
        batch_op.add_column(sa.Column('credit_note', sa.Boolean(), server_default=sa.true(), nullable=False))


def downgrade():
    with op.batch_alter_table('oms_refund', schema=None) as batch_op:
        batch_op.drop_column('credit_note')
    with op.batch_alter_table('oms_order', schema=None) as batch_op:
        batch_op.drop_column('version')
