"""index shipment status

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 07:49:38.032365
"""
from alembic import op


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():

    with op.batch_alter_table('oms_shipment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oms_shipment_status'), ['status'], unique=False)




def downgrade():

    with op.batch_alter_table('oms_shipment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_oms_shipment_status'))


