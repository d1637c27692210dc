"""runs.sla_s: the project's SLA when the run was collected, which the run is judged against. Judged
against the project's SLA now, a run that met the 10m SLA in force when it ran read as a miss once the
SLA was tightened to 7m30s (a review: "21/27 met", five of the six misses runs of the 10m SLA).

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07 21:00:00.000000
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = '0027'
down_revision = '0026'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain nullable ADD COLUMN, which SQLite takes without rebuilding the table.
    op.add_column('runs', sa.Column('sla_s', sa.Float(), nullable=True))
    # The runs stored before: the SLA in force when each ran was not kept, so they take the one their
    # project has now, as every figure judged them until now; recorded, so a later change of the SLA
    # no longer rewrites them either.
    bind = op.get_bind()
    projects = sa.table('projects', sa.column('id', sa.Integer), sa.column('settings', sa.JSON))
    runs = sa.table('runs', sa.column('project_id', sa.Integer), sa.column('sla_s', sa.Float))
    for project_id, settings in bind.execute(sa.select(projects.c.id, projects.c.settings)).all():
        if isinstance(settings, str):  # a JSON column read through a plain select on some drivers
            settings = json.loads(settings)
        sla = (settings or {}).get('sla_seconds')
        if sla is not None:
            bind.execute(runs.update().where(runs.c.project_id == project_id).values(sla_s=float(sla)))


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite 3.35+), as 0024's: no table rebuild.
    op.execute('ALTER TABLE runs DROP COLUMN sla_s')
