"""parcels with lines, stored labels, product shipping data

- oms_product: weight in grams, HS code and country of origin (customs).
- oms_shipment: the parcel's packaging, ship-from address code, weight, options
  (signature, insurance), the rate staff picked, the stored label (bytes, format,
  cost) and when it was last polled for tracking.
- oms_shipment_line: which order lines and how many units are in each parcel.
  Existing shipments held the whole order: one row per order line.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 00:45:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('oms_product', schema=None) as batch_op:
        batch_op.add_column(sa.Column('weight_grams', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('hs_code', sa.String(length=20), server_default='', nullable=False))
        batch_op.add_column(sa.Column('origin_country', sa.String(length=2), server_default='', nullable=False))
    with op.batch_alter_table('oms_shipment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('packaging', sa.String(length=32), server_default='', nullable=False))
        batch_op.add_column(sa.Column('ship_from', sa.String(length=32), server_default='', nullable=False))
        batch_op.add_column(sa.Column('weight_grams', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('signature', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('insurance_minor', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('rate_id', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('label_data', sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column('label_format', sa.String(length=8), server_default='', nullable=False))
        batch_op.add_column(sa.Column('label_cost_minor', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('label_currency', sa.String(length=3), server_default='', nullable=False))
        batch_op.add_column(sa.Column('polled_at', sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        'oms_shipment_line',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('shipment_id', sa.Integer(), nullable=False),
        sa.Column('order_line_id', sa.Integer(), nullable=False),
        sa.Column('quantity', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['shipment_id'], ['oms_shipment.id']),
        sa.ForeignKeyConstraint(['order_line_id'], ['oms_order_line.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('shipment_id', 'order_line_id', name='uq_oms_shipment_line'),
        sa.CheckConstraint('quantity > 0', name='shipment_line_quantity_positive'),
    )
    with op.batch_alter_table('oms_shipment_line', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oms_shipment_line_order_line_id'), ['order_line_id'], unique=False)
    # Shipments made before parcels had lines held the whole order.
    op.execute("INSERT INTO oms_shipment_line (shipment_id, order_line_id, quantity) "
               "SELECT s.id, l.id, l.quantity FROM oms_shipment s JOIN oms_order_line l ON l.order_id = s.order_id")


def downgrade():
    op.drop_table('oms_shipment_line')
    with op.batch_alter_table('oms_shipment', schema=None) as batch_op:
        for name in ('polled_at', 'label_currency', 'label_cost_minor', 'label_format', 'label_data', 'rate_id',
                     'insurance_minor', 'signature', 'weight_grams', 'ship_from', 'packaging'):
            batch_op.drop_column(name)
    with op.batch_alter_table('oms_product', schema=None) as batch_op:
        for name in ('origin_country', 'hs_code', 'weight_grams'):
            batch_op.drop_column(name)
