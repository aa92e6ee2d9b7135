"""assembly and installation: products that offer or require it, service lines, jobs

- oms_product: assembly (none | offered | required) and its price per unit.
- oms_order_line: service ("" for goods, "assembly" for a service line).
- oms_assembly_job: one per order with assembly (services/assembly.py).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 03:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('oms_product', schema=None) as batch_op:
        batch_op.add_column(sa.Column('assembly', sa.String(length=10), server_default='none', nullable=False))
        batch_op.add_column(sa.Column('assembly_price_minor', sa.Integer(), server_default='0', nullable=False))
        batch_op.create_check_constraint('assembly_choice', "assembly IN ('none', 'offered', 'required')")
        batch_op.create_check_constraint('assembly_price_not_negative', 'assembly_price_minor >= 0')
    with op.batch_alter_table('oms_order_line', schema=None) as batch_op:
        batch_op.add_column(sa.Column('service', sa.String(length=20), server_default='', nullable=False))
    op.create_table(
        'oms_assembly_job',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('order_id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=32), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('notes', sa.Text(), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('line1', sa.String(length=200), nullable=False),
        sa.Column('line2', sa.String(length=200), nullable=False),
        sa.Column('postal_code', sa.String(length=20), nullable=False),
        sa.Column('city', sa.String(length=100), nullable=False),
        sa.Column('country', sa.String(length=2), nullable=False),
        sa.Column('preferred_slots', sa.JSON(), nullable=False),
        sa.Column('customer_note', sa.Text(), nullable=False),
        sa.Column('move_requested', sa.Boolean(), nullable=False),
        sa.Column('scheduled_date', sa.Date(), nullable=True),
        sa.Column('window_start', sa.Time(), nullable=True),
        sa.Column('window_end', sa.Time(), nullable=True),
        sa.Column('assignee_id', sa.Integer(), nullable=True),
        sa.Column('sequence', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint('sequence >= 0', name=op.f('ck_oms_assembly_job_assembly_sequence_not_negative')),
        sa.ForeignKeyConstraint(['order_id'], ['oms_order.id'], name=op.f('fk_oms_assembly_job_order_id_oms_order')),
        sa.ForeignKeyConstraint(['assignee_id'], ['oms_staff_user.id'], name=op.f('fk_oms_assembly_job_assignee_id_oms_staff_user')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_oms_assembly_job')),
        sa.UniqueConstraint('order_id', name=op.f('uq_oms_assembly_job_order_id')),
        sa.UniqueConstraint('key', name=op.f('uq_oms_assembly_job_key')),
    )
    with op.batch_alter_table('oms_assembly_job', schema=None) as batch_op:
        batch_op.create_index('ix_oms_assembly_job_status_id', ['status', 'id'], unique=False)
        batch_op.create_index('ix_oms_assembly_job_scheduled_date', ['scheduled_date'], unique=False)


def downgrade():
    op.drop_table('oms_assembly_job')
    with op.batch_alter_table('oms_order_line', schema=None) as batch_op:
        batch_op.drop_column('service')
    with op.batch_alter_table('oms_product', schema=None) as batch_op:
        batch_op.drop_constraint('assembly_price_not_negative', type_='check')
        batch_op.drop_constraint('assembly_choice', type_='check')
        batch_op.drop_column('assembly_price_minor')
        batch_op.drop_column('assembly')
