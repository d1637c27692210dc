"""applications.detail_pruned_at_ms: when `trimtab db prune` deleted the application's per-executor
detail (executors, stage x executor peaks, gauges, driver peaks, Spark jobs, SQL executions), so that
`run show` says the detail was pruned rather than showing a run without executors as if it had none.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-07 23:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0029'
down_revision = '0028'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain nullable ADD COLUMN, which SQLite takes without rebuilding the table: every row stored
    # before was never pruned (NULL).
    op.add_column('applications', sa.Column('detail_pruned_at_ms', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite 3.35+), as 0027's: no table rebuild.
    op.execute('ALTER TABLE applications DROP COLUMN detail_pruned_at_ms')
