"""Revoke the live agent tokens bound to a workspace no longer stored. `workspace remove` revokes a
workspace's agent tokens since this revision; before, they stayed live (`token list` showed them
active), kept sending data, and a workspace added again under the name took them over. Tokens bound to
a name no workspace has (exactly: tokens are bound by the name as stored) can only have been left by
such a removal, since a token is bound only to a workspace that exists. Data only; the downgrade
leaves them revoked (an older Trimtab reads a revoked token as any other).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 06:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    tokens = sa.table('api_tokens', sa.column('workspace', sa.String), sa.column('revoked', sa.Boolean))
    workspaces = sa.table('workspaces', sa.column('name', sa.String))
    op.get_bind().execute(tokens.update().where(
        tokens.c.workspace.is_not(None), sa.not_(tokens.c.revoked),
        tokens.c.workspace.not_in(sa.select(workspaces.c.name))).values(revoked=True))


def downgrade() -> None:
    pass  # revoked tokens stay revoked: nothing tells which this revision revoked
