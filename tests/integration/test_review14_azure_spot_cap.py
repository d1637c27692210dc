"""Azure's spot price cap (``azure_attributes.spot_bid_max_price``) across a recommendation that
changes the node type (review rev14g F1): the emulator through the real databricks-sdk, the real
store. A cap is an absolute $/h of the node type it was set for: kept onto a smaller type it is
above that type's on-demand price, which Databricks refuses; Trimtab writes -1 instead (pay up to
on demand, what the planner prices) and a revert puts the user's cap back."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.workspace import RunningWorkspace
from sandbox.workspace.seed import LOG_CONF, SPARK_VERSION
from server.apply import apply_recommendation, revert
from server.databricks import DatabricksGateway, DatabricksRejected
from server.domain import ClusterConfig, Project, Recommendation
from server.plan.policy import ClusterPolicy
from server.services import workspaces
from server.services.secrets import SecretBox
from server.spec import find_cluster_spec, recommended_spec
from server.store import Store
from tests.integration.conftest import NOOP_INIT, WIRING

# D16s_v5's on-demand price is 0.768 $/h in eastus; D4s_v5's 0.192 $/h.
CAP = 0.5


def _spec(node: str, workers: int, cap: float | None = CAP) -> dict[str, Any]:
    attrs: dict[str, Any] = {"availability": "SPOT_WITH_FALLBACK_AZURE", "first_on_demand": 1}
    if cap is not None:
        attrs["spot_bid_max_price"] = cap
    return {"spark_version": SPARK_VERSION, "node_type_id": node, "num_workers": workers,
            "azure_attributes": attrs, "cluster_log_conf": LOG_CONF}


def _job(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "job_clusters": [{"job_cluster_key": "main", "new_cluster": spec}],
            "tasks": [{"task_key": "main", "job_cluster_key": "main",
                       "spark_python_task": {"python_file": "dbfs:/jobs/etl.py"}}]}


def _import(store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
            spec: dict[str, Any]) -> Project:
    gateway.put_dbfs_file("/trimtab/test-init.sh", NOOP_INIT)
    workspaces.add_workspace(store, secrets, "az", emulator.host, emulator.token, "azure")
    job_id = gateway.create_job(_job("az-etl", spec))
    (imported,) = workspaces.import_jobs(store, secrets, "az", [job_id], wiring=WIRING).projects
    return imported.project


def _recommend(store: Store, project: Project, config: ClusterConfig) -> None:
    store.recommendations.add(Recommendation(project_id=int(project.id or 0), reason="test", config=config))


def _live(gateway: DatabricksGateway, project: Project) -> dict[str, Any]:
    spec = find_cluster_spec(gateway.get_job(project.job_id)["settings"], project.cluster_key)
    assert spec is not None
    return spec


SMALLER = ClusterConfig(node_type_id="Standard_D4s_v5", num_workers=12, availability="SPOT_WITH_FALLBACK",
                        first_on_demand=1)


def test_a_node_type_change_writes_no_cap_the_run_starts_and_revert_puts_the_cap_back(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway) -> None:
    project = _import(store, secrets, emulator, gateway, _spec("Standard_D16s_v5", 4))
    _recommend(store, project, SMALLER)
    assert apply_recommendation(store, gateway, int(project.id or 0)).applied
    live = _live(gateway, project)
    assert live["node_type_id"] == "Standard_D4s_v5"
    # -1: spot up to the on-demand price, as the planner priced it; 0.5 is above D4s_v5's 0.192 $/h.
    assert live["azure_attributes"]["spot_bid_max_price"] == -1
    run_id = gateway.run_now(project.job_id)
    assert emulator.wait_idle(120)
    assert gateway.get_run(run_id)["state"]["result_state"] == "SUCCESS"

    revert(store, gateway, int(project.id or 0))
    back = _live(gateway, project)
    assert back["node_type_id"] == "Standard_D16s_v5"
    assert back["azure_attributes"]["spot_bid_max_price"] == CAP  # the user's cap, with its node type


def test_a_resize_on_the_same_node_type_keeps_the_cap(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway) -> None:
    project = _import(store, secrets, emulator, gateway, _spec("Standard_D16s_v5", 4))
    _recommend(store, project, ClusterConfig(node_type_id="Standard_D16s_v5", num_workers=6,
                                             availability="SPOT_WITH_FALLBACK", first_on_demand=1))
    assert apply_recommendation(store, gateway, int(project.id or 0)).applied
    live = _live(gateway, project)
    assert (live["num_workers"], live["azure_attributes"]["spot_bid_max_price"]) == (6, CAP)


def test_no_cap_or_minus_one_is_left_as_it_is() -> None:
    for spec in (_spec("Standard_D16s_v5", 4, cap=None), _spec("Standard_D16s_v5", 4, cap=-1)):
        out = recommended_spec(spec, SMALLER, cloud="azure")
        assert out["azure_attributes"].get("spot_bid_max_price") == spec["azure_attributes"].get(
            "spot_bid_max_price")
    # A new driver type is a change of node types too (a spot driver is under the cap).
    driver = ClusterConfig(node_type_id="Standard_D16s_v5", driver_node_type_id="Standard_D4s_v5", num_workers=4,
                           availability="SPOT_WITH_FALLBACK", first_on_demand=0)
    assert recommended_spec(_spec("Standard_D16s_v5", 4), driver, cloud="azure")[
        "azure_attributes"]["spot_bid_max_price"] == -1


def test_the_emulator_refuses_a_cap_above_the_on_demand_price(gateway: DatabricksGateway) -> None:
    with pytest.raises(DatabricksRejected, match="spot_bid_max_price"):
        gateway.create_job(_job("too-high", _spec("Standard_D4s_v5", 2)))
    with pytest.raises(DatabricksRejected, match="spot_bid_max_price"):
        gateway.create_job(_job("zero", _spec("Standard_D16s_v5", 2, cap=0)))
    assert gateway.create_job(_job("fine", _spec("Standard_D16s_v5", 2)))
    assert gateway.create_job(_job("default", _spec("Standard_D4s_v5", 2, cap=-1)))


def test_a_policy_that_fixes_the_cap_keeps_the_plan_on_its_node_type() -> None:
    policy = ClusterPolicy.from_api({"policy_id": "p1", "name": "spot", "definition": {
        "azure_attributes.spot_bid_max_price": {"type": "fixed", "value": CAP}}})
    base = _spec("Standard_D16s_v5", 4)
    refused = policy.config_refusals(SMALLER, base, azure=True)
    assert list(refused) == ["azure_attributes.spot_bid_max_price"], refused
    same = ClusterConfig(node_type_id="Standard_D16s_v5", num_workers=8, availability="SPOT_WITH_FALLBACK",
                         first_on_demand=1)
    assert policy.allows_config(same, base, azure=True)
