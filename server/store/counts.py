"""What the metrics endpoint reads of the store at each scrape (`server.metrics`), in one read
transaction of grouped counts: never a query per project, which a workspace of 1,500 jobs would
make a scrape's cost."""

from __future__ import annotations

import json
from collections import Counter
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
    polled_ok_at_ms: int | None = None  # when a collector poll of it last worked (wall ms); None: never
    projects: int = 0  # attached: neither detached nor orphaned
    runs: int = 0
    recommendations: int = 0
    applied: int = 0  # recommendations put on their job at some time (reverted or superseded since, too)
    apply_failing: int = 0  # projects whose latest auto-apply failed and no apply succeeded since


def workspace_counts(store: Store) -> dict[str, WorkspaceCounts]:
    """Every workspace by name, with its counts."""
    with db.read(store.engine) as conn:
        added = {str(name): (str(status), int(created or 0), None if polled is None else int(polled))
                 for name, status, created, polled
                 in conn.execute(sa.select(W.c.name, W.c.status, W.c.created_at_ms, W.c.polled_ok_at_ms))}
        projects = conn.execute(sa.select(P.c.id, P.c.workspace, P.c.detached, P.c.orphaned)).all()
        # Grouped by project, not joined to the projects: each is then one pass over the project_id
        # index (a join grouped by workspace took 5-10 times as long on 60,000 runs).
        runs = conn.execute(sa.select(R.c.project_id, sa.func.count()).group_by(R.c.project_id)).all()
        recs = conn.execute(sa.select(REC.c.project_id, sa.func.count(), sa.func.count(REC.c.applied_at_ms))
                            .group_by(REC.c.project_id)).all()
        # The problem lives in the project's free JSON state, which SQLite and PostgreSQL query
        # differently: only the states that name one are read and judged here (reading every
        # project's state took most of a second for 1,500 projects).
        state = sa.cast(P.c.project_state, sa.Text)
        problems = conn.execute(sa.select(P.c.workspace, state).where(
            P.c.detached == sa.false(), P.c.orphaned == sa.false(), state.contains(f'"{PROBLEM_KEY}"',
                                                                                  autoescape=True))).all()
    workspace_of = {int(pid): str(ws) for pid, ws, _, _ in projects}
    attached = Counter(str(ws) for _, ws, detached, orphaned in projects if not (detached or orphaned))
    run_count: Counter[str] = Counter()
    for pid, n in runs:
        run_count[workspace_of.get(int(pid), "")] += int(n)
    made: Counter[str] = Counter()
    applied: Counter[str] = Counter()
    for pid, n, n_applied in recs:
        made[workspace_of.get(int(pid), "")] += int(n)
        applied[workspace_of.get(int(pid), "")] += int(n_applied)
    failing = Counter(str(ws) for ws, text in problems if _apply_failed(text))
    return {name: WorkspaceCounts(status=status, created_at_ms=created, polled_ok_at_ms=polled,
                                  projects=attached[name], runs=run_count[name], recommendations=made[name],
                                  applied=applied[name], apply_failing=failing[name])
            for name, (status, created, polled) in added.items()}


def _apply_failed(state_text: str | None) -> bool:
    """Whether a project's state (as JSON text) holds a problem of its auto-apply."""
    try:
        state = json.loads(state_text or "{}")
    except ValueError:
        return False
    problem = PlanProblem.from_json(state.get(PROBLEM_KEY)) if isinstance(state, dict) else None
    return problem is not None and problem.step == "apply"
