"""runs.message: why a failed or canceled run ended so, in Databricks' words (its state message)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 08:15:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Not null with an empty default: runs stored before this revision did not keep the message,
    # and "" reads as "no message" everywhere, so old rows need no backfill.
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('message', sqlmodel.sql.sqltypes.AutoString(), nullable=False,
                                      server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_column('message')
