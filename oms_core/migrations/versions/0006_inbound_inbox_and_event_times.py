"""inbound inbox, carrier event ids and times, random booking keys

Every webhook delivery is stored raw (oms_inbound_event) with the events of it that
match nothing yet (oms_inbound_unmatched). Shipment events keep the carrier's event
id; timeline events the time they happened; shipments a random booking key. The
shipments booked before keep their old key `shipment-<id>`: it is the key of their
outbox message and of what the carrier already saw.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 10:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('oms_inbound_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('plugin_id', sa.String(length=64), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('body', sa.LargeBinary(), nullable=False),
    sa.Column('headers', sa.JSON(), nullable=False),
    sa.Column('verification', sa.String(length=16), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('events_received', sa.Integer(), nullable=False),
    sa.Column('events_applied', sa.Integer(), nullable=False),
    sa.Column('events_duplicate', sa.Integer(), nullable=False),
    sa.Column('events_unmatched', sa.Integer(), nullable=False),
    sa.Column('events_flagged', sa.Integer(), nullable=False),
    sa.Column('settled_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oms_inbound_event'))
    )
    with op.batch_alter_table('oms_inbound_event', schema=None) as batch_op:
        batch_op.create_index('ix_oms_inbound_event_outcome_id', ['outcome', 'id'], unique=False)

    op.create_table('oms_inbound_unmatched',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('inbound_id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('plugin_id', sa.String(length=64), nullable=False),
    sa.Column('match_key', sa.String(length=200), nullable=False),
    sa.Column('dedupe_key', sa.String(length=64), nullable=False),
    sa.Column('event', sa.JSON(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['inbound_id'], ['oms_inbound_event.id'], name=op.f('fk_oms_inbound_unmatched_inbound_id_oms_inbound_event'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oms_inbound_unmatched')),
    sa.UniqueConstraint('source', 'plugin_id', 'match_key', 'dedupe_key', name='uq_oms_inbound_unmatched_key')
    )
    with op.batch_alter_table('oms_inbound_unmatched', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oms_inbound_unmatched_inbound_id'), ['inbound_id'], unique=False)

    with op.batch_alter_table('oms_shipment_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('event_id', sa.String(length=200), nullable=True))

    with op.batch_alter_table('oms_timeline_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table('oms_shipment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('booking_key', sa.String(length=64), nullable=True))
    op.execute("UPDATE oms_shipment SET booking_key = 'shipment-' || id")
    with op.batch_alter_table('oms_shipment', schema=None) as batch_op:
        batch_op.alter_column('booking_key', existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_oms_shipment_booking_key'), ['booking_key'])


def downgrade():
    with op.batch_alter_table('oms_shipment', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_oms_shipment_booking_key'), type_='unique')
        batch_op.drop_column('booking_key')

    with op.batch_alter_table('oms_timeline_event', schema=None) as batch_op:
        batch_op.drop_column('occurred_at')

    with op.batch_alter_table('oms_shipment_event', schema=None) as batch_op:
        batch_op.drop_column('event_id')

    with op.batch_alter_table('oms_inbound_unmatched', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_oms_inbound_unmatched_inbound_id'))

    op.drop_table('oms_inbound_unmatched')
    with op.batch_alter_table('oms_inbound_event', schema=None) as batch_op:
        batch_op.drop_index('ix_oms_inbound_event_outcome_id')

    op.drop_table('oms_inbound_event')
