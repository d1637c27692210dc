"""run_costs.window_start_ms/window_end_ms: the span a run's cost covers (its cluster's timeline,
CREATING..TERMINATING), where re-costing asks the cloud bill for

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 17:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable, no backfill: costs stored before this revision did not keep their window, and None
    # reads as "the run's own start and end" (what re-costing asked the bill for until now).
    with op.batch_alter_table('run_costs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('window_start_ms', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('window_end_ms', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('run_costs', schema=None) as batch_op:
        batch_op.drop_column('window_end_ms')
        batch_op.drop_column('window_start_ms')
