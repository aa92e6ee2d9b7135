"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-26 07:32:14.062993
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():

    op.create_table('oms_customer',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('phone', sa.String(length=50), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oms_customer'))
    )
    with op.batch_alter_table('oms_customer', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oms_customer_email'), ['email'], unique=False)

    op.create_table('oms_product',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('price_minor', sa.Integer(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('on_hand', sa.Integer(), nullable=False),
    sa.Column('reserved', sa.Integer(), nullable=False),
    sa.Column('low_stock_threshold', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('on_hand >= 0', name=op.f('ck_oms_product_on_hand_not_negative')),
    sa.CheckConstraint('price_minor >= 0', name=op.f('ck_oms_product_price_not_negative')),
    sa.CheckConstraint('reserved <= on_hand', name=op.f('ck_oms_product_reserved_within_on_hand')),
    sa.CheckConstraint('reserved >= 0', name=op.f('ck_oms_product_reserved_not_negative')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oms_product')),
    sa.UniqueConstraint('sku', name=op.f('uq_oms_product_sku'))
    )
    op.create_table('oms_staff_user',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('password_hash', sa.String(length=300), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oms_staff_user')),
    sa.UniqueConstraint('email', name=op.f('uq_oms_staff_user_email'))
    )
    op.create_table('oms_order',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('subtotal_minor', sa.Integer(), nullable=False),
    sa.Column('shipping_minor', sa.Integer(), nullable=False),
    sa.Column('total_minor', sa.Integer(), nullable=False),
    sa.Column('paid_minor', sa.Integer(), nullable=False),
    sa.Column('payment_method', sa.String(length=64), nullable=False),
    sa.Column('payment_status', sa.String(length=20), nullable=False),
    sa.Column('pays_on_delivery', sa.Boolean(), nullable=False),
    sa.Column('tracking_code', sa.String(length=20), nullable=True),
    sa.Column('ship_name', sa.String(length=200), nullable=False),
    sa.Column('ship_line1', sa.String(length=200), nullable=False),
    sa.Column('ship_line2', sa.String(length=200), nullable=False),
    sa.Column('ship_postal_code', sa.String(length=20), nullable=False),
    sa.Column('ship_city', sa.String(length=100), nullable=False),
    sa.Column('ship_country', sa.String(length=2), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status_changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['oms_customer.id'], name=op.f('fk_oms_order_customer_id_oms_customer')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oms_order')),
    sa.UniqueConstraint('tracking_code', name=op.f('uq_oms_order_tracking_code'))
    )
    with op.batch_alter_table('oms_order', schema=None) as batch_op:
        batch_op.create_index('ix_oms_order_customer_id_id', ['customer_id', 'id'], unique=False)
        batch_op.create_index('ix_oms_order_status_id', ['status', 'id'], unique=False)

    op.create_table('oms_order_line',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('unit_price_minor', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['oms_order.id'], name=op.f('fk_oms_order_line_order_id_oms_order')),
    sa.ForeignKeyConstraint(['product_id'], ['oms_product.id'], name=op.f('fk_oms_order_line_product_id_oms_product')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oms_order_line'))
    )
    with op.batch_alter_table('oms_order_line', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oms_order_line_order_id'), ['order_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_oms_order_line_product_id'), ['product_id'], unique=False)

    op.create_table('oms_outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('max_attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['order_id'], ['oms_order.id'], name=op.f('fk_oms_outbox_order_id_oms_order')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oms_outbox')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_oms_outbox_idempotency_key'))
    )
    with op.batch_alter_table('oms_outbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oms_outbox_order_id'), ['order_id'], unique=False)
        batch_op.create_index('ix_oms_outbox_status_next_attempt_at', ['status', 'next_attempt_at'], unique=False)

    op.create_table('oms_payment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('gateway_id', sa.String(length=64), nullable=False),
    sa.Column('amount_minor', sa.Integer(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('reference', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('flag_reason', sa.Text(), nullable=False),
    sa.Column('external_id', sa.String(length=200), nullable=True),
    sa.Column('event_id', sa.String(length=200), nullable=True),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['oms_order.id'], name=op.f('fk_oms_payment_order_id_oms_order')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oms_payment')),
    sa.UniqueConstraint('gateway_id', 'event_id', name='uq_oms_payment_gateway_event')
    )
    with op.batch_alter_table('oms_payment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oms_payment_order_id'), ['order_id'], unique=False)

    op.create_table('oms_shipment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('carrier_id', sa.String(length=64), nullable=False),
    sa.Column('carrier_name', sa.String(length=100), nullable=False),
    sa.Column('service', sa.String(length=100), nullable=False),
    sa.Column('tracking_number', sa.String(length=100), nullable=True),
    sa.Column('tracking_url', sa.String(length=500), nullable=True),
    sa.Column('external_id', sa.String(length=200), nullable=True),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('booking_error', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['oms_order.id'], name=op.f('fk_oms_shipment_order_id_oms_order')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oms_shipment'))
    )
    with op.batch_alter_table('oms_shipment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oms_shipment_order_id'), ['order_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_oms_shipment_tracking_number'), ['tracking_number'], unique=False)

    op.create_table('oms_stock_move',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('on_hand_delta', sa.Integer(), nullable=False),
    sa.Column('reserved_delta', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['oms_order.id'], name=op.f('fk_oms_stock_move_order_id_oms_order')),
    sa.ForeignKeyConstraint(['product_id'], ['oms_product.id'], name=op.f('fk_oms_stock_move_product_id_oms_product')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oms_stock_move'))
    )
    with op.batch_alter_table('oms_stock_move', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oms_stock_move_order_id'), ['order_id'], unique=False)
        batch_op.create_index('ix_oms_stock_move_product_id_id', ['product_id', 'id'], unique=False)

    op.create_table('oms_timeline_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('from_status', sa.String(length=32), nullable=True),
    sa.Column('to_status', sa.String(length=32), nullable=True),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('public', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['oms_order.id'], name=op.f('fk_oms_timeline_event_order_id_oms_order')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oms_timeline_event'))
    )
    with op.batch_alter_table('oms_timeline_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oms_timeline_event_order_id'), ['order_id'], unique=False)

    op.create_table('oms_shipment_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('shipment_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('raw_code', sa.String(length=100), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('location', sa.String(length=200), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('dedupe_key', sa.String(length=64), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['shipment_id'], ['oms_shipment.id'], name=op.f('fk_oms_shipment_event_shipment_id_oms_shipment')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oms_shipment_event')),
    sa.UniqueConstraint('shipment_id', 'dedupe_key', name='uq_oms_shipment_event_key')
    )



def downgrade():

    op.drop_table('oms_shipment_event')
    with op.batch_alter_table('oms_timeline_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_oms_timeline_event_order_id'))

    op.drop_table('oms_timeline_event')
    with op.batch_alter_table('oms_stock_move', schema=None) as batch_op:
        batch_op.drop_index('ix_oms_stock_move_product_id_id')
        batch_op.drop_index(batch_op.f('ix_oms_stock_move_order_id'))

    op.drop_table('oms_stock_move')
    with op.batch_alter_table('oms_shipment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_oms_shipment_tracking_number'))
        batch_op.drop_index(batch_op.f('ix_oms_shipment_order_id'))

    op.drop_table('oms_shipment')
    with op.batch_alter_table('oms_payment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_oms_payment_order_id'))

    op.drop_table('oms_payment')
    with op.batch_alter_table('oms_outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_oms_outbox_status_next_attempt_at')
        batch_op.drop_index(batch_op.f('ix_oms_outbox_order_id'))

    op.drop_table('oms_outbox')
    with op.batch_alter_table('oms_order_line', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_oms_order_line_product_id'))
        batch_op.drop_index(batch_op.f('ix_oms_order_line_order_id'))

    op.drop_table('oms_order_line')
    with op.batch_alter_table('oms_order', schema=None) as batch_op:
        batch_op.drop_index('ix_oms_order_status_id')
        batch_op.drop_index('ix_oms_order_customer_id_id')

    op.drop_table('oms_order')
    op.drop_table('oms_staff_user')
    op.drop_table('oms_product')
    with op.batch_alter_table('oms_customer', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_oms_customer_email'))

    op.drop_table('oms_customer')

