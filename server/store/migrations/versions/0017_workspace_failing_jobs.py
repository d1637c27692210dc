"""workspaces.failing_jobs: the jobs whose own calls fail with a 5xx while the workspace answers, each with
its tries in a row, since when and its next try (`server.collect.job_trouble`). Kept in the process
only, each such job cost every restart's first poll its short retry budget (15 s) again, its rest
started over at one poll interval.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 23:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL for every workspace: none is known to have a failing job (the next poll finds any again).
    # A plain nullable ADD COLUMN, which SQLite takes without rebuilding the table.
    op.add_column('workspaces', sa.Column('failing_jobs', sa.JSON(), nullable=True))


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite 3.35+), as 0016's: no table rebuild.
    op.execute('ALTER TABLE workspaces DROP COLUMN failing_jobs')
