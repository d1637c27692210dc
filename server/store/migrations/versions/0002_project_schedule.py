"""projects.schedule: the job's Databricks schedule, read at import

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04 18:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable, no default: projects imported before this revision show no schedule until
    # the next import or collector poll reads it (savings use the observed cadence meanwhile).
    with op.batch_alter_table('projects', schema=None) as batch_op:
        batch_op.add_column(sa.Column('schedule', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('projects', schema=None) as batch_op:
        batch_op.drop_column('schedule')
