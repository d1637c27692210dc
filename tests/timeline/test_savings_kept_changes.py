"""A code change point recorded after its runs (PostgreSQL): the planner writes it in a transaction of its
own on `recommendations`, once the agent's stages arrived, without touching `runs`. The kept figures
must then compare the runs by their stage signatures as a fresh computation does, at once, not after
the project's next run or a restart."""

from __future__ import annotations

import sqlalchemy as sa

from server.services.savings import get_savings, savings_from_history
from server.store import Store
from server.store.tables import RecommendationRow, StageRow
from server.timeline import CODE_CHANGE
from tests.timeline.test_savings_kept_reads import pg_store  # noqa: F401  (the fixture)


def test_a_code_change_recorded_after_its_runs_is_compared_by_signatures(pg_store: Store) -> None:  # noqa: F811
    table = RecommendationRow.__table__  # type: ignore[attr-defined]
    with pg_store.engine.begin() as conn:
        points = conn.execute(sa.select(table.c.id, table.c.change_run_id, table.c.change_kind)
                              .where(table.c.change_kind == CODE_CHANGE)).all()
        conn.execute(table.update().where(table.c.change_kind == CODE_CHANGE)
                     .values(change_run_id=None, change_kind=None))
    assert points
    # The later runs of a code-changed project ran the old code again (their stages say so), so comparing
    # by signatures gives other figures than comparing without any.
    pid = pg_store.runs.by_ids([int(points[0][1])])[0].project_id
    runs = pg_store.runs.history(pid)
    apps = pg_store.runs.application_ids_by_run([int(r.id or 0) for r in runs])
    late = [a for r in runs[len(runs) * 3 // 5:] for a in apps.get(int(r.id or 0), ())]
    stages = StageRow.__table__  # type: ignore[attr-defined]
    with pg_store.engine.begin() as conn:
        conn.execute(sa.delete(stages).where(stages.c.application_id.in_(late)))
        conn.execute(sa.insert(stages), [dict(application_id=a, stage_id=s, attempt_id=0, name=name,
                                              parent_ids=[s - 1] if s else [])
                                         for a in late for s, name in enumerate(["read", "join", "write"])])
    without = get_savings(pg_store)  # kept: no code change yet
    assert without == savings_from_history(pg_store)

    with pg_store.engine.begin() as conn:  # the planner records the code changes; no run row changes
        for rec_id, run_id, kind in points:
            conn.execute(table.update().where(table.c.id == rec_id).values(change_run_id=run_id, change_kind=kind))
    fresh = savings_from_history(pg_store)
    assert fresh != without
    assert get_savings(pg_store) == fresh
    assert get_savings(pg_store) == fresh  # and kept so
