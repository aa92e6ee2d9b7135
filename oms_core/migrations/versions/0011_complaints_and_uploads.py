"""complaints, their threads, and uploaded images

- oms_upload: an image as re-encoded by services.uploads (bytes, content type,
  sha256, size, dimensions), named by a random 128-bit token, owned by an order.
- oms_complaint: a complaint on an order (subject, category, status, assignee,
  last activity, waiting since).
- oms_complaint_message: its thread (customer, staff, internal note).
- oms_complaint_attachment: the uploads a message carries.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 03:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'oms_upload',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('token', sa.String(length=32), nullable=False),
        sa.Column('order_id', sa.Integer(), nullable=False),
        sa.Column('content_type', sa.String(length=40), nullable=False),
        sa.Column('filename', sa.String(length=100), nullable=False),
        sa.Column('size_bytes', sa.Integer(), nullable=False),
        sa.Column('width', sa.Integer(), nullable=False),
        sa.Column('height', sa.Integer(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('data', sa.LargeBinary(), nullable=False),
        sa.Column('actor', sa.String(length=200), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint('size_bytes > 0', name='upload_size_positive'),
        sa.ForeignKeyConstraint(['order_id'], ['oms_order.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('token'),
    )
    with op.batch_alter_table('oms_upload', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oms_upload_order_id'), ['order_id'], unique=False)
    op.create_table(
        'oms_complaint',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('order_id', sa.Integer(), nullable=False),
        sa.Column('subject', sa.String(length=200), nullable=False),
        sa.Column('category', sa.String(length=64), nullable=False),
        sa.Column('status', sa.String(length=32), nullable=False),
        sa.Column('assignee_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_activity_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('waiting_since', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['assignee_id'], ['oms_staff_user.id']),
        sa.ForeignKeyConstraint(['order_id'], ['oms_order.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('oms_complaint', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oms_complaint_order_id'), ['order_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_oms_complaint_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_oms_complaint_assignee_id'), ['assignee_id'], unique=False)
    op.create_table(
        'oms_complaint_message',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('complaint_id', sa.Integer(), nullable=False),
        sa.Column('author_kind', sa.String(length=16), nullable=False),
        sa.Column('staff_user_id', sa.Integer(), nullable=True),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['complaint_id'], ['oms_complaint.id']),
        sa.ForeignKeyConstraint(['staff_user_id'], ['oms_staff_user.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('oms_complaint_message', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oms_complaint_message_complaint_id'), ['complaint_id'],
                              unique=False)
    op.create_table(
        'oms_complaint_attachment',
        sa.Column('message_id', sa.Integer(), nullable=False),
        sa.Column('upload_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['message_id'], ['oms_complaint_message.id']),
        sa.ForeignKeyConstraint(['upload_id'], ['oms_upload.id']),
        sa.PrimaryKeyConstraint('message_id', 'upload_id'),
        sa.UniqueConstraint('upload_id'),
    )


def downgrade():
    op.drop_table('oms_complaint_attachment')
    op.drop_table('oms_complaint_message')
    op.drop_table('oms_complaint')
    op.drop_table('oms_upload')
