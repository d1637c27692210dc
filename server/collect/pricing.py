"""Pricing one run as the collector stores it: a cluster instance read and priced on its own, the
catalog estimate with the cloud bill when one is asked for, and the sum over a run's several
cluster instances (a task retried on a new job cluster, a repair's clusters).

Split from `server.collect.collector`: `Pricing` is one of `Collector`'s parts (its methods read
the collector's state), and `server.collect.collector` re-exports `_summed`.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from typing import Any

from server.clock import Clock
from server.collect.build import policy_fallback, with_pool_node_types
from server.collect.cluster_reads import _cluster_or_none, _driver_spot, cluster_events_or_none, pools_of
from server.collect.run_notes import _joined, unpriced_note
from server.collect.run_parse import ClusterRun
from server.collect.usage import ClusterTimeline, cluster_timeline, cluster_usage, node_types_unknown
from server.costing.billing import BillSource, RecostPolicy, price_run
from server.costing.catalog import PriceCatalog
from server.costing.errors import TrimtabCostError
from server.costing.recost import several_clusters_note
from server.databricks import DatabricksGateway
from server.domain import CostBreakdown, Project, Workspace

log = logging.getLogger("server.collect.collector")  # the collector's log: its lines, its name


class Pricing:
    """`Collector`'s pricing of what it collects (mixed into `Collector`, whose state it reads)."""

    _catalog: PriceCatalog | None
    _bill_source_for: Callable[[Workspace], BillSource | None] | None
    _clock: Clock
    _recost_policy: RecostPolicy

    def _instance_priced(self, workspace: Workspace, gateway: DatabricksGateway, piece: ClusterRun,
                         instance: tuple[str, int, int], input_bytes: int | None = None, *,
                         project: Project, read_bill: bool = True) -> _PricedInstance:
        """One cluster instance the piece's tasks ran on (a retry's or a repair's new job cluster),
        read and priced on its own: each cluster as it ran, on its own spec (the job's settings may
        have changed between a failure and its repair, which started its clusters from the new ones).
        A cluster purged since is sized from ``project``'s kept policy copy where its policy fills the
        node types in (`policy_fallback`), as the run's own cluster is."""
        cluster_id, start_ms, end_ms = instance
        cluster = _cluster_or_none(gateway, cluster_id)
        events = cluster_events_or_none(gateway, cluster_id) if cluster is not None else None
        own = dict((cluster or {}).get("spec") or {}) or piece.spec
        ran = with_pool_node_types(own, cluster, pools_of(gateway, own),
                                   policy_values=policy_fallback(project, own, cluster))
        timeline = cluster_timeline(ran, events or [], fallback_start_ms=start_ms, fallback_end_ms=end_ms,
                                    driver_is_spot=_driver_spot(cluster), cloud=workspace.cloud)
        cost, why = self._priced(workspace, cluster_id, timeline, ran, input_bytes, read_bill=read_bill)
        return _PricedInstance(cluster, timeline, cost, why)

    def _priced(self, workspace: Workspace, cluster_id: str, timeline: ClusterTimeline, spec: dict[str, Any],
                input_bytes: int | None, *, read_bill: bool = True) -> tuple[CostBreakdown | None, str]:
        """The run's cost, or None and why it could not be priced (the run's note: `unpriced_note`;
        "" without a catalog, where nothing was tried). ``read_bill`` False: the catalog estimate
        alone, the cloud bill not asked for (a stored bill is kept: `_keeping_bill`)."""
        if self._catalog is None:
            return None, ""
        if unknown := node_types_unknown(spec):  # said so, not "unknown node type ''"
            log.warning("run on cluster %s not priced: %s", cluster_id, unknown)
            return None, unpriced_note(self._catalog.version, unknown)
        bills = self._bill_source_for(workspace) if self._bill_source_for is not None and read_bill else None
        try:
            usage = cluster_usage(timeline, spec, cloud=workspace.cloud,
                                  region=workspace.pricing_region,
                                  plan=workspace.plan, input_bytes=input_bytes)
            return price_run(usage, self._catalog, cluster_id=cluster_id, start_ms=timeline.start_ms,
                             end_ms=timeline.end_ms, bill_source=bills, now_ms=self._clock.now_ms(),
                             policy=self._recost_policy), ""
        except TrimtabCostError as err:  # e.g. a node type the catalog lacks: stored unpriced, said why
            log.warning("run on cluster %s not priced: %s", cluster_id, err)
            return None, unpriced_note(self._catalog.version, err.message)


@dataclasses.dataclass(frozen=True)
class _PricedInstance:
    """One cluster instance of a run, read and priced (`Collector._instance_priced`)."""

    cluster: Mapping[str, Any] | None
    timeline: ClusterTimeline
    cost: CostBreakdown | None
    why: str  # why it could not be priced (`unpriced_note`), "" when priced or nothing was tried


def _summed(costs: list[CostBreakdown | None], input_bytes: int | None, why: str,
            clusters: list[str] | None = None) -> CostBreakdown | None:
    """One run's cost over its cluster instances (a repaired run's original and repair clusters, a
    retried task's clusters; ``why`` says which; ``clusters``: their ids, in the order of ``costs``);
    None when any of them could not be priced (no catalog, or a node type it lacks). Its note says it
    is summed, which keeps re-costing from replacing it with one cluster's bill
    (`server.costing.recost.over_several_clusters`).

    Billed only when every cluster's whole bill was read: DBUs plus the bills, each part's estimate
    beside. Otherwise the sum of every part's estimate (DBU + compute + storage), whatever bills some
    clusters had: a bill for one cluster added to another's estimate is neither, and its parts would
    not add up to its total. The note names the clusters whose bill was read, and its amount."""
    if not costs or any(c is None for c in costs):
        return None
    parts = [c for c in costs if c is not None]
    names = list(clusters or [])
    names += [f"#{i + 1}" for i in range(len(names), len(parts))]
    dbu = sum(c.dbu_cost for c in parts)
    compute = sum(c.compute_cost for c in parts)
    storage = sum(c.storage_cost for c in parts)
    billed_all = all(c.source == "billed" and c.billed_cloud_cost is not None for c in parts)
    if billed_all:
        billed_cloud: float | None = sum(float(c.billed_cloud_cost or 0.0) for c in parts)
        total = dbu + float(billed_cloud or 0.0)
        notes = [c.note for c in parts if c.note]
    else:
        billed_cloud = None
        total = dbu + compute + storage
        # A billed part's note says its compute and storage came from its bill: not so in this sum.
        notes = [c.note for c in parts if c.note and c.billed_cloud_cost is None]
        read = [f"{name} {c.billed_cloud_cost:.2f} {c.currency} ({'final' if c.source == 'billed' else 'not final'}, "
                f"its estimate {c.compute_cost + c.storage_cost:.2f})"
                for name, c in zip(names, parts, strict=True) if c.billed_cloud_cost is not None]
        if read:
            notes.append(f"the cloud bill of cluster {', '.join(read)} was read but not of every cluster: "
                         "compute and storage are the estimates of all")
    return CostBreakdown(
        dbu_cost=dbu, compute_cost=compute, storage_cost=storage, total=total, dbus=sum(c.dbus for c in parts),
        currency=parts[0].currency,
        source="billed" if billed_all else "estimate",
        billed_cloud_cost=billed_cloud,
        cost_per_input_gb=total / (input_bytes / 1e9) if input_bytes else None,
        used_by_models="billed" if billed_all else "estimate",
        note=_joined("; ".join(dict.fromkeys(notes)), several_clusters_note(len(parts), why, billed=billed_all)))
