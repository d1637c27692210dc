"""runs.execution_only (0014): runs a backfill before 49b67da made from the event log alone carry no note
0012 knows, so they are recognised by their bounds (exactly their applications' span) or their old
message ("backfilled from event logs..."); collected runs, whose start is the Jobs API's (the cluster's
setup before the application), stay as they were; the downgrade puts back what 0013 had (SQLite and
PostgreSQL)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import command

from server.backfill.runs import SETUP_UNKNOWN, SETUP_UNKNOWN_NOTE
from server.store import migrate, open_store
from server.store.engine import make_engine
from tests.store.conftest import downgraded_to, seeded_at
from tests.store.old_schema import add_project_row

T0 = 1_790_000_000_000
RUNS = sa.table("runs", *(sa.column(c) for c in (
    "project_id", "databricks_run_id", "cluster_id", "start_ms", "end_ms", "runtime_s", "outcome", "phase",
    "created_at_ms", "setup_s", "message", "execution_only")), sa.column("anomalies", sa.JSON()))
APPS = sa.table("applications", *(sa.column(c) for c in (
    "application_id", "spark_app_id", "attempt_id", "spark_context_id", "app_name", "spark_version", "user",
    "cluster_id", "cluster_name", "job_id", "databricks_run_id", "event_log_path", "start_time_ms", "end_time_ms",
    "ended", "expected_stages", "expected_jobs", "expected_executors", "agent_id", "received_ms")),
    sa.column("conf", sa.JSON()))
TIES = sa.table("run_applications", sa.column("run_id"), sa.column("application_id"))

# Each run: (databricks run id, start/end offsets in s from T0, its setup_s, message, execution_only as
# 0013 left it, its applications' (start, end) offsets in s (end None: no end, the driver died), and
# whether it is execution_only after 0014).
CASES: list[tuple[int, float, float, float | None, str, bool, list[tuple[float, float | None]], bool]] = [
    # Succeeded, backfilled before 49b67da: message "" (or no message column yet), bounds = the span.
    (900, 0, 282, None, "", False, [(0, 282)], True),
    # Two applications of one Databricks run, the run's bounds a few hundred ms from theirs.
    (901, 1000, 1546, None, "", False, [(1000.4, 1200), (1300, 1545.6)], True),
    # A driver that died: no application end; the run ended at its last stage's completion.
    (902, 2000, 2300, None, "", False, [(2000, None)], True),
    # Failed, with e3dfb01's message (and a case variant): known by the message alone.
    (903, 3000, 3100, None, "backfilled from event logs: a Spark job failed", False, [], True),
    (904, 3200, 3300, None, "Backfilled from event logs: the event log ends without the application's end",
     False, [], True),
    # Collected: starts at the Jobs API's start, minutes of setup before its application; setup unknown
    # (stored before 0005, or Databricks gave none). Never marked.
    (905, 4000, 4300, None, "", False, [(4199, 4290)], False),
    # Collected with its setup: not marked, even if its bounds came near its application's.
    (906, 5000, 5300, 181.0, "", False, [(5000, 5300)], False),
    # Bounds two seconds off the span: not the span.
    (907, 6000, 6300, None, "", False, [(6002, 6300)], False),
    # No application tied and no message: nothing says it was backfilled.
    (908, 7000, 7300, None, "", False, [], False),
    # Backfilled from the log alone since 49b67da: 0012 marked it by its note; it stays marked.
    (909, 8000, 8300, None, f"{SETUP_UNKNOWN}; {SETUP_UNKNOWN_NOTE}", True, [(8000, 8300)], True),
]


def _app(app_id: str, start_ms: int, end_ms: int) -> dict[str, Any]:
    return {"application_id": app_id, "spark_app_id": app_id, "attempt_id": "", "spark_context_id": "",
            "app_name": "etl", "spark_version": "3.5.0", "user": "", "cluster_id": "c-1", "cluster_name": "",
            "job_id": "42", "databricks_run_id": "", "event_log_path": "", "start_time_ms": start_ms,
            "end_time_ms": end_ms, "ended": bool(end_ms), "expected_stages": 0, "expected_jobs": 0,
            "expected_executors": 0, "agent_id": "", "received_ms": 5, "conf": {}}


def _add_stage(conn: sa.Connection, app_id: str, stage_id: int, completion_time_ms: int) -> None:
    """A stage row with its metrics zero (the table has dozens, without a server default)."""
    columns = sa.inspect(conn).get_columns("stages")
    zero = {c["name"]: "[]" if c["name"] == "parent_ids" else "" if isinstance(c["type"], sa.String) else 0
            for c in columns if not c["nullable"] and c.get("default") is None}
    values = {**zero, "application_id": app_id, "stage_id": stage_id, "completion_time_ms": completion_time_ms}
    conn.execute(sa.text(f"INSERT INTO stages ({', '.join(values)}) VALUES ({', '.join(':' + k for k in values)})"),
                 values)


def _seed(conn: sa.Connection) -> int:
    project_id = add_project_row(conn)
    for dbx, start, end, setup_s, message, marked, apps, _ in CASES:
        conn.execute(RUNS.insert().values(
            project_id=project_id, databricks_run_id=dbx, cluster_id="c-1", start_ms=T0 + int(start * 1000),
            end_ms=T0 + int(end * 1000), runtime_s=end - start, outcome="succeeded", phase="learning",
            created_at_ms=5, setup_s=setup_s, message=message, execution_only=marked, anomalies=[]))
        run_id = int(conn.execute(sa.text(f"SELECT id FROM runs WHERE databricks_run_id = {dbx}")).scalar_one())
        for n, (app_start, app_end) in enumerate(apps):
            app_id = f"app-{dbx}-{n}"
            conn.execute(APPS.insert().values(
                **_app(app_id, T0 + int(app_start * 1000), T0 + int(app_end * 1000) if app_end else 0)))
            conn.execute(TIES.insert().values(run_id=run_id, application_id=app_id))
            if app_end is None:  # its stages are all the log shows of its end
                for stage_id, done in ((0, start + 100), (1, end), (2, 0)):
                    _add_stage(conn, app_id, stage_id, T0 + int(done * 1000) if done else 0)
    return project_id


def _marked(conn: sa.Connection) -> dict[int, bool]:
    rows = conn.execute(sa.text("SELECT databricks_run_id, execution_only FROM runs")).all()
    return {int(dbx): bool(flag) for dbx, flag in rows}


def test_upgrade_from_0013_marks_runs_backfilled_before_49b67da_and_downgrade_takes_it_back(db_url: str) -> None:
    project_id = seeded_at(db_url, "0013", _seed)
    store = open_store(db_url)
    try:
        assert migrate.current_revision(store.engine) == migrate.head_revision()
        got = {r.databricks_run_id: r.execution_only for r in store.runs.history(project_id)}
        assert got == {c[0]: c[-1] for c in CASES}
        # Only the flag: bounds, runtime, setup and message are as they were.
        run = store.runs.get_by_databricks_run(project_id, 900)
        assert run is not None and (run.runtime_s, run.setup_s, run.message) == (282.0, None, "")
    finally:
        store.close()
    engine = downgraded_to(db_url, "0013")
    try:
        with engine.connect() as conn:
            assert _marked(conn) == {c[0]: c[5] for c in CASES}
    finally:
        engine.dispose()


def test_upgrade_reads_runs_in_batches(db_url: str) -> None:
    """More log-only runs than one batch (and collected ones between them): every one is read."""
    engine = make_engine(db_url)
    migrate.upgrade(engine, "0013")
    n = 2500
    with engine.begin() as conn:
        project_id = add_project_row(conn)
        conn.execute(RUNS.insert(), [dict(
            project_id=project_id, databricks_run_id=i, cluster_id="c-1", start_ms=T0 + i * 10_000,
            end_ms=T0 + i * 10_000 + 5000, runtime_s=5.0, outcome="succeeded", phase="learning", created_at_ms=5,
            setup_s=None, message="", execution_only=False, anomalies=[]) for i in range(n)])
        ids = {int(dbx): int(i) for dbx, i in conn.execute(sa.text("SELECT databricks_run_id, id FROM runs"))}
        # Odd runs are collected: their application starts 3 s after the run.
        conn.execute(APPS.insert(), [_app(f"a-{i}", T0 + i * 10_000 + 3000 * (i % 2), T0 + i * 10_000 + 5000)
                                     for i in range(n)])
        conn.execute(TIES.insert(), [{"run_id": ids[i], "application_id": f"a-{i}"} for i in range(n)])
    try:
        with engine.begin() as conn:
            command.upgrade(migrate.alembic_config(conn), "head")
        with engine.connect() as conn:
            assert _marked(conn) == {i: i % 2 == 0 for i in range(n)}
    finally:
        engine.dispose()
