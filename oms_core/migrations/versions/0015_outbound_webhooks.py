"""outbound webhooks: endpoints, deliveries, attempts

- oms_webhook_endpoint: the shop's receivers (URL, events, signing secret, active).
- oms_webhook_delivery: one event for one endpoint, its body as sent and its status.
- oms_webhook_attempt: one row per try (status code, response excerpt, duration).

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 03:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'oms_webhook_endpoint',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('url', sa.String(length=500), nullable=False),
        sa.Column('description', sa.String(length=200), nullable=False),
        sa.Column('events', sa.JSON(), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('secret', sa.String(length=100), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_table(
        'oms_webhook_delivery',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('endpoint_id', sa.Integer(), nullable=False),
        sa.Column('event_id', sa.String(length=64), nullable=False),
        sa.Column('event_type', sa.String(length=40), nullable=False),
        sa.Column('order_id', sa.Integer(), nullable=True),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('resends', sa.Integer(), nullable=False),
        sa.Column('outbox_key', sa.String(length=200), nullable=False),
        sa.Column('last_status_code', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['endpoint_id'], ['oms_webhook_endpoint.id']),
        sa.ForeignKeyConstraint(['order_id'], ['oms_order.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('endpoint_id', 'event_id', name='uq_oms_webhook_delivery_event'),
    )
    with op.batch_alter_table('oms_webhook_delivery', schema=None) as batch_op:
        batch_op.create_index('ix_oms_webhook_delivery_endpoint_id_id', ['endpoint_id', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_oms_webhook_delivery_order_id'), ['order_id'], unique=False)
    op.create_table(
        'oms_webhook_attempt',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('delivery_id', sa.Integer(), nullable=False),
        sa.Column('attempted_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('status_code', sa.Integer(), nullable=True),
        sa.Column('duration_ms', sa.Integer(), nullable=False),
        sa.Column('response_excerpt', sa.Text(), nullable=False),
        sa.Column('error', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['delivery_id'], ['oms_webhook_delivery.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('oms_webhook_attempt', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oms_webhook_attempt_delivery_id'), ['delivery_id'], unique=False)


def downgrade():
    op.drop_table('oms_webhook_attempt')
    op.drop_table('oms_webhook_delivery')
    op.drop_table('oms_webhook_endpoint')
