"""runs.execution_only: the run's runtime is its execution alone, without the cluster's setup (a run
backfilled from its event log when the workspace no longer held it: its span starts at the Spark
application). The tuner takes no setup out of such a runtime.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 06:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # False for the collector's runs: they span the whole Databricks run, setup included. A plain
    # ADD COLUMN (SQLite takes NOT NULL with a default): batch mode rebuilt the table on SQLite,
    # and dropping the old runs table failed the foreign keys of the rows pointing at it.
    op.add_column('runs', sa.Column('execution_only', sa.Boolean(), nullable=False, server_default=sa.false()))
    # Runs backfilled from their log alone before this revision are only known by the note their
    # message carries (server.backfill.runs.SETUP_UNKNOWN_NOTE); a new backfill never remakes them
    # (their applications are tied), so without this they would keep being read as setup + execution.
    runs = sa.table('runs', sa.column('execution_only', sa.Boolean()), sa.column('message', sa.String()))
    op.execute(runs.update().where(runs.c.message.like('%runtime spans the Spark application only%'))
               .values(execution_only=True))


def downgrade() -> None:
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_column('execution_only')
