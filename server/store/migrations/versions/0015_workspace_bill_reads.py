"""workspaces.bills_read_at_ms, bill_read_failed_at_ms, bill_read_error: the outcome of the last bill
reads with the workspace's cloud credentials, so `workspace show` says whether they work, not only
that they are set.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 17:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A workspace from before this revision has read nothing yet, as far as the store knows: NULL times
    # and no error; the next re-costing pass fills them in. Plain ADD COLUMNs (nullable, or NOT NULL
    # with a default), which SQLite takes without rebuilding the table.
    op.add_column('workspaces', sa.Column('bills_read_at_ms', sa.BigInteger(), nullable=True))
    op.add_column('workspaces', sa.Column('bill_read_failed_at_ms', sa.BigInteger(), nullable=True))
    op.add_column('workspaces', sa.Column('bill_read_error', sqlmodel.sql.sqltypes.AutoString(), nullable=False, server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('workspaces', schema=None) as batch_op:
        batch_op.drop_column('bill_read_error')
        batch_op.drop_column('bill_read_failed_at_ms')
        batch_op.drop_column('bills_read_at_ms')
