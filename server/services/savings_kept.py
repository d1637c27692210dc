"""`get_savings` without reading every run whole on every call: each project's figures kept in the server
process, and on a later call only the projects whose runs changed read again.

`savings_from_history` (every run of every project as a `Run`, one project and one Spark
application at a time, priced in Python) took 6-7 s for 300 projects x 200 runs on PostgreSQL, and
`trimtab savings`, the gRPC API and the dashboard call it often. Here:

- each project's result is kept with a key holding *every* input `project_savings` and
  `no_savings_yet` are given (the project as read, its runs' version, its change points, the plan and
  $/DBU now, the signatures): they are pure, so a kept result is the one a fresh computation gives
  whenever the key is equal, and a new run, a re-costed or edited run, a settings or apply change, a
  new change point or a change of plan or price changes the key. There is no time to live and
  nothing to invalidate by hand; another process writing to the database is seen too;
- the runs' version is `RunRepository.figure_versions` (PostgreSQL: one aggregate query over every
  project, no run sent), so a call reads the runs of the projects whose runs changed alone; SQLite
  cannot tell, so there the version is a hash of every run's figures, all read every call. Reading
  every run's figures on every call took 9.4 s of 13.5 s at 327,000 runs;
- the runs read come from `RunRepository.figures_read` (one query for every project read, plain
  tuples, the connection released before anything is made of them), made into `Run`s with just
  what `project_savings` reads, in `history`'s order, each distinct configuration's JSON parsed once;
- change points come in one query, each workspace's $/DBU is looked up once a call, and the stage
  signatures a code change needs come from one batched read (`savings.run_signatures`, which
  `stored_signatures` reads too) instead of one per application; kept while the project's runs and
  their applications' stages (which arrive after their run) are unchanged
  (`RunRepository.stage_versions`, PostgreSQL; read every call on SQLite);
- a call stops once its gRPC call ended (the client's deadline passed): computing on for nobody held a
  worker thread and the database while the client's retry started the same work beside it;
- a call arriving while another reads and computes the projects it asks for (with its outline) waits
  for that one, holding no connection, and shares its figures or its error (during a database stall
  every caller fails within one database deadline, not one deadline each in turn); a call it does not
  cover (another outline, a project made since) reads for itself alongside.

The projects page (`server.dashboard.views.project_rows`) reads through `kept_savings` too, keeping
its own figures of each project's runs beside the savings (``outline``).
"""

from __future__ import annotations

import dataclasses
import json
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from server.domain import ClusterConfig, CostBreakdown, Project, Run
from server.errors import Cancelled
from server.services.savings import (
    NoSavingsYet,
    PlanRate,
    ProjectSavings,
    SavingsReport,
    no_savings_yet,
    project_savings,
    run_signatures,
    workspace_dbu_rate,
)
from server.store import Store, convert
from server.timeline import CODE_CHANGE, REBASE_LABELS, ChangePoint

# The SKUs a run can be priced under (`savings.run_sku`): a plan's rates for them say all it does to a saving.
SKUS = ("jobs", "jobs_photon")


@dataclass(frozen=True)
class Kept:
    """One project's savings as `savings_report` makes them, with what they were made from."""

    key: tuple[Any, ...]
    savings: ProjectSavings | None
    waiting: NoSavingsYet | None
    currency: str | None  # the currency of the project's first costed run (None: none is costed)
    # The project's `RunRepository.figure_versions` when its runs were read (None: the database cannot
    # tell, so the key holds a hash of the runs' figures, read every call).
    version: tuple[int, ...] | None = None
    # The runs whose stage signature a code change compares (`savings.stored_signatures`): read from the
    # runs, so kept with them for a call that does not read them again.
    compared: tuple[int, ...] = ()
    # What ``outline`` (a caller's, the projects page's) made of the project and its runs; None: not asked.
    outline: Any = None
    # `RunRepository.stage_versions` of the project when its signatures were read (None: not known).
    stages: tuple[int, ...] | None = None

    @property
    def signatures(self) -> dict[int, str | None]:
        """The stage signatures the savings were computed with (the key's last part)."""
        return dict(self.key[-1])


# Made of a project and its runs' `FIGURE_COLUMNS` rows, kept beside its savings (`kept_savings`).
Outline = Callable[[Project, list[tuple]], Any]

# Per store, per project id. Weak, so a closed store's entries go with it; the lock guards the dicts
# (the gRPC server and the dashboard call from threads). Values are a few hundred bytes a project.
_KEPT: weakref.WeakKeyDictionary[Store, dict[int, Kept]] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()
_NO_VERSION = (0, 0, 0, 0, 0)  # `figure_versions` of a project without runs (it leaves them out)


@dataclass(eq=False)
class _Flight:
    """One caller's reading and computing of some of a store's projects, which the callers arriving
    meanwhile that it covers wait for and share: 20 concurrent `trimtab savings` each read every run
    (12-62 s apiece on 327,000 runs) and ran the 8+8 connections dry. Shared, not queued behind: with
    a lock, each waiter ran again once the caller before it was done, so during a database stall the
    k-th caller failed after k database deadlines (3, 6 ... 18 s for six callers, 3 s apiece)."""

    ids: frozenset[int]
    outline: Outline | None
    # Each caller's ``stop`` (None: it never gives up), the computing one's first; replaced whole under
    # _LOCK as callers join. The flight stops once every caller gave up: the computing caller's call
    # ending (its deadline passed) leaves it going for the others, who would otherwise read it all again.
    stops: tuple[threading.Event | None, ...] = ()
    done: threading.Event = field(default_factory=threading.Event)
    entries: dict[int, Kept] = field(default_factory=dict)  # by project id; set before ``done``
    error: BaseException | None = None  # what the caller in flight raised; set before ``done``

    def covers(self, ids: frozenset[int], outline: Outline | None) -> bool:
        """Whether its entries answer a call for these projects with this outline."""
        return ids <= self.ids and (outline is None or outline is self.outline)

    def abandoned(self) -> bool:
        """Whether every caller gave up on it (nobody is left to read what it computes)."""
        stops = self.stops
        return bool(stops) and all(s is not None and s.is_set() for s in stops)


# Per store, the flights under way (guarded by _LOCK): a fleet-wide one, and any calls it did not cover.
_FLIGHTS: weakref.WeakKeyDictionary[Store, list[_Flight]] = weakref.WeakKeyDictionary()
# How often a waiter looks at its ``stop``: a thread cannot wait on two events at once.
_STOP_POLL_S = 0.05


def get_savings(store: Store, project_ref: str = "", stop: threading.Event | None = None) -> SavingsReport:
    """The same `SavingsReport` as `savings.savings_from_history`, to the last bit. ``stop``: set when the
    caller's call ends (`Cancelled` then, unless the report was made anyway for another caller)."""
    projects = [store.projects.find(project_ref)] if project_ref else store.projects.list()
    entries = kept_savings(store, projects, every=not project_ref, stop=stop)
    if len(entries) < len(projects):  # stopped: a report of some projects would be a wrong one
        raise Cancelled("the call ended before its savings were computed")
    return _report(entries)


def kept_savings(store: Store, projects: Sequence[Project], *, every: bool = False, outline: Outline | None = None,
                 stop: threading.Event | None = None) -> list[Kept]:
    """Each project's `Kept` savings, in ``projects``' order: computed again only where something they are
    made of changed, and only those projects' runs read (on PostgreSQL; on SQLite every run's figures
    are read and hashed). ``every``: ``projects`` are all the store's (a deleted one's entry goes).
    ``outline``: also make this of each project and its runs, kept likewise (`Kept.outline`).
    ``stop``: once set, the entries made so far are returned (none while another caller's computing
    goes on: it stops once every caller waiting on it gave up, see `_Flight.stops`).

    No connection is held while anything is computed: the runs are read whole, then made into figures.
    A call that one in flight covers waits for it and returns its entries or raises its error (`_Flight`)."""
    ids = [int(p.id or 0) for p in projects]
    wanted = frozenset(ids)
    while True:
        if stop is not None and stop.is_set():
            return []
        with _LOCK:
            flights = _FLIGHTS.setdefault(store, [])
            flight = next((f for f in flights if f.covers(wanted, outline)), None)
            if flight is None:
                flight = _Flight(wanted, outline, stops=(stop,))
                flights.append(flight)
                mine = True
            else:
                flight.stops = (*flight.stops, stop)
                mine = False
        if mine:
            return _fly(flight, store, projects, ids, every, outline)
        if not _landed(flight, stop):
            return []
        if flight.error is not None:
            # The same error, not a call of our own: with the database stalled ours would wait out a
            # deadline of its own after the one just waited out. (Raised in each waiter's thread: its
            # traceback gathers their frames too.)
            raise flight.error
        if wanted <= flight.entries.keys():
            return [flight.entries[pid] for pid in ids]
        # The one in flight was stopped before some of these projects: read them (again in flight).


def _fly(flight: _Flight, store: Store, projects: Sequence[Project], ids: Sequence[int], every: bool,
         outline: Outline | None) -> list[Kept]:
    """`_kept_savings`, its entries or its error left in ``flight`` for the callers waiting on it."""
    try:
        flight.entries = _kept_savings(store, projects, every, outline, flight.abandoned)
    except BaseException as exc:
        flight.error = exc
        raise
    finally:
        with _LOCK:  # gone before ``done``: a call from now on reads for itself and sees what changed since
            _FLIGHTS[store].remove(flight)
        flight.done.set()
    return [flight.entries[pid] for pid in ids if pid in flight.entries]


def _landed(flight: _Flight, stop: threading.Event | None) -> bool:
    """Wait for ``flight`` to end; False when ``stop`` is set first."""
    if stop is None:
        flight.done.wait()
        return True
    while not flight.done.wait(_STOP_POLL_S):
        if stop.is_set():
            return False
    return True


def _kept_savings(store: Store, projects: Sequence[Project], every: bool, outline: Outline | None,
                  stopped: Callable[[], bool]) -> dict[int, Kept]:
    """Each project's `Kept` savings by project id (once ``stopped()``: those made before, none when it
    holds before the runs are read). Looked at between projects: one takes milliseconds."""
    ids = [int(p.id or 0) for p in projects]
    changes = {pid: tuple(ChangePoint(run_id, kind) for run_id, kind in points if kind in REBASE_LABELS)
               for pid, points in store.recommendations.change_points_by_project(ids).items()}
    versions = store.runs.figure_versions(ids)
    with _LOCK:
        kept = dict(_KEPT.get(store, {}))

    def current(pid: int) -> Kept | None:
        """The kept entry, when the project's runs and change points are unchanged since (and its outline
        is there). The change points count because `compared` is made of them: the planner records a
        code change in its own transaction on `recommendations`, after its runs and without touching
        them, and a kept `compared` of () would leave the signatures out until the next run."""
        entry = kept.get(pid)
        if entry is None or versions is None or entry.version != versions.get(pid, _NO_VERSION):
            return None
        if entry.key[2] != changes.get(pid, ()):
            return None
        return entry if outline is None or entry.outline is not None else None

    if stopped():  # before the longest read (every run's figures on SQLite)
        return {}
    rows_of = _read(store, [pid for pid in ids if current(pid) is None])
    compared = {pid: _compared(rows_of.get(pid, []), changes.get(pid, ())) if (entry := current(pid)) is None
                else entry.compared for pid in ids}
    # Stage signatures, read again only where the runs or their applications' stages changed.
    coded = [pid for pid in ids if compared[pid]]
    stage_versions = store.runs.stage_versions(coded)
    signatures: dict[int, dict[int, str | None]] = {}
    for pid in coded:
        entry = current(pid)
        if entry is not None and stage_versions is not None and entry.stages == stage_versions.get(pid, ()):
            signatures[pid] = entry.signatures
    signatures.update(_signatures(store, {pid: compared[pid] for pid in coded if pid not in signatures}))
    rates: dict[str, tuple[PlanRate | None, tuple[Any, ...] | None]] = {}  # by workspace: once a call
    keys: dict[int, tuple[Any, ...]] = {}
    for project, pid in zip(projects, ids, strict=True):
        if project.workspace not in rates:
            rate = workspace_dbu_rate(store, project)
            rates[project.workspace] = (rate, None if rate is None else (rate.plan, *(rate(s) for s in SKUS)))
        rows = rows_of.get(pid)
        # The runs as read: their versions, or (SQLite) a hash of every figure of every run.
        runs_key = versions.get(pid, _NO_VERSION) if versions is not None else (hash(tuple(rows or ())), len(rows or ()))
        keys[pid] = (project, runs_key, changes.get(pid, ()), rates[project.workspace][1],
                     tuple(sorted(signatures.get(pid, {}).items())))
    # The project, its change points, its plan or its runs' stages changed though its runs did not:
    # they are read for these alone.
    rows_of.update(_read(store, [pid for pid in ids if pid not in rows_of and kept[pid].key != keys[pid]]))
    fresh: dict[int, Kept] = {}
    configs: dict[str | None, ClusterConfig | None] = {}
    for project, pid in zip(projects, ids, strict=True):
        if stopped():
            break
        rows = rows_of.get(pid)
        stages = None if stage_versions is None else stage_versions.get(pid, ())
        if rows is None:  # its runs unchanged and its key the kept one's (else it was read above)
            fresh[pid] = dataclasses.replace(kept[pid], stages=stages)
            continue
        entry = kept.get(pid)
        if entry is None or entry.key != keys[pid]:
            entry = _computed(keys[pid], project, runs_of(pid, rows, configs), rates[project.workspace][0],
                              changes.get(pid, ()), signatures.get(pid, {}))
        fresh[pid] = dataclasses.replace(entry, version=None if versions is None else versions.get(pid, _NO_VERSION),
                                         compared=compared[pid], stages=stages,
                                         outline=None if outline is None else outline(project, rows))
    with _LOCK:
        mine = _KEPT.setdefault(store, {})
        mine.update(fresh)
        if every and len(fresh) == len(ids):  # every project was read: a deleted one's entry goes
            for gone in set(mine) - set(fresh):
                del mine[gone]
    return fresh


def _read(store: Store, project_ids: Sequence[int]) -> dict[int, list[tuple]]:
    """These projects' runs' figures, by project id (a project without runs: none)."""
    found = store.runs.figures_read(project_ids)
    return {pid: found.get(pid, []) for pid in project_ids}


def _computed(key: tuple[Any, ...], project: Project, runs: list[Run], rate: PlanRate | None,
              changes: Sequence[ChangePoint], signatures: Mapping[int, str | None]) -> Kept:
    """What `savings_report` makes of one project (its currency: the first costed run's)."""
    currency = next((r.cost.currency for r in runs if r.cost), None)
    savings = project_savings(project, runs, rate, changes, signatures)
    waiting = None if savings is not None else no_savings_yet(project, runs, rate, currency or "USD")
    return Kept(key, savings, waiting, currency)


def _report(entries: Sequence[Kept]) -> SavingsReport:
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
         billed_cloud_cost, cost_per_input_gb, used_by_models, execution_only, sla_s) in rows:
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
                       execution_only=bool(execution_only), sla_s=sla_s))
    out.sort(key=lambda r: (r.start_ms, r.id))
    return out


def _compared(rows: Sequence[tuple], changes: Iterable[ChangePoint]) -> tuple[int, ...]:
    """`savings.stored_signatures`' runs (none without a code change): the code changes' runs and the runs
    without a recommendation. Columns: id first, recommendation_id ninth (FIGURE_COLUMNS)."""
    points = {c.run_id for c in changes if c.kind == CODE_CHANGE}
    if not points:
        return ()
    return tuple(int(r[0]) for r in rows if r[8] is None or int(r[0]) in points)


def _signatures(store: Store, compared: Mapping[int, Sequence[int]]) -> dict[int, dict[int, str | None]]:
    """`savings.stored_signatures` of these projects (by project id, those with a code change), in one
    batched read for all of them (`savings.run_signatures`)."""
    found = run_signatures(store, [i for ids in compared.values() for i in ids])
    return {pid: {i: found[i] for i in ids} for pid, ids in compared.items() if ids}
