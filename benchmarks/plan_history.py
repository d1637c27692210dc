"""Plan-time benchmark: one plan as a project's history grows, and the first shared prior after a start.

    python -m benchmarks.plan_history [--runs 100,400,1600] [--stages 60] [--repeat 3]
                                      [--projects 30] [--project-runs 200] [--postgres URL]

Plan: one project whose runs each carry one Spark application with ``--stages`` stages (as the
agent stores them) on seven configurations; after each history size, the plan the collector makes
after the newest run (`Planner.after_run`) is timed ``--repeat`` times. Prior: ``--projects``
projects of ``--project-runs`` runs each, and the first `ProjectPriors.for_project` (which fits
every other project once, as the first plan after a server start does). Both report wall time and
this process's CPU time: the machine may run other work, and the CPU time does not depend on it.
SQLite in a temporary directory unless ``--postgres`` names a database to connect to (a database
is made beside it and dropped). Runs against whatever ``server`` is on the path: set PYTHONPATH to time another tree.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

SHAPES = [("m5.xlarge", 2), ("m5.xlarge", 4), ("m5.xlarge", 8), ("m5.xlarge", 16), ("m5.2xlarge", 2),
          ("m5.2xlarge", 4), ("m5.2xlarge", 8)]


def _spec(node: str, workers: int) -> dict[str, Any]:
    return {"spark_version": "15.4.x-scala2.12", "node_type_id": node, "num_workers": workers,
            "aws_attributes": {"availability": "ON_DEMAND", "first_on_demand": 1}}


def bench_project(store: Any, j: int) -> tuple[int, list[Any]]:
    """The ``j``th project of the store benchmarks (projects_page, savings), and its two applied
    recommendations (on `SHAPES` 1 and 2). Its cluster as found is `SHAPES` 6, the one the runs
    without a recommendation run (savings count only those as the baseline, `savings.as_found`);
    every third has an SLA, every fifth a schedule."""
    from server.domain import JobSchedule, Project, ProjectSettings, Recommendation
    from server.spec import config_from_spec

    found = _spec(*SHAPES[6])
    settings = ProjectSettings(sla_seconds=1500.0 if j % 3 == 0 else None)
    schedule = JobSchedule("0 0 2 * * ?") if j % 5 == 0 else None
    p = store.projects.add(Project(workspace="ws", job_id=j + 1, cluster_key="main", job_name=f"job {j}",
                                   current_spec=found, original_spec=found, settings=settings, schedule=schedule))
    pid = int(p.id or 0)
    recs = [store.recommendations.add(Recommendation(project_id=pid, config=config_from_spec(_spec(n, w)),
                                                     state="applied"))
            for n, w in (SHAPES[1], SHAPES[2])]
    return pid, recs


def bench_run(n: int, runs: int, recs: list[Any]) -> tuple[Any, str, int, int]:
    """The ``n``th of a `bench_project`'s ``runs`` runs: (its recommendation, node type, workers,
    cores). The first fifth run as found (no recommendation, `SHAPES` 6), up to half on the first
    recommendation, the rest on the second."""
    rec = None if n < runs // 5 else recs[0] if n < runs // 2 else recs[1]
    node, workers = SHAPES[6] if rec is None else SHAPES[1] if rec is recs[0] else SHAPES[2]
    return rec, node, workers, workers * (4 if node == "m5.xlarge" else 8)


def _timed(call: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median wall and CPU seconds of ``repeat`` calls."""
    walls, cpus = [], []
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        call()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus)


def _open(url: str | None):  # noqa: ANN202 - a Store and its cleanup
    from server.domain import Workspace
    from server.store import open_store

    if url is None:
        folder = tempfile.mkdtemp(prefix="trimtab-plan-bench-")
        store = open_store(f"sqlite:///{folder}/h.db")

        def drop() -> None:  # after the store is closed
            shutil.rmtree(folder, ignore_errors=True)
    else:
        # A database of its own, dropped afterwards (as the tests' PostgreSQL fixture does).
        name = f"trimtab_plan_bench_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        store = open_store(sa.engine.make_url(url).set(database=name).render_as_string(hide_password=False))

        def drop() -> None:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    store.workspaces.add(Workspace(name="ws", host="http://127.0.0.1:9", cloud="aws", plan="premium"), "enc")
    return store, drop


def plan_growth(sizes: list[int], stages: int, repeat: int, url: str | None) -> None:
    from server.costing.catalog import load_catalog
    from server.domain import Project, ProjectSettings, Run
    from server.plan.planner import Planner
    from server.spec import config_from_spec
    from server.store.tables import ApplicationRow, RunApplicationRow, StageRow

    store, drop = _open(url)
    spec = _spec("m5.xlarge", 8)
    project = store.projects.add(Project(workspace="ws", job_id=1, cluster_key="main", current_spec=spec,
                                         original_spec=spec, settings=ProjectSettings(sla_seconds=7200.0)))
    planner = Planner(store, load_catalog(), gateway_for=lambda w: None)  # type: ignore[arg-type,return-value]
    n = 0
    try:
        for total in sizes:
            while n < total:
                n += 1
                node, workers = SHAPES[n % len(SHAPES)]
                cores = workers * (4 if node == "m5.xlarge" else 8)
                t0 = 1_700_000_000_000 + n * 3_600_000
                run = store.runs.add(Run(project_id=int(project.id or 0), databricks_run_id=n, start_ms=t0,
                                         end_ms=t0 + 1_800_000, outcome="succeeded",
                                         runtime_s=1800.0 * (cores / 32) ** -0.7, input_bytes=50 * 10**9,
                                         config=config_from_spec(_spec(node, workers))))
                app = f"app-{n}"
                with store.engine.begin() as c:
                    c.execute(sa.insert(ApplicationRow.__table__).values(  # type: ignore[attr-defined]
                        application_id=app, cluster_id=f"c{n}", start_time_ms=t0, end_time_ms=t0 + 1_700_000,
                        ended=True, received_ms=t0))
                    c.execute(sa.insert(StageRow.__table__), [  # type: ignore[attr-defined]
                        dict(application_id=app, stage_id=i, num_tasks=200, submission_time_ms=t0 + i * 1000,
                             completion_time_ms=t0 + i * 1000 + 900, tasks_succeeded=200, input_bytes=10**9,
                             executor_run_time_ms=10**6, name=f"stage {i}", parent_ids=[i - 1] if i else [])
                        for i in range(stages)])
                    c.execute(sa.insert(RunApplicationRow.__table__).values(  # type: ignore[attr-defined]
                        run_id=run.id, application_id=app))
            newest = store.runs.list(int(project.id or 0), limit=1)[0]
            wall, cpu = _timed(lambda newest=newest: planner.after_run(newest), repeat)
            print(f"plan  {total:5d} runs x {stages} stages: {wall:6.2f} s wall, {cpu:6.2f} s CPU", flush=True)
    finally:
        store.close()
        drop()


def first_prior(projects: int, runs: int, url: str | None) -> None:
    from server.costing.catalog import load_catalog
    from server.domain import Project, ProjectSettings, Run
    from server.plan.prior import ProjectPriors
    from server.spec import config_from_spec

    store, drop = _open(url)
    spec = _spec("m5.xlarge", 8)
    try:
        for j in range(projects):
            p = store.projects.add(Project(workspace="ws", job_id=j + 1, cluster_key="main", current_spec=spec,
                                           original_spec=spec, settings=ProjectSettings(sla_seconds=7200.0)))
            for n in range(runs):
                node, workers = SHAPES[n % len(SHAPES)]
                cores = workers * (4 if node == "m5.xlarge" else 8)
                t0 = 1_700_000_000_000 + n * 3_600_000
                noise = 1.0 + 0.03 * ((n * 7919 + j) % 11 - 5) / 5
                store.runs.add(Run(project_id=int(p.id or 0), databricks_run_id=j * 100_000 + n, start_ms=t0,
                                   end_ms=t0 + 1_800_000, outcome="succeeded",
                                   runtime_s=1800.0 * (cores / 32) ** -0.7 * noise, input_bytes=50 * 10**9,
                                   config=config_from_spec(_spec(node, workers))))
        catalog = load_catalog()
        priors = ProjectPriors(store, catalog)
        wall, cpu = _timed(lambda: priors.for_project(0), 1)
        print(f"prior {projects} projects x {runs} runs, first after a start: {wall:6.2f} s wall, {cpu:6.2f} s CPU "
              f"({cpu / projects * 1000:.0f} ms CPU a project)", flush=True)
        wall, cpu = _timed(lambda: priors.for_project(0), 1)
        print(f"prior, again (nothing ran since): {wall:6.3f} s wall, {cpu:6.3f} s CPU", flush=True)
    finally:
        store.close()
        drop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="100,400,1600", help="history sizes to plan at (comma-separated)")
    parser.add_argument("--stages", type=int, default=60, help="stages per run's application")
    parser.add_argument("--repeat", type=int, default=3, help="plans timed per size (median)")
    parser.add_argument("--projects", type=int, default=30, help="projects for the prior (0: skip it)")
    parser.add_argument("--project-runs", type=int, default=200, help="runs per project for the prior")
    parser.add_argument("--postgres", default=None, help="a PostgreSQL URL (default: SQLite)")
    args = parser.parse_args(argv)
    try:
        sizes = sorted(int(x) for x in args.runs.split(",") if x.strip())
    except ValueError:
        parser.error(f"--runs: comma-separated run counts, got {args.runs!r}")
    if sizes:
        plan_growth(sizes, args.stages, args.repeat, args.postgres)
    if args.projects > 0:
        first_prior(args.projects, args.project_runs, args.postgres)
    return 0


if __name__ == "__main__":
    sys.exit(main())
