"""Runs priced again after they were stored: the ones the catalog could not price (priced again once
the catalog changes, within the re-cost window), and the ones priced with their workers on demand
before Trimtab read a spec's unset availability as Databricks' default (priced again from their
cluster's events while Databricks keeps them, a bill already read kept).

Split from `server.collect.collector`: `Repricing` is one of `Collector`'s parts (its methods read
the collector's state), and `server.collect.collector` re-exports the constants.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable

from models.observation import REPAIRED
from server.apply import project_lock
from server.clock import Clock
from server.collect.cluster_reads import (
    _cluster_or_none,
    _run_or_none,
    _stored_timeline,
    cluster_events_or_none,
)
from server.collect.pricing import _summed
from server.collect.repairs import peak_over_attempts
from server.collect.run_notes import (
    _joined,
    unpriced_note,
    unpriced_reason,
    with_unpriced_note,
    without_unpriced_note,
)
from server.collect.run_parse import cluster_runs
from server.costing.billing import RecostPolicy
from server.costing.catalog import PriceCatalog
from server.databricks import DatabricksGateway
from server.domain import CostBreakdown, Project, Run, Workspace
from server.store import Store

log = logging.getLogger("server.collect.collector")  # the collector's log: its lines, its name

# A run the catalog could not price (a node type or region it lacks) is stored without a cost and
# says why at the end of its message, naming the catalog version tried (`unpriced_note`). Each poll
# prices again the unpriced runs that ended within the re-cost window (`RecostPolicy.give_up_after_ms`)
# and were not tried with this server's catalog version, oldest first, at most this many per project
# (the rest in the next polls): a restart on a refreshed catalog (`trimtab prices update`) prices them.
# One try per run and catalog version. By time, not the newest N: a job every 5 minutes pushed a run
# out of its newest 20 in 100 minutes, well inside the 72 h window.
REPRICE_RUNS_PER_POLL = 200
# The cost note of a run stored before an availability its spec leaves unset was read as the cloud's
# default (`server.spec.default_availability`): its workers were priced on demand where they ran on
# spot (migration 0013 notes such costs with this, and must keep its own copy of the text). Each poll
# prices such runs again from their cluster's events while Databricks keeps them (`EVENTS_KEPT_MS`), at
# most `REPRICE_RUNS_PER_POLL` per project (`Collector._reprice_on_demand`); older ones keep their cost
# and the note. Priced again from the spec and bounds alone, a resized or lossy run would trade one
# error for another, so a run whose cluster is gone keeps its cost, and says so (`ON_DEMAND_KEPT_NOTE`,
# which is not looked for again).
PRICED_ON_DEMAND_NOTE = ("workers priced on demand: stored before Trimtab read an availability the spec leaves "
                         "unset as Databricks' default (SPOT_WITH_FALLBACK on AWS)")
ON_DEMAND_KEPT_NOTE = ("workers priced on demand where Databricks ran them on spot (the spec leaves the "
                       "availability unset): kept, {why}")
EVENTS_KEPT_MS = 30 * 24 * 3600 * 1000  # Databricks keeps a terminated cluster's events for 30 days


class Repricing:
    """`Collector`'s re-pricing of stored runs, once per job's full read (mixed into `Collector`)."""

    _store: Store
    _catalog: PriceCatalog | None
    _clock: Clock
    _recost_policy: RecostPolicy
    _reprice_left: set[int]
    _on_run_collected: Callable[[Run], None] | None

    # ------------------------------------------------------------ runs not priced

    def _reprice(self, workspace: Workspace, gateway: DatabricksGateway, active: list[Project]) -> list[Run]:
        """Price again the recent runs stored without a cost that this catalog has not tried (see
        `REPRICE_RUNS_PER_POLL`); the ones priced now. A run still not priced keeps why, with this
        catalog's version, so it is not tried again until the catalog changes."""
        if self._catalog is None:
            return []
        since = self._clock.now_ms() - self._recost_policy.give_up_after_ms
        tried = unpriced_note(self._catalog.version, "")
        priced: list[Run] = []
        for project in active:
            unpriced = self._store.runs.unpriced_since(int(project.id or 0), since, tried, REPRICE_RUNS_PER_POLL)
            if len(unpriced) >= REPRICE_RUNS_PER_POLL:
                self._reprice_left.add(int(project.id or 0))  # the rest at the next poll
            for run in unpriced:
                if run.cost is not None or not run.cluster_id or run.end_ms < since or REPAIRED in run.anomalies \
                        or unpriced_reason(run.message).startswith(tried):
                    continue  # priced; never launched; past the window; several clusters'; tried with this catalog
                with project_lock(int(project.id or 0), self._store):
                    fresh = self._store.runs.get(int(run.id or 0))
                    if fresh.cost is not None or fresh.end_ms != run.end_ms:
                        continue  # priced or repaired meanwhile
                    cost, why, peak = self._stored_run_priced(workspace, gateway, project, fresh)
                    fresh = with_peak(fresh, peak)
                    if cost is None:
                        self._store.runs.update(dataclasses.replace(
                            fresh, message=with_unpriced_note(fresh.message, why)))
                        continue
                    stored = self._store.runs.update(dataclasses.replace(
                        fresh, cost=cost, message=without_unpriced_note(fresh.message)))
                    log.info("run %s priced with catalog %s: %.2f %s", stored.id, self._catalog.version,
                             cost.total, cost.currency)
                    priced.append(stored)
            # Planned again with the costs once per project, after its newest re-priced run: planning
            # reads the whole history, and once per run made up to 200 plans (and recommendations
            # superseding each other) in one poll after a catalog update.
            newest = max((r for r in priced if r.project_id == project.id), key=lambda r: r.id or 0, default=None)
            if newest is not None and self._on_run_collected is not None:
                with project_lock(int(project.id or 0), self._store):
                    self._plan_after(newest, "re-priced run")
        return priced

    def _reprice_on_demand(self, workspace: Workspace, gateway: DatabricksGateway, active: list[Project]) -> list[Run]:
        """Price again, from their cluster's events, the runs whose cost still says their workers were
        priced on demand (`PRICED_ON_DEMAND_NOTE`) and that ended while Databricks keeps the events; the
        ones priced now. One whose cluster is gone keeps its cost, noted so, and is not looked at again.
        The project is planned again after its newest, as `_reprice` does."""
        if self._catalog is None:
            return []
        since = self._clock.now_ms() - EVENTS_KEPT_MS
        priced: list[Run] = []
        for project in active:
            pid = int(project.id or 0)
            noted = self._store.runs.cost_noted_since(pid, since, PRICED_ON_DEMAND_NOTE, REPRICE_RUNS_PER_POLL)
            if len(noted) >= REPRICE_RUNS_PER_POLL:
                self._reprice_left.add(pid)  # the rest at the next poll
            for run in noted:
                if REPAIRED in run.anomalies:
                    continue  # several clusters' sum, which re-pricing one cannot replace (`_reprice`)
                with project_lock(pid, self._store):
                    fresh = self._store.runs.get(int(run.id or 0))
                    if fresh.cost is None or PRICED_ON_DEMAND_NOTE not in fresh.cost.note:
                        continue  # priced meanwhile
                    held = _cluster_or_none(gateway, fresh.cluster_id) is not None and \
                        cluster_events_or_none(gateway, fresh.cluster_id) is not None
                    # A bill already read is kept (`_keeping_bill`): only the estimate is priced again,
                    # and the cloud is not asked. Asked again, a bill it could not answer then (throttled,
                    # credentials removed) replaced the bill with the estimate for good: the run is past
                    # the re-cost window, which never looks again.
                    # A bill not final yet is asked for again (it may be final now), and kept if the
                    # answer is weaker.
                    billed = fresh.cost.source == "billed"
                    cost, why, peak = self._stored_run_priced(workspace, gateway, project, fresh,
                                                              read_bill=not billed) if held else (None, "", None)
                    if cost is not None and _strength(cost) < _strength(fresh.cost):
                        cost = _keeping_bill(fresh.cost, cost, fresh.input_bytes)
                    if cost is None:
                        kept = ON_DEMAND_KEPT_NOTE.format(
                            why=why or "Databricks no longer holds the cluster's events to price them again")
                        self._store.runs.set_cost(int(fresh.id or 0), dataclasses.replace(
                            fresh.cost, note=fresh.cost.note.replace(PRICED_ON_DEMAND_NOTE, kept)))
                        continue
                    # The whole row when its peak is filled in (read under the project's lock, as
                    # every writer of the run's row does); else the cost alone, as always.
                    filled = with_peak(fresh, peak)
                    stored = self._store.runs.set_cost(int(fresh.id or 0), cost) if filled is fresh \
                        else self._store.runs.update(dataclasses.replace(filled, cost=cost))
                    log.info("run %s priced again with its workers' availability: %.2f -> %.2f %s", stored.id,
                             fresh.cost.total, cost.total, cost.currency)
                    priced.append(stored)
            newest = max((r for r in priced if r.project_id == pid), key=lambda r: r.id or 0, default=None)
            if newest is not None and self._on_run_collected is not None:
                with project_lock(pid, self._store):
                    self._plan_after(newest, "re-priced run")
        return priced

    def _stored_run_priced(self, workspace: Workspace, gateway: DatabricksGateway, project: Project,
                           run: Run, *, read_bill: bool = True) -> tuple[CostBreakdown | None, str, int | None]:
        """A stored run priced again (`_reprice`), over every cluster its tasks ran on when a task was
        retried on a new job cluster (the run stores the last cluster's id only: the others are read
        from runs/get, as at collection). ``read_bill`` False: from the catalog alone (`_priced`).
        With the cost and why it is None, the run's peak workers as the clusters' events read now show
        it (None when Databricks no longer holds them): `with_peak` fills it in for a run stored before
        the peak was kept."""
        piece = None
        if "retried" in run.anomalies:
            detail = _run_or_none(gateway, run.databricks_run_id)
            piece = next((p for p in cluster_runs(detail) if p.cluster_key == project.cluster_key), None) \
                if detail is not None else None
        if piece is None or len(piece.instances) < 2:
            timeline, spec = _stored_timeline(gateway, run, workspace.cloud)
            cost, why = self._priced(workspace, run.cluster_id, timeline, spec, run.input_bytes, read_bill=read_bill)
            return cost, why, timeline.peak_workers
        parts = [self._instance_priced(workspace, gateway, piece, i,
                                       run.input_bytes if i[0] == run.cluster_id else None, project=project,
                                       read_bill=read_bill)
                 for i in piece.instances]
        # Over every cluster the cost is summed over; the attempts ran one after another (`peak_over_attempts`).
        return (_summed([p.cost for p in parts], run.input_bytes, "a task retried on a new cluster",
                        [i[0] for i in piece.instances]),
                next((p.why for p in parts if p.why), ""),
                peak_over_attempts(None, (p.timeline.peak_workers for p in parts)))


def with_peak(run: Run, peak: int | None) -> Run:
    """``run`` with its peak workers filled in from ``peak`` (its cluster's events, read again to price
    it) when it has none: a run stored before the peak was kept (migration 0024 left it NULL: the
    events had been read and dropped). Cheap, since re-pricing reads the events anyway, and honest,
    the same events and count as at collection; never over a peak already stored, which its
    collection (or its repair: `server.collect.repairs.peak_over_attempts`) set."""
    # ``run`` itself when nothing is filled in: the caller then writes the cost alone.
    return run if run.peak_workers is not None or peak is None else dataclasses.replace(run, peak_workers=peak)


def _strength(cost: CostBreakdown) -> int:
    """How much of ``cost`` the cloud bill gave: 2 a final bill, 1 a bill beside the estimate, 0 none."""
    if cost.source == "billed":
        return 2
    return 1 if cost.billed_cloud_cost is not None else 0


def _keeping_bill(stored: CostBreakdown, estimate: CostBreakdown, input_bytes: int | None) -> CostBreakdown:
    """``estimate`` (a stored run priced again from the catalog alone) with ``stored``'s cloud bill kept:
    a cost is never replaced by one of a weaker source. A final bill stays the run's compute and
    storage (total = DBUs + bill, billed); a bill not final yet stays beside the new estimate. Only
    the estimate parts (DBU, compute, storage) are new; the note says what they were and are."""
    bill = float(stored.billed_cloud_cost or 0.0)
    final = stored.source == "billed"
    was, now = stored.compute_cost + stored.storage_cost, estimate.compute_cost + estimate.storage_cost
    total = estimate.dbu_cost + (bill if final else now)
    said = (f"compute+storage estimate priced again with the workers' availability: {was:.2f} -> {now:.2f} "
            f"{estimate.currency}; the cloud bill read before ({bill:.2f}) kept")
    note = stored.note.replace(PRICED_ON_DEMAND_NOTE, said) if PRICED_ON_DEMAND_NOTE in stored.note \
        else _joined(stored.note, said)
    return dataclasses.replace(
        estimate, total=total, source=stored.source, billed_cloud_cost=stored.billed_cloud_cost,
        used_by_models=stored.used_by_models, cost_per_input_gb=total / (input_bytes / 1e9) if input_bytes else None,
        note=note, window_start_ms=stored.window_start_ms or estimate.window_start_ms,
        window_end_ms=stored.window_end_ms or estimate.window_end_ms)
