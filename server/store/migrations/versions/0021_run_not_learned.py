"""runs.not_learned: why the planner's latest decision did not learn a run (lost spot nodes, failed out
of memory, ran outside the decision space...), in the decision core's words; "" for a run it learned
from, or one no plan has looked at since this revision.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # "" for the runs stored before: unknown until the project's next plan writes every run's reason.
    # A plain ADD COLUMN with a constant default, which SQLite takes without rebuilding the table.
    op.add_column('runs', sa.Column('not_learned', sa.String(), nullable=False, server_default=''))


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite 3.35+), not batch mode: batch rebuilds `runs` with DROP TABLE, which
    # SQLite refuses under foreign_keys=ON once any run has a cost (run_costs references it).
    op.execute('ALTER TABLE runs DROP COLUMN not_learned')
