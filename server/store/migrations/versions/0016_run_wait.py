"""runs.wait_s: the part of a run's runtime its cluster sat idle between its own tasks, waiting for other
clusters' tasks (a job a1 -> b -> a2 whose a1 and a2 share a job cluster): paid for, bounded by the SLA,
but not learned as the configuration's execution.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 21:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL for the runs stored before: not measured (the tuner reads them as it did, wait and all).
    # A plain nullable ADD COLUMN, which SQLite takes without rebuilding the table.
    op.add_column('runs', sa.Column('wait_s', sa.Float(), nullable=True))


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite 3.35+), not batch mode: batch rebuilds `runs` with DROP TABLE, which
    # SQLite refuses under foreign_keys=ON once any run has a cost (run_costs references it).
    op.execute('ALTER TABLE runs DROP COLUMN wait_s')
