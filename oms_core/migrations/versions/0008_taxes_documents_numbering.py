"""taxes, billing address, documents and their numbering

- oms_product: a tax rate of its own (basis points) or a tax class.
- oms_order: the billing address (existing orders: a copy of the shipping address),
  whether prices included tax, the tax in the total, shipping's rate and tax.
- oms_order_line: the rate and the line's net, tax and gross. Existing lines were
  placed before taxes were modelled: untaxed, net = gross = unit price x quantity.
- oms_document_counter: the last number per series and year (gapless numbering).
- oms_document: issued documents, immutable (snapshot, PDF bytes and sha256).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 23:50:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

BILLING = (("name", 200), ("line1", 200), ("line2", 200), ("postal_code", 20), ("city", 100), ("country", 2))


def upgrade():
    with op.batch_alter_table('oms_product', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tax_rate_bp', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('tax_class', sa.String(length=32), server_default='standard',
                                      nullable=False))
        batch_op.create_check_constraint('tax_rate_in_range', 'tax_rate_bp >= 0 AND tax_rate_bp <= 10000')
    with op.batch_alter_table('oms_order', schema=None) as batch_op:
        for key, length in BILLING:
            batch_op.add_column(sa.Column(f'bill_{key}', sa.String(length=length), server_default='',
                                          nullable=False))
        batch_op.add_column(sa.Column('prices_include_tax', sa.Boolean(), server_default=sa.true(),
                                      nullable=False))
        for name in ('tax_minor', 'shipping_tax_rate_bp', 'shipping_tax_minor'):
            batch_op.add_column(sa.Column(name, sa.Integer(), server_default='0', nullable=False))
    op.execute("UPDATE oms_order SET " + ", ".join(f"bill_{key} = ship_{key}" for key, _ in BILLING))
    with op.batch_alter_table('oms_order_line', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tax_rate_bp', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('net_minor', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('tax_minor', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('gross_minor', sa.Integer(), nullable=True))
    op.execute("UPDATE oms_order_line SET net_minor = unit_price_minor * quantity, "
               "gross_minor = unit_price_minor * quantity")
    with op.batch_alter_table('oms_order_line', schema=None) as batch_op:
        batch_op.alter_column('net_minor', existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column('gross_minor', existing_type=sa.Integer(), nullable=False)

    op.create_table('oms_document_counter',
    sa.Column('series', sa.String(length=20), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('last_value', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('series', 'year', name=op.f('pk_oms_document_counter'))
    )
    op.create_table('oms_document',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('series', sa.String(length=20), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=40), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('source_kind', sa.String(length=20), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('pdf', sa.LargeBinary(), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('size', sa.Integer(), nullable=True),
    sa.Column('filename', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['oms_order.id'], name=op.f('fk_oms_document_order_id_oms_order')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oms_document')),
    sa.UniqueConstraint('kind', 'source_kind', 'source_id', name='uq_oms_document_source'),
    sa.UniqueConstraint('number', name=op.f('uq_oms_document_number')),
    sa.UniqueConstraint('series', 'year', 'sequence', name='uq_oms_document_series_year_sequence')
    )
    op.create_index('ix_oms_document_order_id_id', 'oms_document', ['order_id', 'id'], unique=False)


def downgrade():
    op.drop_index('ix_oms_document_order_id_id', table_name='oms_document')
    op.drop_table('oms_document')
    op.drop_table('oms_document_counter')
    with op.batch_alter_table('oms_order_line', schema=None) as batch_op:
        for name in ('gross_minor', 'tax_minor', 'net_minor', 'tax_rate_bp'):
            batch_op.drop_column(name)
    with op.batch_alter_table('oms_order', schema=None) as batch_op:
        for name in ('shipping_tax_minor', 'shipping_tax_rate_bp', 'tax_minor', 'prices_include_tax'):
            batch_op.drop_column(name)
        for key, _ in reversed(BILLING):
            batch_op.drop_column(f'bill_{key}')
    with op.batch_alter_table('oms_product', schema=None) as batch_op:
        batch_op.drop_constraint('tax_rate_in_range', type_='check')
        batch_op.drop_column('tax_class')
        batch_op.drop_column('tax_rate_bp')
