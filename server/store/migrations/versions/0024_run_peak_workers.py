"""runs.peak_workers: the most workers a run's cluster had up at once, from its cluster events. An
autoscale range is priced at its runs' mean workers (`server.plan.range_use`); the peak says whether a
max the plan would cut was ever needed.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07 12:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL for the runs stored before: their events were read and dropped, so their peak is unknown.
    # A plain nullable ADD COLUMN, which SQLite takes without rebuilding the table.
    op.add_column('runs', sa.Column('peak_workers', sa.Integer(), nullable=True))


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite 3.35+), not batch mode: batch rebuilds `runs` with DROP TABLE, which
    # SQLite refuses under foreign_keys=ON once any run has a cost (run_costs references it).
    op.execute('ALTER TABLE runs DROP COLUMN peak_workers')
