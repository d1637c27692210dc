"""stages.input_from_cache: the stage read its input from a cached RDD (agent, from the RDD Info)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 19:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Not null with a false default: stages stored before this revision (and stages from agents
    # that do not send the flag) are taken as storage reads, as the planner always took them.
    with op.batch_alter_table('stages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('input_from_cache', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('stages', schema=None) as batch_op:
        batch_op.drop_column('input_from_cache')
