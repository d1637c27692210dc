"""Re-cost stored runs when their cloud bill lands.

Cloud bills arrive hours after a run, so a run is first stored with the
catalog estimate. Whoever schedules background work (collection's loop, the
server's timer) calls ``recost_runs`` now and then with the runs that may
still get a bill. Only the cloud part changes: the stored DBU cost and the
estimate stay, the bill is set beside them (``reconcile.with_bill``) once all of
it has landed (``billing.apply_bill``: every day of the window the cost was priced over, the
cluster's timeline (`bill_window`), and a
final figure or one last look after the settle time). A bill
that does not validate is reported and the stored cost is left untouched;
an unreachable cloud just leaves the run waiting for the next pass. A pool-backed run's bill is
never asked for (its instances carry the pool's tags, not the cluster's: `notes.NOTE_POOL`); its
note says so. Whatever a pass finds, a changed note is stored: 48 h on, a run whose cluster has no
tagged line says so ("no cloud bill 48 h after the run ...") instead of waiting for billing lag.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from models.observation import REPAIRED
from server.costing.billing import (
    DEFAULT_RECOST_POLICY,
    HOUR_MS,
    BillSource,
    RecostPolicy,
    apply_bill,
    should_recost,
    usable,
)
from server.costing.errors import MalformedBill
from server.costing.notes import NOTE_POOL, NOTE_REFUSED_PREFIX, SEVERAL_CLUSTERS, pool_noted
from server.costing.reconcile import SOURCE_ESTIMATE
from server.domain import CostBreakdown, Run
from server.errors import FailedPrecondition, Unavailable
from server.spec import pool_fields

# Parts of a stored note that re-costing keeps when it writes its own: the collector's word that a
# run's workers were priced on demand (`server.collect.collector.PRICED_ON_DEMAND_NOTE`, which it
# looks for to price the run again, and `ON_DEMAND_KEPT_NOTE`), which a bill does not make untrue
# (the estimate parts stay beside it).
KEPT_NOTE_PARTS = ("workers priced on demand",)


@dataclass
class RecostReport:
    billed: list[int] = field(default_factory=list)  # run ids now priced from their (final) bill
    waiting: list[int] = field(default_factory=list)  # no whole bill yet, or the cloud could not be reached
    rejected: dict[int, str] = field(default_factory=dict)  # run id -> why the bill was refused
    errors: dict[int, str] = field(default_factory=dict)  # run id -> why the bill could not be read
    pool_backed: list[int] = field(default_factory=list)  # runs on pool instances: no bill asked for


def recost_runs(
    runs: Iterable[Run],
    bill_source: BillSource | None,
    *,
    now_ms: int,
    set_cost: Callable[[int, CostBreakdown], Any],
    policy: RecostPolicy = DEFAULT_RECOST_POLICY,
) -> RecostReport:
    """Looks for the bill of every run ``should_recost`` accepts; stores the billed breakdown via ``set_cost``."""
    report = RecostReport()
    # Unusable credentials read no bill: their runs keep the estimate (and its note) without an
    # error every pass.
    bill_source = usable(bill_source)
    for run in runs:
        if run.id is None or run.cost is None or not run.cluster_id:
            continue
        if REPAIRED in run.anomalies or over_several_clusters(run.cost):
            # A repaired run's cost adds up several job clusters (the first attempt's and each
            # repair's), as does a run whose task was retried on a new job cluster, and its
            # cluster_id names only the last: that one cluster's bill would replace them all. Asking
            # for every cluster's bill instead would need the other clusters' ids, which the run does
            # not store (only Databricks' runs/get lists them: a call per run and pass, and gone once
            # the run is purged), so such a run keeps its estimate, which covers every cluster, and
            # its note says it is summed over them (`several_clusters_note`).
            continue
        if bill_source is not None and pool_backed(run):
            report.pool_backed.append(run.id)
            if run.cost.source == SOURCE_ESTIMATE and run.cost.billed_cloud_cost is None and not pool_noted(run.cost.note):
                # Collected before the bill was looked for (a note promising it), or before
                # Trimtab knew a pool's bill cannot be read: say why it never comes.
                set_cost(run.id, with_kept_parts(dataclasses.replace(run.cost, note=NOTE_POOL), run.cost.note))
            continue
        start_ms, end_ms = bill_window(run)
        if not should_recost(run.cost, end_ms, now_ms, bill_source is not None, policy):
            continue
        assert bill_source is not None  # should_recost is False without one
        try:
            lines = bill_source.cluster_bill(run.cluster_id, start_ms, end_ms)
            cost = apply_bill(run.cost, lines, start_ms=start_ms, end_ms=end_ms, input_bytes=run.input_bytes,
                              age_ms=now_ms - end_ms, policy=policy)
        except MalformedBill as exc:
            report.rejected[run.id] = exc.message
            # The stored figures stay; a plain estimate's note says why the bill was not taken (it
            # promised the bill). One with a bill beside it keeps that bill and its note.
            said = f"{NOTE_REFUSED_PREFIX} ({exc.message})"
            if run.cost.billed_cloud_cost is None and said not in run.cost.note:  # e.g. said at collection
                refused = f"{said}: estimate kept; looked at again until {policy.give_up_after_ms // HOUR_MS} h " \
                          "after the run"
                set_cost(run.id, with_kept_parts(dataclasses.replace(run.cost, note=refused), run.cost.note))
            continue
        except (Unavailable, FailedPrecondition) as exc:
            report.errors[run.id] = exc.message
            report.waiting.append(run.id)
            continue
        cost = with_kept_parts(cost, run.cost.note)
        if cost.source == SOURCE_ESTIMATE:  # nothing, part of the window, or a bill not final yet
            report.waiting.append(run.id)
            # The note says what landed (and a whole bill not final yet is set beside the estimate);
            # with nothing landed it may still change: an error ended, or the settle time passed
            # with no line at all, which the note then says instead of promising the bill.
            if cost != run.cost:
                set_cost(run.id, cost)
            continue
        if cost != run.cost:
            set_cost(run.id, cost)
        report.billed.append(run.id)
    return report


def pool_backed(run: Run) -> bool:
    """True when ``run``'s cluster took its instances from a pool (its configuration names one, or its
    cost says so): their cloud lines carry the pool's tags, never its ClusterId (`notes.NOTE_POOL`)."""
    spec = run.config.spec if run.config is not None else None
    return bool(spec and pool_fields(spec)) or (run.cost is not None and pool_noted(run.cost.note))


def with_kept_parts(cost: CostBreakdown, stored_note: str) -> CostBreakdown:
    """``cost`` with the parts of the ``stored_note`` it replaces that re-costing keeps (`KEPT_NOTE_PARTS`)."""
    kept = [part for part in stored_note.split("; ") if part.startswith(KEPT_NOTE_PARTS) and part not in cost.note]
    if not kept:
        return cost
    return dataclasses.replace(cost, note="; ".join([cost.note, *kept]) if cost.note else "; ".join(kept))


def bill_window(run: Run) -> tuple[int, int]:
    """The span a run's bill is asked for: the one its cost was priced over (its cluster's timeline,
    CREATING..TERMINATING, kept on the cost), else the run's own start and end (a cost stored before
    the window was kept). A cluster that terminates after UTC midnight past the last task bills that
    day too: asked over the run's bounds, that day would be missing and a partial bill taken as final."""
    cost = run.cost
    if cost is not None and cost.window_start_ms is not None and cost.window_end_ms is not None:
        return cost.window_start_ms, cost.window_end_ms
    return run.start_ms, run.end_ms




def several_clusters_note(count: int, why: str, *, billed: bool) -> str:
    """The note of a run's cost summed over ``count`` job clusters, ``why`` (e.g. "repaired");
    ``billed``: every cluster's whole bill was read at collection. An estimate says it stays one:
    re-costing does not look for its bill (`recost_runs`), whatever its clusters' notes promised."""
    said = f"over the run's {count} clusters ({why})"
    return said if billed else f"{said}: the estimate stays, not re-costed from one cluster's bill"


def over_several_clusters(cost: CostBreakdown | None) -> bool:
    """True when ``cost`` adds up several job clusters (`several_clusters_note`)."""
    return cost is not None and SEVERAL_CLUSTERS.search(cost.note) is not None
