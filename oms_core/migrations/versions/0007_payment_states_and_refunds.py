"""payment states, refunds and applied gateway events

A payment gets its own state (the gateway object's), its refunded amount, the
gateway's checkout id, capture mode, a random key and an attention note; refunds
get their table; applied gateway events move to oms_payment_event, so that many
events can update one payment and each is still applied at most once. Payments
recorded before were all money taken: they become `captured`, keyed
`payment-<id>`. Orders get the refunded amount beside the paid one.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 23:50:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('oms_order', schema=None) as batch_op:
        batch_op.add_column(sa.Column('refunded_minor', sa.Integer(), nullable=False, server_default='0'))
    with op.batch_alter_table('oms_order', schema=None) as batch_op:
        batch_op.alter_column('refunded_minor', server_default=None)

    op.create_table('oms_payment_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('gateway_id', sa.String(length=64), nullable=False),
    sa.Column('event_id', sa.String(length=200), nullable=False),
    sa.Column('payment_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['payment_id'], ['oms_payment.id'], name=op.f('fk_oms_payment_event_payment_id_oms_payment')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oms_payment_event')),
    sa.UniqueConstraint('gateway_id', 'event_id', name='uq_oms_payment_event_gateway_event')
    )
    with op.batch_alter_table('oms_payment_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oms_payment_event_payment_id'), ['payment_id'], unique=False)
    op.execute("INSERT INTO oms_payment_event (gateway_id, event_id, payment_id, state, created_at) "
               "SELECT gateway_id, event_id, id, 'captured', created_at FROM oms_payment "
               "WHERE event_id IS NOT NULL")

    with op.batch_alter_table('oms_payment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('state', sa.String(length=20), nullable=False, server_default='captured'))
        batch_op.add_column(sa.Column('amount_refunded_minor', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('checkout_id', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('capture_mode', sa.String(length=10), nullable=False, server_default='now'))
        batch_op.add_column(sa.Column('key', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('redirect_url', sa.String(length=2000), nullable=True))
        batch_op.add_column(sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('attention', sa.Text(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_constraint('uq_oms_payment_gateway_event', type_='unique')
        batch_op.drop_column('event_id')
    op.execute("UPDATE oms_payment SET key = 'payment-' || id, updated_at = created_at")
    with op.batch_alter_table('oms_payment', schema=None) as batch_op:
        for name in ('state', 'amount_refunded_minor', 'capture_mode', 'attention'):
            batch_op.alter_column(name, server_default=None)
        batch_op.alter_column('key', existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column('updated_at', existing_type=sa.DateTime(timezone=True), nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_oms_payment_key'), ['key'])
        batch_op.create_index(batch_op.f('ix_oms_payment_checkout_id'), ['checkout_id'], unique=False)
        batch_op.create_index('ix_oms_payment_gateway_external', ['gateway_id', 'external_id'], unique=False)

    op.create_table('oms_refund',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('payment_id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('amount_minor', sa.Integer(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('lines', sa.JSON(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('external_id', sa.String(length=200), nullable=True),
    sa.Column('idempotency_key', sa.String(length=64), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['oms_order.id'], name=op.f('fk_oms_refund_order_id_oms_order')),
    sa.ForeignKeyConstraint(['payment_id'], ['oms_payment.id'], name=op.f('fk_oms_refund_payment_id_oms_payment')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oms_refund')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_oms_refund_idempotency_key'))
    )
    with op.batch_alter_table('oms_refund', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oms_refund_external_id'), ['external_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_oms_refund_order_id'), ['order_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_oms_refund_payment_id'), ['payment_id'], unique=False)


def downgrade():
    with op.batch_alter_table('oms_refund', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_oms_refund_payment_id'))
        batch_op.drop_index(batch_op.f('ix_oms_refund_order_id'))
        batch_op.drop_index(batch_op.f('ix_oms_refund_external_id'))
    op.drop_table('oms_refund')

    with op.batch_alter_table('oms_payment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('event_id', sa.String(length=200), nullable=True))
    op.execute("UPDATE oms_payment SET event_id = (SELECT min(e.event_id) FROM oms_payment_event e "
               "WHERE e.payment_id = oms_payment.id)")
    with op.batch_alter_table('oms_payment', schema=None) as batch_op:
        batch_op.drop_index('ix_oms_payment_gateway_external')
        batch_op.drop_index(batch_op.f('ix_oms_payment_checkout_id'))
        batch_op.drop_constraint(batch_op.f('uq_oms_payment_key'), type_='unique')
        for name in ('updated_at', 'attention', 'expires_at', 'redirect_url', 'key', 'capture_mode',
                     'checkout_id', 'amount_refunded_minor', 'state'):
            batch_op.drop_column(name)
        batch_op.create_unique_constraint('uq_oms_payment_gateway_event', ['gateway_id', 'event_id'])

    with op.batch_alter_table('oms_payment_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_oms_payment_event_payment_id'))
    op.drop_table('oms_payment_event')

    with op.batch_alter_table('oms_order', schema=None) as batch_op:
        batch_op.drop_column('refunded_minor')
