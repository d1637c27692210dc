"""A cluster policy that fixes (or defaults) the availability of a spec that leaves it unset, through the
workspace emulator: Databricks creates the cluster with the policy's value (fixed always; ``defaultValue``
when the spec sets ``apply_policy_default_values``), not its backend default SPOT_WITH_FALLBACK. The
emulator runs it so and its cluster record says so."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from sandbox.workspace import RunningWorkspace
from sandbox.workspace.seed import LOG_CONF, SPARK_VERSION
from server.collect import Collector
from server.collect.usage import cluster_timeline, cluster_usage
from server.costing.catalog import load_catalog
from server.costing.run_cost import cost_run
from server.databricks import DatabricksGateway
from server.domain import ClusterConfig, Project, Run
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store
from tests.integration.conftest import NOOP_INIT, WIRING, admin_post

NODE = "m5d.xlarge"
# No aws_attributes at all: the policy decides the availability.
UNSET = {"spark_version": SPARK_VERSION, "node_type_id": NODE, "driver_node_type_id": NODE, "num_workers": 4,
         "cluster_log_conf": LOG_CONF}
FIXED_ON_DEMAND = {
    "aws_attributes.availability": {"type": "fixed", "value": "ON_DEMAND"},
    # The plan is held to one node type and one size, so its only choice is the availability.
    "node_type_id": {"type": "allowlist", "values": [NODE]},
    "driver_node_type_id": {"type": "allowlist", "values": [NODE]},
    "num_workers": {"type": "fixed", "value": 4},
}
ON_DEMAND = ClusterConfig(node_type_id=NODE, driver_node_type_id=NODE, num_workers=4, availability="ON_DEMAND",
                          first_on_demand=1)


def _job(spec: dict[str, Any]) -> dict[str, Any]:
    return {"name": "etl", "job_clusters": [{"job_cluster_key": "main", "new_cluster": spec}],
            "tasks": [{"task_key": "main", "job_cluster_key": "main",
                       "spark_python_task": {"python_file": "dbfs:/jobs/etl.py"}}]}


@pytest.fixture
def aws(store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway) -> str:
    gateway.put_dbfs_file("/trimtab/test-init.sh", NOOP_INIT)
    workspaces.add_workspace(store, secrets, "sbx", emulator.host, emulator.token, "aws")
    return "sbx"


def _policy(emulator: RunningWorkspace, definition: dict[str, Any], name: str = "etl-jobs") -> str:
    return str(admin_post(emulator, "policies/clusters/create",
                          {"name": name, "definition": json.dumps(definition)})["policy_id"])


def _import(store: Store, secrets: SecretBox, gateway: DatabricksGateway, spec: dict[str, Any]) -> Project:
    job_id = gateway.create_job(_job(spec))
    (imported,) = workspaces.import_jobs(store, secrets, "sbx", [job_id], wiring=WIRING).projects
    return imported.project


def _collected(collector: Collector, emulator: RunningWorkspace, gateway: DatabricksGateway,
               project: Project) -> Run:
    gateway.run_now(project.job_id)
    assert emulator.wait_idle(60)
    (run,) = collector.poll_once()
    return run


def _priced_as(gateway: DatabricksGateway, store: Store, run: Run, attributes: dict[str, Any]) -> float:
    """What the run's own cluster costs priced as if its spec named ``attributes``."""
    spec = copy.deepcopy(gateway.get_cluster(run.cluster_id)["spec"])
    spec["aws_attributes"] = {**(spec.get("aws_attributes") or {}), **attributes}
    workspace = store.workspaces.get("sbx")
    timeline = cluster_timeline(spec, gateway.cluster_events(run.cluster_id), fallback_start_ms=run.start_ms,
                                fallback_end_ms=run.end_ms)
    usage = cluster_usage(timeline, spec, cloud="aws", region=workspace.pricing_region, plan=workspace.plan,
                          input_bytes=None)
    return cost_run(usage, load_catalog()).total


def test_the_emulator_creates_the_cluster_with_the_policys_fixed_availability_and_asked_for_default(
        emulator: RunningWorkspace, gateway: DatabricksGateway) -> None:
    fixed = _policy(emulator, {"aws_attributes.availability": {"type": "fixed", "value": "ON_DEMAND"}})
    defaults = _policy(emulator, {
        "aws_attributes.availability": {"type": "allowlist", "values": ["SPOT_WITH_FALLBACK", "ON_DEMAND"],
                                        "defaultValue": "SPOT_WITH_FALLBACK", "isOptional": True},
        "aws_attributes.first_on_demand": {"type": "range", "maxValue": 10, "defaultValue": 3,
                                           "isOptional": True}}, name="defaults")
    cases = [({**UNSET, "policy_id": fixed}, {"availability": "ON_DEMAND"}),
             ({**UNSET, "policy_id": defaults, "apply_policy_default_values": True},
              {"availability": "SPOT_WITH_FALLBACK", "first_on_demand": 3}),
             # Without apply_policy_default_values only fixed values are applied (the Clusters API).
             ({**UNSET, "policy_id": defaults}, {})]
    for spec, filled in cases:
        job_id = gateway.create_job(_job(spec))
        run_id = gateway.run_now(job_id)
        assert emulator.wait_idle(60)
        cluster_id = gateway.get_run(run_id)["tasks"][0]["cluster_instance"]["cluster_id"]
        record = gateway.get_cluster(cluster_id)
        assert {k: v for k, v in (record.get("aws_attributes") or {}).items() if k in filled} == filled
        # The record's spec is the user's settings, as they were sent: without the policy's values.
        assert "aws_attributes" not in record["spec"]
        # The nodes it ran: workers on spot only where the availability says so (past first_on_demand).
        spot = [bool((n.get("node_aws_attributes") or {}).get("is_spot"))
                for n in [record["driver"], *record.get("executors", [])]]
        on_demand = {"ON_DEMAND": 5}.get(str(filled.get("availability")), int(filled.get("first_on_demand", 1)))
        assert spot == [i >= on_demand for i in range(5)], spot  # the driver and 4 workers
