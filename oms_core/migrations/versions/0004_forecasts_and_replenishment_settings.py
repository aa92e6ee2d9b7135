"""forecasts and replenishment settings

Stored forecast runs with one row per product, and per-product lead time and
service level (NULL: the shop's defaults). Adding the CHECKs rebuilds the SQLite
product table; migrations run with foreign keys off for that.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 09:01:40.435361
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('oms_forecast_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('forecaster_id', sa.String(length=64), nullable=False),
    sa.Column('chosen_by', sa.String(length=200), nullable=False),
    sa.Column('frequency', sa.String(length=10), nullable=False),
    sa.Column('season_length', sa.Integer(), nullable=False),
    sa.Column('horizon', sa.Integer(), nullable=False),
    sa.Column('level', sa.Float(), nullable=False),
    sa.Column('first_period', sa.Date(), nullable=False),
    sa.Column('series_count', sa.Integer(), nullable=False),
    sa.Column('seconds', sa.Float(), nullable=False),
    sa.Column('summary', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oms_forecast_run'))
    )
    with op.batch_alter_table('oms_forecast_run', schema=None) as batch_op:
        batch_op.create_index('ix_oms_forecast_run_kind_id', ['kind', 'id'], unique=False)

    op.create_table('oms_forecast_series',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('method', sa.String(length=64), nullable=False),
    sa.Column('history_periods', sa.Integer(), nullable=False),
    sa.Column('point', sa.JSON(), nullable=False),
    sa.Column('lower', sa.JSON(), nullable=False),
    sa.Column('upper', sa.JSON(), nullable=False),
    sa.Column('scores', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['product_id'], ['oms_product.id'], name=op.f('fk_oms_forecast_series_product_id_oms_product')),
    sa.ForeignKeyConstraint(['run_id'], ['oms_forecast_run.id'], name=op.f('fk_oms_forecast_series_run_id_oms_forecast_run'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oms_forecast_series')),
    sa.UniqueConstraint('run_id', 'product_id', name='uq_oms_forecast_series_run_product')
    )
    with op.batch_alter_table('oms_forecast_series', schema=None) as batch_op:
        batch_op.create_index('ix_oms_forecast_series_product_id_run_id', ['product_id', 'run_id'], unique=False)

    with op.batch_alter_table('oms_product', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lead_time_days', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('service_level', sa.Float(), nullable=True))
        batch_op.create_check_constraint('lead_time_not_negative', 'lead_time_days >= 0')
        batch_op.create_check_constraint('service_level_a_probability',
                                         'service_level > 0 AND service_level < 1')



def downgrade():
    with op.batch_alter_table('oms_product', schema=None) as batch_op:
        batch_op.drop_constraint('service_level_a_probability', type_='check')
        batch_op.drop_constraint('lead_time_not_negative', type_='check')
        batch_op.drop_column('service_level')
        batch_op.drop_column('lead_time_days')

    with op.batch_alter_table('oms_forecast_series', schema=None) as batch_op:
        batch_op.drop_index('ix_oms_forecast_series_product_id_run_id')

    op.drop_table('oms_forecast_series')
    with op.batch_alter_table('oms_forecast_run', schema=None) as batch_op:
        batch_op.drop_index('ix_oms_forecast_run_kind_id')

    op.drop_table('oms_forecast_run')
