"""Spot risk and disks of an autoscale range are reckoned at the workers its runs used, as its price is
(`server.plan.range_use`), not at the geometric mean of min and max: a 3-16 range that runs at 3
workers spread each spot loss over 6.9 workers' node-hours (its loss rate, and so every spot
candidate's risk, priced 2.3x too low), judged "off spot" a move that put more of the cluster on spot,
and spread other runs' disk use over 6.9 workers."""

from __future__ import annotations

from typing import Any

import pytest

from server.costing.catalog import PriceCatalog, load_catalog
from server.costing.ebs import DiskUse
from server.costing.run_cost import ClusterUsage, NodeUsage, cost_run
from server.domain import ClusterConfig, CostBreakdown, Project, ProjectSettings, Run, Workspace
from server.plan.candidates import config_id_of, leaving_note, project_candidates, spot_losses
from server.plan.range_use import RangeUse, range_use
from server.plan.storage import advise
from server.spec import config_from_spec

GB = 1_000_000_000
WORKSPACE = Workspace(name="ws", host="http://x", cloud="aws", plan="premium")
SPAN_MS = 1_800_000  # a half-hour cluster timeline
RUNTIME_S = (SPAN_MS - 60_000) / 1000


def _spec(first_on_demand: int = 1) -> dict[str, Any]:
    return {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5d.xlarge",
            "autoscale": {"min_workers": 3, "max_workers": 16},
            "aws_attributes": {"availability": "SPOT_WITH_FALLBACK", "first_on_demand": first_on_demand}}


def _run(n: int, spec: dict[str, Any], workers: int, catalog: PriceCatalog, *, lost: bool = False) -> Run:
    """Run ``n`` on ``spec`` with ``workers`` spot workers up over its whole timeline, priced as the
    collector prices it (its DBUs tell its mean workers)."""
    config = config_from_spec(spec)
    start = n * 86_400_000
    nodes = [NodeUsage(config.node_type_id, True, False, start, start + SPAN_MS)]
    nodes += [NodeUsage(config.node_type_id, False, True, start, start + SPAN_MS) for _ in range(workers)]
    cost = cost_run(ClusterUsage("aws", "us-east-1", "premium", "jobs", nodes), catalog)
    breakdown = CostBreakdown(dbu_cost=cost.dbu_cost, compute_cost=cost.compute_cost, storage_cost=cost.storage_cost,
                              total=cost.dbu_cost + cost.compute_cost + cost.storage_cost, dbus=cost.dbus,
                              window_start_ms=start, window_end_ms=start + SPAN_MS)
    return Run(project_id=1, databricks_run_id=n, start_ms=start + 60_000, end_ms=start + SPAN_MS,
               runtime_s=RUNTIME_S, config=config, cost=breakdown, anomalies=("spot_loss",) if lost else ())


def _project(spec: dict[str, Any]) -> Project:
    return Project(workspace="ws", job_id=1, cluster_key="main", current_spec=spec, original_spec=spec,
                   settings=ProjectSettings(keep_autoscaling=True, sla_seconds=3600.0, auto_apply=True), id=1)


def test_spot_losses_count_the_node_hours_the_runs_used() -> None:
    catalog = load_catalog()
    runs = [_run(n, _spec(), 3, catalog, lost=n == 2) for n in range(1, 5)]
    use = range_use([(r, r.config) for r in runs], catalog, "aws", "jobs")  # type: ignore[misc]
    assert use is not None and use.mean_workers == pytest.approx(3.0)
    # 3 spot workers (the driver is the first on-demand node) for each run's runtime.
    assert spot_losses(runs, use).node_hours == pytest.approx(4 * 3 * RUNTIME_S / 3600)
    # The candidates are priced at that rate: the range's spot risk is its 3 spot workers at it.
    rate = spot_losses(runs, use).per_node_hour
    candidates = {c.config_id: c for c, _ in project_candidates(_project(_spec()), WORKSPACE, catalog, runs)}
    own = candidates[config_id_of(config_from_spec(_spec()))]
    assert own.interruption_rate == pytest.approx(rate * 3)
    # Counted over the geometric mean (6.9 spot workers) the rate was 2.3x lower, and the risk with it.
    assert own.interruption_rate > 1.5 * spot_losses(runs).per_node_hour * 3


def test_a_move_is_off_spot_by_the_share_of_the_workers_the_runs_used() -> None:
    # 3-16 with 2 workers on demand, run at 3 workers: one of its 3 workers is on spot. A fixed 2
    # workers with 1 on demand puts half on spot: more, not fewer, though at the geometric mean of the
    # range (4.9 of 6.9 on spot) it read as a move off spot, blamed on the losses.
    catalog = load_catalog()
    spec = _spec(first_on_demand=3)
    runs = [_run(n, spec, 3, catalog, lost=n in (2, 3)) for n in range(1, 5)]
    chosen = ClusterConfig(node_type_id="m5d.xlarge", driver_node_type_id="m5d.xlarge", num_workers=2,
                           availability="SPOT_WITH_FALLBACK", first_on_demand=2)
    note = leaving_note(_project(spec), catalog, "aws", runs, chosen)
    assert "fewer nodes on spot" not in note
    # All workers on demand is a move off spot whatever the size.
    on_demand = ClusterConfig(node_type_id="m5d.xlarge", driver_node_type_id="m5d.xlarge", num_workers=2,
                              availability="ON_DEMAND")
    assert "fewer nodes on spot" in leaving_note(_project(spec), catalog, "aws", runs, on_demand)


def test_disk_use_of_another_size_is_spread_over_the_workers_the_runs_used() -> None:
    # 600 GB written by a run on another size; the 3-16 range runs at 3 workers: 200 GB a node (300
    # with headroom), not 600 / 6.9 = 87 GB, which would fill its disks.
    catalog = load_catalog()
    config = ClusterConfig(node_type_id="m5.xlarge", driver_node_type_id="m5.xlarge", autoscale_min=3,
                           autoscale_max=16, availability="ON_DEMAND", ebs_volume_type="GENERAL_PURPOSE_SSD",
                           ebs_volume_count=1, ebs_volume_size_gb=100)
    uses = [DiskUse(spill_bytes=0, shuffle_write_bytes=600 * GB, workers=8)]
    use = RangeUse(share=0.0, runs=4, mean_workers=3.0)
    advised, advice = advise(config, uses, 3600.0, catalog, cloud="aws", region="us-east-1", runs_per_month=30,
                             use=use)
    assert advice is not None and advice.needed_gb_per_node == pytest.approx(300)
    assert advised.ebs_volume_count * advised.ebs_volume_size_gb == 300
    assert "200.0 GB per node over 3.0 workers (as far into 3-16 workers as the job's autoscaling runs went)" \
        in advice.reason
    # Both volume sets priced over the 3 workers and the driver the job runs on, not 16 + 1.
    _, at_max = advise(config, uses, 3600.0, catalog, cloud="aws", region="us-east-1", runs_per_month=30)
    assert at_max is not None
    assert advice.current_monthly_cost == pytest.approx(at_max.current_monthly_cost * 4 / 17)


def test_an_imported_range_that_lost_spot_nodes_has_its_twins_on_demand() -> None:
    # The grid's ranges are n//2..n: 3-16 is none of them, so after its losses the job could leave spot
    # only by changing its size too. Its twins on demand and with half its first workers on demand are
    # candidates, priced at the workers its runs used.
    catalog = load_catalog()
    runs = [_run(n, _spec(), 3, catalog, lost=n == 2) for n in range(1, 4)]
    candidates = {c.config_id: c for c, _ in project_candidates(_project(_spec()), WORKSPACE, catalog, runs)}
    spot, on_demand, half = (candidates.get(f"m5d.xlargexas3-16{s}") for s in ("-spot", "", "-spot-1od"))
    assert spot is not None and on_demand is not None and half is not None
    assert on_demand.nodes == spot.nodes == half.nodes == 3 and on_demand.interruption_rate == 0.0
    assert on_demand.price_per_hour == pytest.approx(spot.on_demand_price_per_hour)
    assert spot.price_per_hour < half.price_per_hour < on_demand.price_per_hour
    assert half.interruption_rate == pytest.approx(spot.interruption_rate * 2 / 3)
    # Without a loss, no such twins: the space is what it was.
    clean = [_run(n, _spec(), 3, catalog) for n in range(1, 4)]
    ids = {c.config_id for c, _ in project_candidates(_project(_spec()), WORKSPACE, catalog, clean)}
    assert "m5d.xlargexas3-16" not in ids and "m5d.xlargexas3-16-spot-1od" not in ids
