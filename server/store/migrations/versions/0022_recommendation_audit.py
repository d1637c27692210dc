"""recommendations.applied_at_ms / applied_by / reverted_at_ms / reverted_by: when a recommendation was put on
the job and taken off it again, and who did it ("auto" for auto-apply, else the admin token the call
authenticated with); and the state "reverted", apart from "rejected" (turned down before any apply).

Rows written before stay as they were: their times and callers are unknown (NULL, ""), and a recommendation
reverted before this revision stays "rejected" (nothing stored tells it from one rejected while pending).

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 09:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None

COLUMNS = ('applied_at_ms', 'applied_by', 'reverted_at_ms', 'reverted_by')


def upgrade() -> None:
    # Plain ADD COLUMNs (nullable, or with a constant default): SQLite takes them without rebuilding the table.
    op.add_column('recommendations', sa.Column('applied_at_ms', sa.BigInteger(), nullable=True))
    op.add_column('recommendations', sa.Column('applied_by', sa.String(), nullable=False, server_default=''))
    op.add_column('recommendations', sa.Column('reverted_at_ms', sa.BigInteger(), nullable=True))
    op.add_column('recommendations', sa.Column('reverted_by', sa.String(), nullable=False, server_default=''))


def downgrade() -> None:
    # An older Trimtab knows no "reverted": it called a reverted recommendation rejected.
    recs = sa.table('recommendations', sa.column('state', sa.String))
    op.get_bind().execute(recs.update().where(recs.c.state == 'reverted').values(state='rejected'))
    for column in COLUMNS:  # plain DROP COLUMN (SQLite 3.35+), as 0016's downgrade says why
        op.execute(f'ALTER TABLE recommendations DROP COLUMN {column}')
