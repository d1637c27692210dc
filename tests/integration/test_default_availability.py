"""An AWS cluster spec that leaves the availability unset runs on Databricks' backend default,
SPOT_WITH_FALLBACK (the emulator does the same: sandbox/sim/cluster.py ``_DEFAULT_AVAILABILITY``). Its
runs, the planner's price of it and the savings baseline read it so, on SQLite and PostgreSQL, through
the emulator, the collector, the planner's candidates, apply and savings: a review found such a job's
runs and baseline read ~45% dearer than they cost, and a recommendation of the very cluster it ran on
showed as a large saving."""

from __future__ import annotations

import copy
import dataclasses
import statistics

import pytest

from sandbox.workspace import RunningWorkspace
from sandbox.workspace.seed import LOG_CONF, SPARK_VERSION
from server.apply import apply_recommendation
from server.collect import Collector
from server.collect.collector import PRICED_ON_DEMAND_NOTE
from server.costing.catalog import load_catalog
from server.costing.run_cost import hourly_cost
from server.databricks import DatabricksGateway
from server.domain import ClusterConfig, Project, Recommendation, Run
from server.plan.candidates import config_id_of, pricing_for, project_candidates
from server.services.savings import stored_project_savings
from server.services.secrets import SecretBox
from server.spec import find_cluster_spec
from server.store import Store
from tests.integration.conftest import import_etl_job, priced_as, priced_collector, run_and_collect

# No aws_attributes at all: how a job made through the API (or Terraform) without them looks.
UNSET = {"spark_version": SPARK_VERSION, "node_type_id": "m5d.xlarge", "num_workers": 4,
         "cluster_log_conf": LOG_CONF}
EXPLICIT = {**UNSET, "aws_attributes": {"availability": "SPOT_WITH_FALLBACK", "first_on_demand": 1}}
AS_IT_RUNS = ClusterConfig(node_type_id="m5d.xlarge", num_workers=4, availability="SPOT_WITH_FALLBACK",
                           first_on_demand=1)


def _collected(collector: Collector, emulator: RunningWorkspace, gateway: DatabricksGateway,
               project: Project) -> Run:
    gateway.run_now(project.job_id)
    assert emulator.wait_idle(60)
    (run,) = collector.poll_once()
    return run


def _explicitly(gateway: DatabricksGateway, store: Store, run: Run) -> float:
    """What the run's own cluster costs priced as if its spec named SPOT_WITH_FALLBACK (the path that was
    always right: the simulator's spot nodes agree with it, tests/integration/test_dbx_usage_truth.py)."""
    return priced_as(gateway, store, run, EXPLICIT["aws_attributes"])


def test_a_run_of_an_aws_job_without_availability_is_priced_with_spot_workers(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        aws_workspace: str) -> None:
    project = import_etl_job(store, secrets, gateway, UNSET)
    catalog = load_catalog()
    _, (run,) = run_and_collect(store, secrets, emulator, gateway, project.job_id)
    assert run.cost is not None and run.config is not None
    assert run.config.availability == "SPOT_WITH_FALLBACK" and run.config.first_on_demand == 1
    explicit = _explicitly(gateway, store, run)
    assert run.cost.total == pytest.approx(explicit, rel=0.01)

    # The planner prices the configuration the job runs on as it runs: spot workers.
    workspace = store.workspaces.get("sbx")
    pricing = pricing_for(workspace, project.current_spec)
    pairs = {c.config_id: c for c, _ in project_candidates(store.projects.get(int(project.id or 0)), workspace,
                                                            catalog, [run])}
    running = pairs[config_id_of(run.config)]
    assert running.spot
    assert running.price_per_hour == pytest.approx(
        hourly_cost(AS_IT_RUNS, pricing.cloud, pricing.region, pricing.plan, pricing.sku, catalog), rel=0.01)


def test_an_unchanged_job_saves_nothing_and_only_an_explicit_on_demand_is_a_user_edit(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        aws_workspace: str) -> None:
    project = import_etl_job(store, secrets, gateway, UNSET)
    pid = int(project.id or 0)
    collector = priced_collector(store, secrets)
    baseline = [_collected(collector, emulator, gateway, project) for _ in range(3)]
    # A recommendation of the very cluster the job runs on (spot workers, the driver on demand): the
    # apply writes the availability out, which changes nothing that runs.
    rec = store.recommendations.add(Recommendation(project_id=pid, config=AS_IT_RUNS, reason="test"))
    assert apply_recommendation(store, gateway, pid).applied
    live = find_cluster_spec(gateway.get_job(project.job_id)["settings"], "main")
    assert live is not None and live["aws_attributes"]["availability"] == "SPOT_WITH_FALLBACK"
    trimtab = [_collected(collector, emulator, gateway, project) for _ in range(3)]
    assert all("user_edit" not in r.anomalies for r in baseline + trimtab)
    assert all(r.recommendation_id == rec.id for r in trimtab)
    assert {config_id_of(r.config) for r in baseline + trimtab if r.config} == {"m5d.xlargex4-spot"}

    savings = stored_project_savings(store, store.projects.get(pid))
    assert savings is not None and savings.baseline_runs == 3 and savings.trimtab_runs == 3
    # The same cluster on both sides: the two sides' costs differ only as the simulator's runs took
    # longer or shorter (its run-to-run noise), not by a 30-45% saving from a baseline priced on demand.
    longer = statistics.fmean(r.runtime_s for r in trimtab) / statistics.fmean(r.runtime_s for r in baseline)
    assert savings.current_cost_per_run / savings.baseline_cost_per_run == pytest.approx(longer, rel=0.03)

    # The owner puts the workers on demand, writing it out: that is a change of the cluster.
    edited = copy.deepcopy(live)
    edited["aws_attributes"]["availability"] = "ON_DEMAND"
    gateway.update_job(project.job_id, {"job_clusters": [{"job_cluster_key": "main", "new_cluster": edited}]})
    after = _collected(collector, emulator, gateway, project)
    assert "user_edit" in after.anomalies
    assert after.config is not None and after.config.availability == "ON_DEMAND"
    assert config_id_of(after.config) == "m5d.xlargex4"


def test_runs_stored_priced_on_demand_are_priced_again_while_their_cluster_is_held(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        aws_workspace: str) -> None:
    # Runs an older server stored (migration 0013 notes their cost): every worker priced on demand.
    project = import_etl_job(store, secrets, gateway, UNSET)
    collector = priced_collector(store, secrets)
    held, gone = (_collected(collector, emulator, gateway, project) for _ in range(2))
    assert held.cost is not None and gone.cost is not None
    spot_priced = held.cost.total
    on_demand = dataclasses.replace(held.cost, compute_cost=held.cost.compute_cost * 1.8,
                                    total=held.cost.total * 1.45, note=PRICED_ON_DEMAND_NOTE)
    store.runs.set_cost(int(held.id or 0), on_demand)
    # A run whose cluster Databricks no longer holds (purged 30 days after it ended).
    store.runs.update(dataclasses.replace(gone, cluster_id="0101-000000-gone0000",
                                          cost=dataclasses.replace(gone.cost, note=f"x; {PRICED_ON_DEMAND_NOTE}")))

    assert collector.poll_once() == []  # no new run: the stored ones are priced again
    again = store.runs.get(int(held.id or 0))
    assert again.cost is not None and PRICED_ON_DEMAND_NOTE not in again.cost.note
    assert again.cost.total == pytest.approx(spot_priced, rel=1e-9)
    kept = store.runs.get(int(gone.id or 0))
    assert kept.cost is not None and kept.cost.total == gone.cost.total  # its figures stay
    assert kept.cost.note.startswith("x; workers priced on demand where Databricks ran them on spot")
    assert "no longer holds the cluster's events" in kept.cost.note
    assert store.runs.cost_noted_since(int(project.id or 0), 0, PRICED_ON_DEMAND_NOTE, 10) == []
