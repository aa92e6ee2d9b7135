"""order locale: the customer's language, for their emails and documents

- oms_order.locale: a shipped locale (oms_core/i18n.py LOCALES) or the shop's own;
  '' for orders placed before, read as the shop's locale.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30 04:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('oms_order', schema=None) as batch_op:
        batch_op.add_column(sa.Column('locale', sa.String(length=16), server_default='', nullable=False))


def downgrade():
    with op.batch_alter_table('oms_order', schema=None) as batch_op:
        batch_op.drop_column('locale')
