"""Rows an older server wrote after the schema moved past it, put right at a newer server's start.

docs/operations.md lets `trimtab db upgrade` run while the old servers still serve (a deploy job
migrates, then the servers roll). An old server keeps writing its rows the old way until it is
replaced. For migration 0009 that matters: the old code states a recommendation's change point in
its reason only, so every recommendation written in the rollout window kept ``change_run_id``
NULL, and since 0009 nothing reads reasons any more: the timeline lost its rebase marker and
savings compared across a workload change. Each start reads such rows as 0009 read the rows present
when it ran (the same expression, imported from the migration, which holds the old wording).
"""

from __future__ import annotations

import importlib

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from server.store import engine as db

# Module names of migrations start with a digit: importlib reaches them, `import` cannot.
_M0009 = importlib.import_module("server.store.migrations.versions.0009_recommendation_change_point")


def fill_change_points(engine: Engine) -> int:
    """Store the change point of recommendations whose reason states one but whose columns do not
    (written by a server older than 0009 after the upgrade); how many were filled."""
    with db.read(engine) as conn:
        # change_kind set without a run: withdrawn by the planner (a one-off night), not an old
        # server's row.
        rows = conn.execute(sa.text("SELECT id, reason FROM recommendations WHERE change_run_id IS NULL "
                                    "AND change_kind IS NULL AND reason LIKE '%learning again%'")).all()
    found = [(rec_id, m) for rec_id, reason in rows if (m := _M0009._CHANGE_POINT.search(reason or ""))]
    if not found:
        return 0
    with db.write(engine) as conn:
        for rec_id, m in found:
            # Guarded: a newer server may have written the columns since they were read.
            conn.execute(sa.text("UPDATE recommendations SET change_run_id = :run, change_kind = :kind "
                                 "WHERE id = :id AND change_run_id IS NULL AND change_kind IS NULL"),
                         {"run": int(m.group("run")), "kind": _M0009._kind(m.group("what")), "id": rec_id})
    return len(found)
