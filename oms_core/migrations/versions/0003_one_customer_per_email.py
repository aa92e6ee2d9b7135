"""one customer per email

A unique index rather than a constraint: SQLite can add it without rebuilding the
table (a rebuild would trip the foreign keys of existing orders).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 07:59:44.226835
"""
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('oms_customer', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_oms_customer_email'))
        batch_op.create_index(batch_op.f('ix_oms_customer_email'), ['email'], unique=True)


def downgrade():
    with op.batch_alter_table('oms_customer', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_oms_customer_email'))
        batch_op.create_index(batch_op.f('ix_oms_customer_email'), ['email'], unique=False)
