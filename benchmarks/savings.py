"""Savings benchmark: `get_savings` (what `trimtab savings`, the gRPC API and the dashboard read) as
the fleet's histories grow.

    python -m benchmarks.savings [--sizes 300x200,300x365] [--postgres URL] [--profile]

Each project is one job cluster with its runs as a nightly job leaves them: the first fifth on the
cluster as found, the rest on two recommendations Trimtab applied one after the other, one run in
twenty failed; input sizes vary by up to +-30 % on half the projects (constant on the others); every
third project has an SLA and every fifth a daily Quartz schedule; half the projects' runs were priced
under another plan than the workspace's now (re-priced), every eighth project's runs are billed;
every fourth project has a runtime regression stored as a change point, every tenth a code change
(its runs' Spark stages stored, so the savings read their signatures); every seventh has a run the
user edited outside Trimtab, every sixth a recorded apply; every 25th project's Trimtab runs all
failed (a waiting project).

For each size it prints the seconds of `get_savings` over every project: ``slow`` the path before
this benchmark (`savings.savings_from_history`: every run of every project as a `Run`, one project
at a time), ``cold`` on a store just opened in a fresh process state (nothing kept), ``warm`` again
with nothing changed, and ``new run`` after one new run of one project (its storing included); and
whether the fast report equals the slow one. SQLite in a temporary directory, or PostgreSQL with
``--postgres`` (a database of its own, dropped afterwards; default TRIMTAB_TEST_POSTGRES_URL when
``--postgres env``). ``--profile`` prints the top of a cProfile of each path.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import os
import pstats
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa

from benchmarks.plan_history import _open, _spec, bench_project, bench_run
from benchmarks.sizes import parse_size

T0_MS = 1_700_000_000_000
DAY_MS = 24 * 3600 * 1000


def fill(store: object, projects: int, runs: int) -> None:
    """``projects`` projects of ``runs`` runs each (see the module docstring), written in bulk."""
    from server.domain import CostBreakdown, Run
    from server.spec import config_from_spec
    from server.store import Store, convert
    from server.store.tables import (
        ApplicationRow,
        RecommendationRow,
        RunApplicationRow,
        RunCostRow,
        RunRow,
        StageRow,
    )

    assert isinstance(store, Store)
    runs_t = RunRow.__table__  # type: ignore[attr-defined]
    costs_t = RunCostRow.__table__  # type: ignore[attr-defined]
    recs_t = RecommendationRow.__table__  # type: ignore[attr-defined]
    apps_t = ApplicationRow.__table__  # type: ignore[attr-defined]
    links_t = RunApplicationRow.__table__  # type: ignore[attr-defined]
    stages_t = StageRow.__table__  # type: ignore[attr-defined]
    for j in range(projects):
        pid, recs = bench_project(store, j)
        dbu_rate = 0.2 if j % 2 else 0.15  # half priced at another plan's rate: re-priced
        waiting = j % 25 == 24
        values, cost_values = [], []
        for n in range(runs):
            rec, node, workers, cores = bench_run(n, runs, recs)
            wobble = 1.0 + 0.3 * (((n * 37 + j) % 21) - 10) / 10 if j % 2 else 1.0
            slower = 1.4 if j % 4 == 1 and n >= runs * 3 // 5 else 1.0  # a runtime regression
            runtime = 1800.0 * wobble * slower * (cores / 32) ** -0.7 * (1.0 + 0.03 * ((n * 7919 + j) % 11 - 5) / 5)
            start = T0_MS + n * DAY_MS
            dbus = cores / 4 * runtime / 3600
            failed = n % 20 == 7 or (waiting and rec is not None)
            anomalies = ["user_edit"] if j % 7 == 3 and n == runs * 7 // 10 else []
            run = Run(project_id=pid, databricks_run_id=j * 1_000_000 + n, cluster_id=f"c{j}-{n}", start_ms=start,
                      end_ms=start + int(runtime * 1000), runtime_s=runtime,
                      outcome="failed" if failed else "succeeded", config=config_from_spec(_spec(node, workers)),
                      input_bytes=int(50 * 10**9 * wobble), recommendation_id=None if rec is None else rec.id,
                      setup_s=240.0 if n % 9 else None, created_at_ms=start, anomalies=tuple(anomalies))
            values.append(convert.run_values(run))
            compute = workers * 0.192 * runtime / 3600
            billed = j % 8 == 5
            cost_values.append(CostBreakdown(dbu_cost=dbus * dbu_rate, compute_cost=compute, dbus=dbus,
                                             total=dbus * dbu_rate + compute * (0.9 if billed else 1.0),
                                             source="billed" if billed else "estimate",
                                             billed_cloud_cost=compute * 0.9 if billed else None))
        with store.engine.begin() as conn:
            conn.execute(sa.insert(runs_t), values)
            ids = conn.execute(sa.select(runs_t.c.id).where(runs_t.c.project_id == pid)
                               .order_by(runs_t.c.databricks_run_id)).scalars().all()
            conn.execute(sa.insert(costs_t), [dict(run_id=i, **convert.cost_values(c))
                                              for i, c in zip(ids, cost_values, strict=True)])
            change = ids[runs * 3 // 5] if runs > 5 else None
            if change is not None and j % 4 == 1:
                conn.execute(sa.update(recs_t).where(recs_t.c.id == recs[1].id)
                             .values(change_run_id=change, change_kind="runtime_regression"))
            if change is not None and j % 10 == 0:
                conn.execute(sa.update(recs_t).where(recs_t.c.id == recs[1].id)
                             .values(change_run_id=change, change_kind="code_change"))
                # Every run's Spark stages: the code changed at the change point.
                apps, links, stages = [], [], []
                for n, run_id in enumerate(ids):
                    app = f"app-{j}-{n}"
                    apps.append(dict(application_id=app, cluster_id=f"c{j}-{n}"))
                    links.append(dict(run_id=run_id, application_id=app))
                    names = ["read", "join", "write"] if n < runs * 3 // 5 else ["read", "agg", "join", "write"]
                    stages += [dict(application_id=app, stage_id=s, attempt_id=0, name=name,
                                    parent_ids=[s - 1] if s else []) for s, name in enumerate(names)]
                conn.execute(sa.insert(apps_t), apps)
                conn.execute(sa.insert(links_t), links)
                conn.execute(sa.insert(stages_t), stages)
        if j % 6 == 2:
            store.projects.update(dataclasses.replace(store.projects.get(pid), pending_apply={
                "recommendation_id": recs[1].id, "applied_after_run_id": j * 1_000_000 + runs // 2}))


@dataclass(frozen=True)
class Result:
    with_savings: int
    waiting: int
    slow: float
    cold: float
    warm: float
    new_run: float
    same: bool


def _seconds(call: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    out = call()
    return time.perf_counter() - start, out


def _profile(name: str, call: Callable[[], object]) -> None:
    prof = cProfile.Profile()
    prof.enable()
    call()
    prof.disable()
    print(f"--- profile: {name}")
    pstats.Stats(prof).sort_stats("cumulative").print_stats(25)


def measure(projects: int, runs: int, url: str | None, profile: bool = False) -> Result:
    from server.services import savings
    from server.store import open_store

    store, drop = _open(url)
    try:
        fill(store, projects, runs)
        address = store.engine.url.render_as_string(hide_password=False)
        slow_store = open_store(address)
        # The modules both paths import lazily (the workspace's $/DBU, stage signatures), loaded
        # before timing: the slow path's first call paid ~0.2 s of imports the fast one did not.
        import server.plan.observe  # noqa: F401
        import server.services.workspaces  # noqa: F401
        try:
            slow, expected = _seconds(lambda: savings.savings_from_history(slow_store))
            if profile:
                _profile("slow", lambda: savings.savings_from_history(slow_store))
        finally:
            slow_store.close()
        fresh = open_store(address)  # nothing any earlier call kept
        try:
            cold, report = _seconds(lambda: savings.get_savings(fresh))
            warm, again = _seconds(lambda: savings.get_savings(fresh))
            if profile:
                _profile("warm", lambda: savings.get_savings(fresh))
            pid = report.projects[0].project_id  # type: ignore[attr-defined]
            last = fresh.runs.list(pid, limit=1)[0]

            def new_run() -> object:
                fresh.runs.add(dataclasses.replace(last, id=None, databricks_run_id=last.databricks_run_id + 1,
                                                   start_ms=last.start_ms + DAY_MS, end_ms=last.end_ms + DAY_MS))
                return savings.get_savings(fresh)

            new, after = _seconds(new_run)
            same = report == expected and again == expected and after == savings.savings_from_history(fresh)
        finally:
            fresh.close()
        if profile:
            cold_store = open_store(address)
            try:
                _profile("cold", lambda: savings.get_savings(cold_store))
            finally:
                cold_store.close()
        assert isinstance(report, savings.SavingsReport)
        return Result(len(report.projects), len(report.waiting), slow, cold, warm, new, same)
    finally:
        store.close()
        drop()  # the database `_open` made: its temporary directory, or the PostgreSQL database


def _size(text: str) -> tuple[int, int]:
    # `fill` makes the first fifth of each project's runs the cluster as found: with fewer than five
    # no project has a saving to time (review rev15g: an IndexError).
    return parse_size(text, example="300x200", min_runs=5, why=" (the first fifth run as found)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="300x200,300x365", help="comma-separated PROJECTSxRUNS sizes")
    parser.add_argument("--postgres", default=None,
                        help="a PostgreSQL URL, or 'env' for TRIMTAB_TEST_POSTGRES_URL (default: SQLite)")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of each path")
    args = parser.parse_args(argv)
    try:
        sizes = [_size(s) for s in args.sizes.split(",") if s.strip()]
    except argparse.ArgumentTypeError as exc:
        parser.error(f"--sizes: {exc}")
    url = os.environ.get("TRIMTAB_TEST_POSTGRES_URL") if args.postgres == "env" else args.postgres
    if args.postgres == "env" and not url:
        parser.error("--postgres env: TRIMTAB_TEST_POSTGRES_URL is not set")
    print(f"database: {'postgresql' if url else 'sqlite'}")
    print(f"{'projects':>8} {'runs each':>9} {'w/ savings':>10} {'waiting':>7} {'slow s':>7} {'cold s':>7} "
          f"{'warm s':>7} {'new run s':>9} {'same':>5}", flush=True)
    for projects, runs in sizes:
        r = measure(projects, runs, url, args.profile)
        print(f"{projects:>8} {runs:>9} {r.with_savings:>10} {r.waiting:>7} {r.slow:>7.2f} {r.cold:>7.2f} "
              f"{r.warm:>7.2f} {r.new_run:>9.2f} {'yes' if r.same else 'NO':>5}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
