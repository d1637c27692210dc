"""workspaces.polled_ok_at_ms: when a collector poll of the workspace last worked. Kept in the process
only, a restart made `trimtab_workspace_seconds_since_last_successful_poll` count from the start again,
hiding that the polls had been failing for hours before it.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07 17:00:00.000000
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain nullable ADD COLUMN, which SQLite takes without rebuilding the table.
    op.add_column('workspaces', sa.Column('polled_ok_at_ms', sa.BigInteger(), nullable=True))
    # The workspaces stored before: their last good poll is not known, so they count from the upgrade,
    # as the server counted from its start before. NULL is then left to mean "never since it was
    # added", which counts from the adding: a workspace that never polled counted from each restart.
    workspaces = sa.table('workspaces', sa.column('polled_ok_at_ms', sa.BigInteger))
    op.get_bind().execute(workspaces.update().values(polled_ok_at_ms=int(time.time() * 1000)))


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite 3.35+), as 0017's: no table rebuild.
    op.execute('ALTER TABLE workspaces DROP COLUMN polled_ok_at_ms')
