"""runs.nodes_lost, runs.nodes_replaced: the nodes a run's cluster lost (its NODES_LOST events) and of
those the ones replaced before the end. The ``spot_loss`` anomaly alone counted a run that lost 5 of
its 8 spot workers as one loss in the job's loss rate (`server.plan.spot_risk.spot_losses`), and
`run show` could not say what the loss did.

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-07 23:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0030'
down_revision = '0029'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL for the runs stored before: their events were read and dropped, so how many nodes they lost
    # is unknown (a spot_loss run keeps counting as one loss), not 0. Plain nullable ADD COLUMNs, which
    # SQLite takes without rebuilding the table.
    op.add_column('runs', sa.Column('nodes_lost', sa.Integer(), nullable=True))
    op.add_column('runs', sa.Column('nodes_replaced', sa.Integer(), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMNs (SQLite 3.35+), as 0024's: no table rebuild, which SQLite refuses under
    # foreign_keys=ON once any run has a cost (run_costs references it).
    op.execute('ALTER TABLE runs DROP COLUMN nodes_replaced')
    op.execute('ALTER TABLE runs DROP COLUMN nodes_lost')
