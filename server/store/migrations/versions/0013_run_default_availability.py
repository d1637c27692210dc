"""runs.config: a run whose cluster spec left the availability unset records the availability Databricks
ran it with on its workspace's cloud (SPOT_WITH_FALLBACK on AWS, first_on_demand 1; ON_DEMAND on Azure),
as the collector records it since (`server.spec.default_availability`). Before, such runs recorded ""
(read as on demand): the planner took an AWS job's spot runs for runs of its on-demand twin, and the
savings baseline was judged against the wrong cluster.

Only the configuration's named ``availability``/``first_on_demand`` are written: its ``spec`` stays as
the run had it (unset is still visible there), so nothing is lost and the downgrade puts back "".
Runs on an instance pool (the pool decides), of a workspace no longer known (no cloud to read it on),
or on another cloud keep "".

Their stored costs are not re-priced here (a migration has no price catalog and the store keeps no
node-hours): a run now read as spot gets the note `PRICED_ON_DEMAND` on its cost, which says its
workers were priced on demand, and by which the collector prices it again from its cluster's events
while Databricks keeps them (`server.collect.collector.Collector._reprice_on_demand`). The figures stay
until then, and for good once the events are gone: nothing is lost.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 15:00:00.000000
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

# As server.spec has them at this revision, in Trimtab's names (a migration must not move with the code).
DEFAULT_AVAILABILITY = {"aws": "SPOT_WITH_FALLBACK", "azure": "ON_DEMAND"}
POOL_FIELDS = ("instance_pool_id", "driver_instance_pool_id")
# server.collect.collector.PRICED_ON_DEMAND_NOTE at this revision.
PRICED_ON_DEMAND = ("workers priced on demand: stored before Trimtab read an availability the spec leaves unset "
                    "as Databricks' default (SPOT_WITH_FALLBACK on AWS)")


def _config(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    data = json.loads(value) if isinstance(value, str) else value
    return data if isinstance(data, dict) else None


def _unset_attributes(config: dict[str, Any]) -> dict[str, Any] | None:
    """The cloud attributes of the config's spec when they leave the availability unset off a pool;
    None otherwise (the spec names one, or a pool decides)."""
    spec = config.get("spec") or {}
    if not isinstance(spec, dict) or any(spec.get(f) for f in POOL_FIELDS):
        return None
    attrs = spec.get("aws_attributes") or spec.get("azure_attributes") or {}
    return None if not isinstance(attrs, dict) or attrs.get("availability") else attrs


def _filled(config: dict[str, Any], cloud: str) -> dict[str, Any] | None:
    """``config`` with its cloud's default availability, or None when it needs none."""
    default = DEFAULT_AVAILABILITY.get(cloud)
    attrs = _unset_attributes(config)
    if not default or config.get("availability") or attrs is None:
        return None
    out = {**config, "availability": default}
    if attrs.get("first_on_demand") in (None, ""):
        out["first_on_demand"] = 1  # Databricks' default, as `config_from_spec` reads it with an availability
    return out


# Runs read at a time: a fleet's year (100k+ runs, each config holding its whole spec) is not read
# into memory at once.
BATCH = 1000


def _by_id(conn: sa.Connection, query: sa.Select, id_column: sa.ColumnElement) -> Iterator[sa.Row]:
    """The rows of ``query``, ``BATCH`` at a time in ``id_column`` order (keyset: each batch after the
    last id seen, so the updates made between batches do not move it)."""
    last = None
    while True:
        page = query if last is None else query.where(id_column > last)
        rows = conn.execute(page.order_by(id_column).limit(BATCH)).all()
        yield from rows
        if len(rows) < BATCH:
            return
        last = rows[-1][0]


def upgrade() -> None:
    conn = op.get_bind()
    runs = sa.table('runs', sa.column('id', sa.Integer()), sa.column('project_id', sa.Integer()),
                    sa.column('config', sa.JSON()))
    projects = sa.table('projects', sa.column('id', sa.Integer()), sa.column('workspace', sa.String()))
    workspaces = sa.table('workspaces', sa.column('name', sa.String()), sa.column('cloud', sa.String()))
    query = (sa.select(runs.c.id, runs.c.config, workspaces.c.cloud)
             .join(projects, projects.c.id == runs.c.project_id)
             .join(workspaces, workspaces.c.name == projects.c.workspace)
             .where(runs.c.config.is_not(None)))
    costs = sa.table('run_costs', sa.column('run_id', sa.Integer()), sa.column('note', sa.String()))
    for run_id, value, cloud in _by_id(conn, query, runs.c.id):
        config = _config(value)
        filled = _filled(config, str(cloud or "")) if config is not None else None
        if filled is None:
            continue
        conn.execute(runs.update().where(runs.c.id == run_id).values(config=filled))
        if str(filled["availability"]).startswith("SPOT"):
            note = conn.execute(sa.select(costs.c.note).where(costs.c.run_id == run_id)).scalar_one_or_none()
            if note is not None and PRICED_ON_DEMAND not in note:
                conn.execute(costs.update().where(costs.c.run_id == run_id)
                             .values(note=f"{note}; {PRICED_ON_DEMAND}" if note else PRICED_ON_DEMAND))


def downgrade() -> None:
    conn = op.get_bind()
    runs = sa.table('runs', sa.column('id', sa.Integer()), sa.column('config', sa.JSON()))
    costs = sa.table('run_costs', sa.column('run_id', sa.Integer()), sa.column('note', sa.String()))
    for run_id, note in conn.execute(sa.select(costs.c.run_id, costs.c.note)
                                     .where(costs.c.note.contains(PRICED_ON_DEMAND, autoescape=True))).all():
        kept = "; ".join(part for part in str(note).split("; ") if part != PRICED_ON_DEMAND)
        conn.execute(costs.update().where(costs.c.run_id == run_id).values(note=kept))
    # Back to what the code before this revision recorded for a spec that leaves the availability
    # unset: "" (and first_on_demand 0 when that is unset too), whoever wrote the default.
    for run_id, value in _by_id(conn, sa.select(runs.c.id, runs.c.config).where(runs.c.config.is_not(None)), runs.c.id):
        config = _config(value)
        attrs = _unset_attributes(config) if config is not None else None
        if config is None or attrs is None or config.get("availability") not in DEFAULT_AVAILABILITY.values():
            continue
        back = {**config, "availability": ""}
        if attrs.get("first_on_demand") in (None, ""):
            back["first_on_demand"] = 0
        conn.execute(runs.update().where(runs.c.id == run_id).values(config=back))
