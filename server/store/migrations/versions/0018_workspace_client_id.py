"""workspaces.client_id: the OAuth client id of the service principal a workspace authenticates as
(OAuth machine-to-machine). Its client secret is kept where a personal access token is, encrypted in
token_encrypted (masked in token_masked); "" (every workspace added before): the token is a PAT.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 03:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Not null with an empty default: every workspace connected before this revision has a PAT.
    # A plain ADD COLUMN with a constant default, which SQLite takes without rebuilding the table.
    op.add_column('workspaces', sa.Column('client_id', sa.String(), nullable=False, server_default=''))


def downgrade() -> None:
    # A workspace that authenticates as a service principal cannot be one an older Trimtab reads: its
    # token_encrypted holds an OAuth client secret, which it would send as a PAT and be refused. Refuse
    # rather than silently turn it into a workspace whose every call fails.
    count = op.get_bind().execute(sa.text("SELECT COUNT(*) FROM workspaces WHERE client_id <> ''")).scalar()
    if count:
        raise RuntimeError(f"{count} workspace(s) authenticate as a service principal (OAuth M2M), which Trimtab "
                           "before revision 0018 cannot do: remove them, or re-add them with a personal access "
                           "token (`trimtab workspace add NAME ... --token-env VAR --replace`), then downgrade")
    # A plain DROP COLUMN (SQLite 3.35+), as 0017's: no table rebuild.
    op.execute('ALTER TABLE workspaces DROP COLUMN client_id')
