"""recommendations.working_sla_s: the working SLA a plan aimed at while the owner's SLA was out of
reach. It was said only inside the reason, so `project show` and the timeline showed the owner's SLA
alone beside a recommendation planned against another.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07 15:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL for the recommendations stored before: which SLA they aimed at is in their reason only.
    # A plain nullable ADD COLUMN, which SQLite takes without rebuilding the table.
    op.add_column('recommendations', sa.Column('working_sla_s', sa.Float(), nullable=True))


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite 3.35+), not batch mode, as 0022's and 0024's downgrades.
    op.execute('ALTER TABLE recommendations DROP COLUMN working_sla_s')
