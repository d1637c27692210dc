"""api_tokens.workspace: the workspace an agent token sends data for; applications.workspace: the
workspace of the token that first sent an application (the collector ties it only to that
workspace's runs). Agent tokens import made (named ``agent-<workspace>``) are bound to their
workspace when it exists; every other token, and every application stored before, keeps None (any).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 21:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

# How import named a workspace's agent token up to this revision (`agent_install.agent_token_name`).
# A copy, not an import: a migration must keep reading what was written then.
_AGENT_TOKEN_PREFIX = "agent-"


def upgrade() -> None:
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('workspace', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    # No backfill for applications: which token sent one was never recorded, and None keeps them
    # tied as they were (by cluster id alone).
    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('workspace', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    conn = op.get_bind()
    names = {name for (name,) in conn.execute(sa.text("SELECT name FROM workspaces"))}
    tokens = conn.execute(sa.text("SELECT token_id, name FROM api_tokens WHERE scope = 'agent'")).all()
    bound = [(token_id, name.removeprefix(_AGENT_TOKEN_PREFIX)) for token_id, name in tokens
             if name.startswith(_AGENT_TOKEN_PREFIX) and name.removeprefix(_AGENT_TOKEN_PREFIX) in names]
    for token_id, workspace in bound:
        conn.execute(sa.text("UPDATE api_tokens SET workspace = :ws WHERE token_id = :id"),
                     {"ws": workspace, "id": token_id})


def downgrade() -> None:
    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.drop_column('workspace')
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_column('workspace')
