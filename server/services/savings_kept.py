"""`get_savings` without reading every run whole on every call: the fleet's runs in one streamed
query of the columns savings read, and each project's figures kept in the server process.

`savings_from_history` (every run of every project as a `Run`, one project and one Spark
application at a time, priced in Python) took 6-7 s for 300 projects x 200 runs on PostgreSQL, and
`trimtab savings`, the gRPC API and the dashboard call it often. Here:

- the runs come from `RunRepository.figures_by_project` (one query for every project, plain tuples,
  each distinct configuration's JSON parsed once), made into `Run`s with just what `project_savings`
  reads, in `history`'s order;
- change points come in one query, each workspace's $/DBU is looked up once a call, and the stage
  signatures a code change needs come from a few batched reads (`stage_outlines`) instead of one
  per application;
- each project's result is kept with a key holding *every* input `project_savings` and
  `no_savings_yet` are given (the project as read, a hash of each of its runs' figures, its change
  points, the plan and $/DBU now, the signatures): they are pure, so a kept result is the one a fresh
  computation gives whenever the key is equal, and a new run, a re-costed or edited run, a settings
  or apply change, a new change point or a change of plan or price changes the key. There is no time
  to live and nothing to invalidate by hand; another process writing to the database is seen too.

What is still read every call is the runs' figures (to hash them); the figures of an unchanged
project are never made into `Run`s nor priced again.
"""

from __future__ import annotations

import json
import threading
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from server.domain import ClusterConfig, CostBreakdown, Project, Run
from server.plan.observe import stage_signature
from server.services.savings import (
    NoSavingsYet,
    PlanRate,
    ProjectSavings,
    SavingsReport,
    no_savings_yet,
    project_savings,
    workspace_dbu_rate,
)
from server.store import Store, convert
from server.timeline import CODE_CHANGE, REBASE_LABELS, ChangePoint

# The SKUs a run can be priced under (`savings.run_sku`): a plan's rates for them say all it does to a saving.
SKUS = ("jobs", "jobs_photon")


@dataclass(frozen=True)
class _Kept:
    key: tuple[Any, ...]
    savings: ProjectSavings | None
    waiting: NoSavingsYet | None
    currency: str | None  # the currency of the project's first costed run (None: none is costed)


# Per store, per project id. Weak, so a closed store's entries go with it; the lock guards the dicts
# (the gRPC server and the dashboard call from threads). Values are a few hundred bytes a project.
_KEPT: weakref.WeakKeyDictionary[Store, dict[int, _Kept]] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def get_savings(store: Store, project_ref: str = "") -> SavingsReport:
    """The same `SavingsReport` as `savings.savings_from_history`, to the last bit."""
    projects = [store.projects.find(project_ref)] if project_ref else store.projects.list()
    ids = [int(p.id or 0) for p in projects]
    by_id = dict(zip(ids, projects, strict=True))
    changes = {pid: [ChangePoint(run_id, kind) for run_id, kind in points if kind in REBASE_LABELS]
               for pid, points in store.recommendations.change_points_by_project(ids).items()}
    rates: dict[str, tuple[PlanRate | None, tuple[Any, ...] | None]] = {}  # by workspace: once a call
    rows_of: dict[int, list[tuple]] = {}
    for pid, rows in store.runs.figures_by_project(ids):
        rows_of[pid] = rows
    signatures = _signatures(store, {pid: rows_of.get(pid, []) for pid in ids if _code_changed(changes.get(pid, ()))},
                             changes)
    with _LOCK:
        kept = dict(_KEPT.get(store, {}))
    fresh: dict[int, _Kept] = {}
    configs: dict[str | None, ClusterConfig | None] = {}
    for pid in ids:
        project = by_id[pid]
        if project.workspace not in rates:
            rate = workspace_dbu_rate(store, project)
            rates[project.workspace] = (rate, None if rate is None else (rate.plan, *(rate(s) for s in SKUS)))
        rate, rate_key = rates[project.workspace]
        rows = rows_of.get(pid, [])
        cuts = tuple(changes.get(pid, ()))
        code = signatures.get(pid, {})
        key = (project, hash(tuple(rows)), len(rows), cuts, rate_key, tuple(sorted(code.items())))
        entry = kept.get(pid)
        if entry is None or entry.key != key:
            entry = _computed(key, project, runs_of(pid, rows, configs), rate, cuts, code)
        fresh[pid] = entry
    with _LOCK:
        mine = _KEPT.setdefault(store, {})
        mine.update(fresh)
        if not project_ref:  # every project was read: a deleted one's entry goes
            for gone in set(mine) - set(fresh):
                del mine[gone]
    return _report([fresh[pid] for pid in ids])


def _computed(key: tuple[Any, ...], project: Project, runs: list[Run], rate: PlanRate | None,
              changes: Sequence[ChangePoint], signatures: Mapping[int, str | None]) -> _Kept:
    """What `savings_report` makes of one project (its currency: the first costed run's)."""
    currency = next((r.cost.currency for r in runs if r.cost), None)
    savings = project_savings(project, runs, rate, changes, signatures)
    waiting = None if savings is not None else no_savings_yet(project, runs, rate, currency or "USD")
    return _Kept(key, savings, waiting, currency)


def _report(entries: Sequence[_Kept]) -> SavingsReport:
    """`savings_report`'s assembly: the report's currency is the last project's with a costed run."""
    currency = "USD"
    for e in entries:
        currency = e.currency or currency
    found = [e.savings for e in entries if e.savings is not None]
    return SavingsReport(projects=tuple(found), total_saved_to_date=sum(p.saved_to_date for p in found),
                         total_projected_annual=sum(p.projected_annual for p in found), currency=currency,
                         waiting=tuple(e.waiting for e in entries if e.waiting is not None))


def runs_of(project_id: int, rows: Iterable[tuple], configs: dict[str | None, ClusterConfig | None] | None = None
            ) -> list[Run]:
    """A project's runs from its `RunRepository.FIGURE_COLUMNS` rows, oldest start first (then by id),
    as `history` lists them, with every field `project_savings` reads (not the Spark applications,
    the cost's note and window, the cluster, end, phase, message). ``configs``: parsed configuration by
    its JSON text, shared between calls (a job's runs repeat a few configurations)."""
    configs = {} if configs is None else configs
    anomalies: dict[str | None, tuple[str, ...]] = {}
    out = []
    for (run_id, databricks_run_id, start_ms, runtime_s, outcome, config, input_bytes, flags, recommendation_id,
         setup_s, cost_run_id, dbu_cost, compute_cost, storage_cost, total, dbus, currency, source,
         billed_cloud_cost, cost_per_input_gb, used_by_models, execution_only) in rows:
        if config not in configs:
            configs[config] = convert.config_from_json(json.loads(config) if config else None)
        if flags not in anomalies:
            anomalies[flags] = tuple(json.loads(flags) or ()) if flags else ()
        cost = None if cost_run_id is None else CostBreakdown(
            dbu_cost=dbu_cost, compute_cost=compute_cost, storage_cost=storage_cost, total=total, dbus=dbus,
            currency=currency, source=source, billed_cloud_cost=billed_cloud_cost,
            cost_per_input_gb=cost_per_input_gb, used_by_models=used_by_models)
        out.append(Run(id=run_id, project_id=project_id, databricks_run_id=databricks_run_id, start_ms=start_ms,
                       runtime_s=runtime_s, outcome=outcome, config=configs[config], input_bytes=input_bytes,
                       cost=cost, anomalies=anomalies[flags], recommendation_id=recommendation_id, setup_s=setup_s,
                       execution_only=bool(execution_only)))
    out.sort(key=lambda r: (r.start_ms, r.id))
    return out


def _code_changed(changes: Iterable[ChangePoint]) -> bool:
    return any(c.kind == CODE_CHANGE for c in changes)


def _signatures(store: Store, rows_of: Mapping[int, list[tuple]],
                changes: Mapping[int, Sequence[ChangePoint]]) -> dict[int, dict[int, str | None]]:
    """`savings.stored_signatures` of these projects (by project id, those with a code change), in a few
    queries for all of them: the code changes' runs and the runs without a recommendation."""
    wanted: dict[int, list[int]] = {}
    for pid, rows in rows_of.items():
        points = {c.run_id for c in changes.get(pid, ()) if c.kind == CODE_CHANGE}
        # Columns: id first, recommendation_id ninth (FIGURE_COLUMNS).
        wanted[pid] = [int(r[0]) for r in rows if r[8] is None or int(r[0]) in points]
    apps = store.runs.application_ids_by_run([i for ids in wanted.values() for i in ids])
    stages = store.applications.stage_outlines(a for ids in apps.values() for a in ids)
    return {pid: {i: stage_signature([s for app in apps.get(i, ()) for s in stages.get(app, ())]) for i in ids}
            for pid, ids in wanted.items()}
