"""An autoscale range is modelled and priced at the workers its runs used (their stored DBUs over the
cluster's timeline), not at the geometric mean of min and max: a job that stays at its min was priced
+39..+49% and had a max it never paid for cut as "cheapest"; one that runs at its max was priced low."""

from __future__ import annotations

from typing import Any

import pytest

from server.costing.catalog import PriceCatalog, load_catalog
from server.costing.run_cost import ClusterUsage, NodeUsage, cost_run
from server.domain import CostBreakdown, Project, ProjectSettings, Run, Workspace
from server.plan.candidates import project_candidates
from server.plan.range_use import range_use, run_mean_workers
from server.spec import config_from_spec

WORKSPACE = Workspace(name="ws", host="http://x", cloud="aws", plan="premium")
SPAN_MS = 1_800_000  # a half-hour cluster timeline
SPEC: dict[str, Any] = {
    "spark_version": "15.4.x-scala2.12", "node_type_id": "m5d.4xlarge",
    "autoscale": {"min_workers": 2, "max_workers": 5},
    "aws_attributes": {"availability": "ON_DEMAND", "first_on_demand": 1},
}
POOL_SPEC: dict[str, Any] = {
    "spark_version": "15.4.x-scala2.12", "instance_pool_id": "p-w",
    "autoscale": {"min_workers": 2, "max_workers": 8}, "aws_attributes": {"first_on_demand": 1},
}
POOLS = {"p-w": {"instance_pool_id": "p-w", "node_type_id": "m5.xlarge", "max_capacity": 20,
                 "aws_attributes": {"availability": "ON_DEMAND"}}}


def _run(n: int, spec: dict[str, Any], workers: list[int], catalog: PriceCatalog,
         pools: dict[str, dict] | None = None) -> Run:
    """Run ``n`` on ``spec``, its cost as the collector prices it: the driver up for the whole
    timeline, and ``workers[i]`` workers up in the i-th equal slice of it."""
    config = config_from_spec(spec, pools)
    start = n * 86_400_000
    nodes = [NodeUsage(config.driver_node_type_id or config.node_type_id, True, False, start, start + SPAN_MS)]
    step = SPAN_MS // len(workers)
    for i, count in enumerate(workers):
        nodes += [NodeUsage(config.node_type_id, False, False, start + i * step, start + (i + 1) * step)
                  for _ in range(count)]
    cost = cost_run(ClusterUsage("aws", "us-east-1", "premium", "jobs", nodes), catalog)
    breakdown = CostBreakdown(dbu_cost=cost.dbu_cost, compute_cost=cost.compute_cost, storage_cost=cost.storage_cost,
                              total=cost.dbu_cost + cost.compute_cost + cost.storage_cost, dbus=cost.dbus,
                              window_start_ms=start, window_end_ms=start + SPAN_MS)
    return Run(project_id=1, databricks_run_id=n, start_ms=start + 60_000, end_ms=start + SPAN_MS,
               runtime_s=(SPAN_MS - 60_000) / 1000, config=config_from_spec(spec), cost=breakdown)


def _measured_per_hour(run: Run) -> float:
    assert run.cost is not None
    return run.cost.total / (SPAN_MS / 3_600_000)


def _prices(spec: dict[str, Any], runs: list[Run], pools: dict[str, dict] | None = None,
            **settings: Any) -> dict[str, float]:
    project = Project(workspace="ws", job_id=1, cluster_key="main", current_spec=spec, original_spec=spec,
                      settings=ProjectSettings(spot_allowed=False, keep_autoscaling=True, **settings), id=1)
    return {c.config_id: c.price_per_hour
            for c, _ in project_candidates(project, WORKSPACE, load_catalog(), runs, pools=pools)}


def test_a_runs_mean_workers_are_read_from_its_stored_dbus() -> None:
    catalog = load_catalog()
    run = _run(1, SPEC, [2, 2, 4, 4], catalog)
    assert run_mean_workers(run, run.config, catalog, "aws", "jobs") == pytest.approx(3.0)  # type: ignore[arg-type]
    use = range_use([(run, run.config)], catalog, "aws", "jobs")  # type: ignore[list-item]
    assert use is not None and use.share == pytest.approx(1 / 3) and use.workers(4, 10) == pytest.approx(6.0)
    no_cost = Run(project_id=1, databricks_run_id=2, config=run.config)
    assert range_use([(no_cost, run.config)], catalog, "aws", "jobs") is None  # type: ignore[list-item]


def test_a_range_whose_runs_stay_at_min_is_priced_near_min() -> None:
    catalog = load_catalog()
    runs = [_run(n, SPEC, [2], catalog) for n in range(1, 4)]
    prices = _prices(SPEC, runs)
    # The review's case: predicted $0.359 a run against $0.241 measured (+49%) at the geometric mean.
    assert prices["m5d.4xlargexas2-5"] == pytest.approx(_measured_per_hour(runs[0]), rel=0.02)
    # Another range of the project, by the same use: at its own min.
    at_four = _run(9, {**SPEC, "autoscale": {"min_workers": 4, "max_workers": 8}}, [4], catalog)
    assert prices["m5d.4xlargexas4-8"] == pytest.approx(_measured_per_hour(at_four), rel=0.02)


def test_a_range_whose_runs_use_their_max_is_priced_near_max() -> None:
    catalog = load_catalog()
    runs = [_run(n, SPEC, [5], catalog) for n in range(1, 4)]
    assert _prices(SPEC, runs)["m5d.4xlargexas2-5"] == pytest.approx(_measured_per_hour(runs[0]), rel=0.02)


def test_without_measured_runs_a_range_keeps_the_geometric_mean() -> None:
    catalog = load_catalog()
    at_mean = _run(1, {k: v for k, v in SPEC.items() if k != "autoscale"} | {"num_workers": 3}, [3], catalog)
    # 2-5 at sqrt(10) = 3.16 workers: a little above a fixed 3 (the cost of one worker's 0.16).
    geo = _prices(SPEC, [])["m5d.4xlargexas2-5"]
    assert geo > _measured_per_hour(at_mean) and geo == pytest.approx(_measured_per_hour(at_mean), rel=0.05)


def test_a_pool_range_that_never_used_its_max_is_not_priced_above_a_narrower_one() -> None:
    """The review's pool job: 2-8 never used more than 2 workers, was priced as 4 ($3.42/h against $1.99/h
    measured) and its max cut to 4 as the cheaper range, halving its headroom for nothing."""
    catalog = load_catalog()
    runs = [_run(n, POOL_SPEC, [2], catalog, POOLS) for n in range(1, 4)]
    prices = _prices(POOL_SPEC, runs, POOLS)
    assert prices["m5.xlargexas2-8"] == pytest.approx(_measured_per_hour(runs[0]), rel=0.02)
    assert prices["m5.xlargexas2-8"] == pytest.approx(prices["m5.xlargexas2-4"])
