"""Dashboard projects page benchmark: the list of projects as their histories grow.

    python -m benchmarks.projects_page [--projects 300] [--runs 365] [--sizes 300x365,100x2000]

Each project is one job cluster with ``--runs`` costed runs (as a year of a nightly job leaves): the
first fifth on the cluster as found, the rest on two recommendations Trimtab applied one after the
other, one run in twenty failed, every third project with an SLA and every fifth on a daily Quartz
schedule; half the workspace's projects' runs were priced under another plan than the workspace's now
(so the savings re-price them, as after a change of plan). For each size it prints the seconds and the
peak memory (tracemalloc) of the page's data (`server.dashboard.views.project_rows`): first on a store
just opened (``first``: nothing kept from an earlier page, as after a server start), then again with
nothing changed (``again``); of the whole rendered page (`pages.projects_page` over it); and of the
data after one new run of one project (``new run``, its storing included); and, on another store
just opened, the seconds of the server's background warm-up after a start (`Dashboard.warm`) and of
the first visit once it is over (``warmed``). SQLite in a temporary
directory. Runs against whatever ``server`` is on the path: set PYTHONPATH to time another tree.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa

from benchmarks.plan_history import _open, _spec, bench_project, bench_run
from benchmarks.sizes import parse_size

T0_MS = 1_700_000_000_000
DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class Measure:
    seconds: float
    peak_mb: float


def _measured(call: Callable[[], object]) -> Measure:
    """Wall seconds and tracemalloc's peak (MB) of one call (tracemalloc slows Python code, so the
    seconds are those of a run without it; the peak is from a second, traced run)."""
    start = time.perf_counter()
    call()
    seconds = time.perf_counter() - start
    tracemalloc.start()
    try:
        call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return Measure(seconds, peak / 1e6)


def fill(store: object, projects: int, runs: int) -> None:
    """``projects`` projects of ``runs`` costed runs each, written in bulk (one insert a table a
    project: `RunRepository.add` reads each run back, hours for 100,000 runs)."""
    from server.domain import CostBreakdown, Run
    from server.spec import config_from_spec
    from server.store import Store, convert
    from server.store.tables import RunCostRow, RunRow

    assert isinstance(store, Store)
    runs_t = RunRow.__table__  # type: ignore[attr-defined]
    costs_t = RunCostRow.__table__  # type: ignore[attr-defined]
    for j in range(projects):
        pid, recs = bench_project(store, j)
        # Priced at enterprise's rate for half the projects: the workspace is premium now.
        dbu_rate = 0.2 if j % 2 else 0.15
        values, cost_values = [], []
        for n in range(runs):
            rec, node, workers, cores = bench_run(n, runs, recs)
            runtime = 1800.0 * (cores / 32) ** -0.7 * (1.0 + 0.03 * ((n * 7919 + j) % 11 - 5) / 5)
            start = T0_MS + n * DAY_MS
            dbus = cores / 4 * runtime / 3600
            run = Run(project_id=pid, databricks_run_id=j * 1_000_000 + n, cluster_id=f"c{j}-{n}", start_ms=start,
                      end_ms=start + int(runtime * 1000), runtime_s=runtime,
                      outcome="failed" if n % 20 == 7 else "succeeded",
                      config=config_from_spec(_spec(node, workers)), input_bytes=50 * 10**9,
                      recommendation_id=None if rec is None else rec.id, setup_s=240.0, created_at_ms=start)
            values.append(convert.run_values(run))
            compute = workers * 0.192 * runtime / 3600
            cost_values.append(CostBreakdown(dbu_cost=dbus * dbu_rate, compute_cost=compute, dbus=dbus,
                                             total=dbus * dbu_rate + compute))
        with store.engine.begin() as conn:
            conn.execute(sa.insert(runs_t), values)
            ids = conn.execute(sa.select(runs_t.c.id).where(runs_t.c.project_id == pid)
                               .order_by(runs_t.c.databricks_run_id)).scalars().all()
            conn.execute(sa.insert(costs_t), [dict(run_id=i, **convert.cost_values(c))
                                              for i, c in zip(ids, cost_values, strict=True)])


@dataclass(frozen=True)
class Result:
    with_savings: int  # projects whose row shows savings (so a run that lost them shows)
    first: Measure
    again: Measure
    page: Measure
    new_run: Measure
    warm_s: float  # the server's warm-up after a start (`Dashboard.warm`), in the background
    warmed_s: float  # the first visit once the warm-up is over


def measure(projects: int, runs: int) -> Result:
    """The page's data and the rendered page on a store of ``projects`` x ``runs``."""
    from server.dashboard import pages, views
    from server.store import open_store

    store, drop = _open(None)
    try:
        fill(store, projects, runs)
        url = store.engine.url.render_as_string(hide_password=False)

        def first() -> None:
            fresh = open_store(url)  # nothing any earlier page kept
            try:
                views.project_rows(fresh)
            finally:
                fresh.close()

        first_m = _measured(first)
        warm_s, warmed_s = _warmed(url)
        rows = views.project_rows(store)
        again = _measured(lambda: views.project_rows(store))
        page = _measured(lambda: pages.projects_page(views.project_rows(store)))
        pid = int(rows[0].project.id or 0)

        def new_run() -> None:
            last = store.runs.list(pid, limit=1)[0]
            store.runs.add(dataclasses.replace(last, id=None, databricks_run_id=last.databricks_run_id + 1,
                                               start_ms=last.start_ms + DAY_MS, end_ms=last.end_ms + DAY_MS))
            views.project_rows(store)

        return Result(sum(1 for r in rows if r.savings is not None), first_m, again, page, _measured(new_run),
                      warm_s, warmed_s)
    finally:
        store.close()
        drop()  # the database `_open` made: its temporary directory, or the PostgreSQL database


def _warmed(url: str) -> tuple[float, float]:
    """Seconds of the dashboard's warm-up on a store just opened (as the server starts it), and of
    the first visit after it."""
    from server.dashboard import serve_dashboard, views
    from server.store import open_store

    fresh = open_store(url)
    dashboard = serve_dashboard(fresh, "127.0.0.1:0")
    try:
        start = time.perf_counter()
        dashboard.warm()
        assert dashboard._warming is not None
        dashboard._warming.join()
        warm = time.perf_counter() - start
        start = time.perf_counter()
        views.project_rows(fresh)
        return warm, time.perf_counter() - start
    finally:
        dashboard.stop()
        fresh.close()


def _size(text: str) -> tuple[int, int]:
    return parse_size(text, example="300x365")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=None, help="projects (with --runs: one size)")
    parser.add_argument("--runs", type=int, default=None, help="runs each project has (with --projects)")
    parser.add_argument("--sizes", default="300x365,100x2000",
                        help="comma-separated PROJECTSxRUNS sizes, when --projects/--runs are not given")
    args = parser.parse_args(argv)
    if (args.projects is None) != (args.runs is None):
        parser.error("--projects and --runs go together (or give --sizes)")
    try:
        sizes = [(args.projects, args.runs)] if args.projects is not None else \
            [_size(s) for s in args.sizes.split(",") if s.strip()]
    except argparse.ArgumentTypeError as exc:
        parser.error(f"--sizes: {exc}")
    if any(p < 1 or r < 1 for p, r in sizes):
        parser.error("--projects and --runs must be at least 1")
    print(f"{'projects':>8} {'runs each':>9} {'w/ savings':>10} {'first s':>8} {'first MB':>8} {'again s':>8} "
          f"{'again MB':>8} {'page s':>8} {'page MB':>8} {'new run s':>9} {'warm-up s':>9} {'warmed s':>8}", flush=True)
    for projects, runs in sizes:
        r = measure(projects, runs)
        print(f"{projects:>8} {runs:>9} {r.with_savings:>10} {r.first.seconds:>8.2f} {r.first.peak_mb:>8.1f} "
              f"{r.again.seconds:>8.2f} {r.again.peak_mb:>8.1f} {r.page.seconds:>8.2f} {r.page.peak_mb:>8.1f} "
              f"{r.new_run.seconds:>9.2f} {r.warm_s:>9.2f} {r.warmed_s:>8.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
