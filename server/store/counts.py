"""What the metrics endpoint reads of the store at each scrape (`server.metrics`), in one read
transaction of grouped counts: never a query per project, which a workspace of 1,500 jobs would
make a scrape's cost."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from server.domain import PROBLEM_KEY, PlanProblem
from server.store import engine as db
from server.store.store import Store
from server.store.tables import ProjectRow, RecommendationRow, RunRow, WorkspaceRow

W = WorkspaceRow.__table__  # type: ignore[attr-defined]
P = ProjectRow.__table__  # type: ignore[attr-defined]
R = RunRow.__table__  # type: ignore[attr-defined]
REC = RecommendationRow.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class WorkspaceCounts:
    """One workspace's figures as stored; every count is of rows that are never deleted while the
    workspace exists, so each only grows (a Prometheus counter)."""

    status: str  # ok, unreachable or error (`server.collect.health`)
    created_at_ms: int = 0  # when it was added (wall ms)
    projects: int = 0  # attached: neither detached nor orphaned
    runs: int = 0
    recommendations: int = 0
    applied: int = 0  # recommendations put on their job at some time (reverted or superseded since, too)
    apply_failing: int = 0  # projects whose latest auto-apply failed and no apply succeeded since


def workspace_counts(store: Store) -> dict[str, WorkspaceCounts]:
    """Every workspace by name, with its counts."""
    with db.read(store.engine) as conn:
        added = {str(name): (str(status), int(created or 0)) for name, status, created
                 in conn.execute(sa.select(W.c.name, W.c.status, W.c.created_at_ms))}
        runs = dict(conn.execute(sa.select(P.c.workspace, sa.func.count(R.c.id))
                                 .select_from(R.join(P, R.c.project_id == P.c.id)).group_by(P.c.workspace)).all())
        recs = {str(ws): (int(made), int(applied)) for ws, made, applied in conn.execute(
            sa.select(P.c.workspace, sa.func.count(REC.c.id), sa.func.count(REC.c.applied_at_ms))
            .select_from(REC.join(P, REC.c.project_id == P.c.id)).group_by(P.c.workspace))}
        # The problem lives in the project's free JSON state: read there, not matched in SQL, which
        # SQLite and PostgreSQL spell differently.
        projects = conn.execute(sa.select(P.c.workspace, P.c.project_state)
                                .where(P.c.detached == sa.false(), P.c.orphaned == sa.false())).all()
    attached: dict[str, int] = {}
    failing: dict[str, int] = {}
    for workspace, state in projects:
        attached[workspace] = attached.get(workspace, 0) + 1
        problem = PlanProblem.from_json((state or {}).get(PROBLEM_KEY)) if isinstance(state, dict) else None
        if problem is not None and problem.step == "apply":
            failing[workspace] = failing.get(workspace, 0) + 1
    return {name: WorkspaceCounts(status=status, created_at_ms=created, projects=attached.get(name, 0),
                                  runs=int(runs.get(name, 0)), recommendations=recs.get(name, (0, 0))[0],
                                  applied=recs.get(name, (0, 0))[1], apply_failing=failing.get(name, 0))
            for name, (status, created) in added.items()}
