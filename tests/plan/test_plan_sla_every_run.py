"""`ProjectSettings.sla_every_run` through the real planner: an SLA every run must meet costs at least as
much as one the typical run meets, and more when the cluster setup makes single runs scatter."""

from __future__ import annotations

import dataclasses
import statistics

import pytest

from server.costing.catalog import PriceCatalog, load_catalog
from server.domain import ClusterConfig, Project, ProjectSettings, Recommendation, Run
from server.plan.candidates import Pricing, build_candidates, config_id_of
from server.plan.planner import plan_project
from server.spec import config_from_spec
from server.store import Store

SPEC = {
    "spark_version": "15.4.x-scala2.12",
    "node_type_id": "m5.2xlarge",
    "num_workers": 12,
    "aws_attributes": {"availability": "ON_DEMAND", "first_on_demand": 1},
}
# The cluster setup of successive runs: usually quick, now and then 12-15 minutes (a slow pool, a retried
# instance), so a run's total scatters far more than its execution does.
SETUPS = (60.0, 900.0, 300.0, 120.0, 700.0)
NOISE = (-0.01, 0.0, 0.01)  # the execution's own run-to-run noise


def _execution_s(catalog: PriceCatalog, config: ClusterConfig) -> float:
    """A CPU-bound job: 40 core-hours of work, 60 s fixed, coordination growing with nodes."""
    info = catalog.node_type("aws", config.node_type_id)
    return 60.0 + 40 * 3600 / (info.vcpus * config.num_workers) + 4.0 * config.num_workers


def _settings(sla_s: float | None) -> ProjectSettings:
    # No designed learning runs and every candidate already run a few times: the decision is the
    # optimizing one (cheapest that meets the SLA), not a learning or exploring step.
    return ProjectSettings(sla_seconds=sla_s, auto_apply=True, learning_budget=0, spot_allowed=False,
                           allowed_families=("m5",), min_workers=8, max_workers=16)


def _project_with_history(store: Store, catalog: PriceCatalog,
                          sla_s: float | None) -> tuple[Project, dict[str, float]]:
    settings = _settings(sla_s)
    project = store.projects.add(Project(workspace="ws", job_id=1, cluster_key="main", current_spec=SPEC,
                                         original_spec=SPEC, settings=settings))
    pricing = Pricing("aws", "us-east-1", "premium")
    pairs = build_candidates(config_from_spec(SPEC), settings, catalog, pricing)
    n = 0
    for _, config in pairs:
        for _ in range(3):
            n += 1
            setup = SETUPS[n % len(SETUPS)]
            runtime = _execution_s(catalog, config) * (1.0 + NOISE[n % len(NOISE)]) + setup
            store.runs.add(Run(project_id=int(project.id or 0), databricks_run_id=n, start_ms=n * 86_400_000,
                               end_ms=n * 86_400_000 + int(runtime * 1000), runtime_s=runtime, setup_s=setup,
                               outcome="succeeded", config=config))
    return project, {c.config_id: c.price_per_hour for c, _ in pairs}


def _plan(store: Store, catalog: PriceCatalog, project: Project, every_run: bool) -> Recommendation:
    pid = int(project.id or 0)
    store.projects.update_settings(pid, dataclasses.replace(store.projects.get(pid).settings,
                                                            sla_every_run=every_run))
    rec = plan_project(store, pid, catalog)
    assert rec is not None and rec.phase == "optimizing", rec
    return rec


def _true_cost(catalog: PriceCatalog, price: dict[str, float], config: ClusterConfig) -> float:
    """What a run really costs on average: the candidate's price over execution and mean setup."""
    return price[config_id_of(config)] * (_execution_s(catalog, config) + statistics.mean(SETUPS)) / 3600.0


def _miss_rate(catalog: PriceCatalog, config: ClusterConfig, sla_s: float) -> float:
    """The share of single runs (every setup with every noise) that overrun the SLA."""
    totals = [_execution_s(catalog, config) * (1.0 + e) + s for s in SETUPS for e in NOISE]
    return sum(t > sla_s for t in totals) / len(totals)


def test_every_run_is_dearer_and_misses_less_when_setup_scatters(store: Store) -> None:
    catalog = load_catalog()
    sla = 2100.0
    project, price = _project_with_history(store, catalog, sla)
    typical = _plan(store, catalog, project, every_run=False)
    every = _plan(store, catalog, project, every_run=True)
    # The typical run (execution plus the ~416 s mean setup) meets the SLA on the cheaper cluster...
    assert _execution_s(catalog, typical.config) + statistics.mean(SETUPS) <= sla
    # ...but a run with a slow setup overruns it: one in five runs misses.
    assert _miss_rate(catalog, typical.config, sla) >= 0.2
    assert _true_cost(catalog, price, every.config) > _true_cost(catalog, price, typical.config)
    assert every.predicted_cost > typical.predicted_cost
    assert _miss_rate(catalog, every.config, sla) <= 0.1
    assert every.p_meet_sla is not None and every.p_meet_sla >= 0.9


@pytest.mark.parametrize("sla", [2600.0, 4000.0, None])
def test_every_run_is_never_cheaper(store: Store, sla: float | None) -> None:
    catalog = load_catalog()
    project, price = _project_with_history(store, catalog, sla)
    typical = _plan(store, catalog, project, every_run=False)
    every = _plan(store, catalog, project, every_run=True)
    assert _true_cost(catalog, price, every.config) >= _true_cost(catalog, price, typical.config)
    if sla is None:
        # Without an SLA there is nothing for a run to meet: the setting changes nothing.
        assert every.config == typical.config and every.predicted_cost == typical.predicted_cost
