"""workspaces.auto_import: new jobs of the workspace become projects without `workspace import`

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 07:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Not null with a false default: importing changes a job, so a workspace connected before this
    # revision keeps being imported only by hand until someone turns auto-import on.
    with op.batch_alter_table('workspaces', schema=None) as batch_op:
        batch_op.add_column(sa.Column('auto_import', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('workspaces', schema=None) as batch_op:
        batch_op.drop_column('auto_import')
