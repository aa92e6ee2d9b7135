"""staff invitations and password resets, the staff audit trail, imported orders

- oms_staff_token: single-use invitation and password-reset links (services/staff.py).
- oms_staff_audit: who invited, changed, disabled or reset whom.
- oms_order.external_id: an imported order's id in its channel, unique per channel,
  so importing the same file twice creates nothing new (services/csv_import.py).

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 03:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'oms_staff_token',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('purpose', sa.String(length=10), nullable=False),
        sa.Column('email', sa.String(length=254), nullable=False),
        sa.Column('role', sa.String(length=20), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('key', sa.String(length=40), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_by', sa.String(length=200), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['oms_staff_user.id'],
                                name=op.f('fk_oms_staff_token_user_id_oms_staff_user')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_oms_staff_token')),
        sa.UniqueConstraint('key', name=op.f('uq_oms_staff_token_key')),
    )
    with op.batch_alter_table('oms_staff_token', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oms_staff_token_email'), ['email'], unique=False)
        batch_op.create_index(batch_op.f('ix_oms_staff_token_user_id'), ['user_id'], unique=False)
    op.create_table(
        'oms_staff_audit',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('actor', sa.String(length=200), nullable=False),
        sa.Column('action', sa.String(length=40), nullable=False),
        sa.Column('subject', sa.String(length=254), nullable=False),
        sa.Column('detail', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_oms_staff_audit')),
    )
    with op.batch_alter_table('oms_staff_audit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oms_staff_audit_subject'), ['subject'], unique=False)
    with op.batch_alter_table('oms_order', schema=None) as batch_op:
        batch_op.add_column(sa.Column('external_id', sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint('uq_oms_order_channel_external_id', ['channel', 'external_id'])


def downgrade():
    with op.batch_alter_table('oms_order', schema=None) as batch_op:
        batch_op.drop_constraint('uq_oms_order_channel_external_id', type_='unique')
        batch_op.drop_column('external_id')
    op.drop_table('oms_staff_audit')
    op.drop_table('oms_staff_token')
