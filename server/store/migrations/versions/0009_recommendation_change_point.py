"""recommendations.change_run_id/change_kind: the change point (first run of the model's segment and
its kind) a recommendation was made after, stored as data instead of read back from its reason

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 20:10:00.000000
"""

from __future__ import annotations

import re

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

# How the decision core worded a change point in a recommendation's reason up to this revision,
# with the run named by its store id ("... at run 42 of 2026-12-01 03:00 UTC: learning again"). A
# copy, not an import: a migration must keep reading what was written then, whatever the code says
# later. Rows made while the model learned again name it; later rows of the segment do not, and
# need not: the change points are read as the distinct values over a project's rows.
_CHANGE_POINT = re.compile(
    r"(?P<what>the stage structure changed \(a code change\) at|input size shifted [0-9.]+x at|runtime regression from)"
    r" run (?P<run>[0-9]+) of ")


def _kind(what: str) -> str:
    if what.startswith("the stage"):
        return "code_change"
    return "input_shift" if what.startswith("input") else "runtime_regression"


def upgrade() -> None:
    with op.batch_alter_table('recommendations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('change_run_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('change_kind', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, reason FROM recommendations WHERE reason LIKE '%learning again%'"))
    found = [(rec_id, m) for rec_id, reason in rows if (m := _CHANGE_POINT.search(reason or ""))]
    for rec_id, m in found:
        conn.execute(sa.text("UPDATE recommendations SET change_run_id = :run, change_kind = :kind WHERE id = :id"),
                     {"run": int(m.group("run")), "kind": _kind(m.group("what")), "id": rec_id})


def downgrade() -> None:
    with op.batch_alter_table('recommendations', schema=None) as batch_op:
        batch_op.drop_column('change_kind')
        batch_op.drop_column('change_run_id')
