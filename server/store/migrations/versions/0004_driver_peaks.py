"""driver_peaks: the driver JVM's running peak metrics from its heartbeats (agent)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 22:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Applications stored before this revision have no rows: their driver evidence stays the
    # per-stage peaks, as before.
    op.create_table('driver_peaks',
    sa.Column('application_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('jvm_heap_bytes', sa.BigInteger(), nullable=False),
    sa.Column('total_gc_ms', sa.BigInteger(), nullable=False),
    sa.Column('outside_heap_bytes', sa.BigInteger(), nullable=False),
    sa.Column('metrics', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('application_id', 'jvm_heap_bytes', 'total_gc_ms', 'outside_heap_bytes'),
    sqlite_with_rowid=False
    )


def downgrade() -> None:
    op.drop_table('driver_peaks')
