"""agents.workspace: the workspace of the token that first reported an agent (first writer wins, as
applications.workspace); another workspace's token no longer overwrites the agent's status row.
Agents stored before keep None: which token reported them was never recorded, and None keeps them
writable as before.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 04:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('agents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('workspace', sqlmodel.sql.sqltypes.AutoString(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('agents', schema=None) as batch_op:
        batch_op.drop_column('workspace')
