"""What a cluster policy fills in that decides what kind of cluster a job gets (its access mode,
single node), over real HTTP against the emulator: import judges the cluster Databricks creates, not
the spec as written. A policy fixing standard access on a spec that says nothing of it made import
onboard the cluster with Trimtab's workspace init script, which standard access refuses: every later
run failed. A single-node policy made a single-node cluster Trimtab imported and sized. SQLite and
PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sandbox.workspace import RunningWorkspace
from server.costing.catalog import load_catalog
from server.databricks import DatabricksGateway
from server.domain import Workspace
from server.errors import FailedPrecondition
from server.onboard import PROJECT_TAG, qualify
from server.plan.planner import plan_project
from server.plan.policy import ClusterPolicy
from server.services import workspaces
from server.services.secrets import SecretBox
from server.spec import find_cluster_spec
from server.store import Store
from tests.integration.conftest import WIRING, admin_post, etl_job

SPEC = {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5d.xlarge", "num_workers": 2}
STANDARD_FIXED = {"data_security_mode": {"type": "fixed", "value": "USER_ISOLATION", "hidden": True}}
STANDARD_DEFAULT = {"data_security_mode": {"type": "unlimited", "defaultValue": "USER_ISOLATION",
                                           "isOptional": True}}
# Databricks' own "Single Node" policy family: profile, local master, tag and no workers, all fixed.
SINGLE_NODE = {
    "spark_conf.spark.databricks.cluster.profile": {"type": "fixed", "value": "singleNode", "hidden": True},
    "spark_conf.spark.master": {"type": "fixed", "value": "local[*,4]", "hidden": True},
    "custom_tags.ResourceClass": {"type": "fixed", "value": "SingleNode", "hidden": True},
    "num_workers": {"type": "fixed", "value": 0, "hidden": True},
}


def _policy(emulator: RunningWorkspace, name: str, definition: dict[str, Any]) -> str:
    return str(admin_post(emulator, "policies/clusters/create",
                          {"name": name, "definition": json.dumps(definition)})["policy_id"])


def _result(gateway: DatabricksGateway, emulator: RunningWorkspace, job_id: int) -> dict[str, Any]:
    run_id = gateway.run_now(job_id)
    assert emulator.wait_idle(60)
    return dict(gateway.get_run(run_id)["state"])


@pytest.mark.parametrize(("definition", "extra"), [
    (STANDARD_FIXED, {}),
    (STANDARD_DEFAULT, {"apply_policy_default_values": True}),  # a default the spec asks for
])
def test_a_job_its_policy_puts_in_standard_access_is_skipped_and_keeps_running(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, definition: dict[str, Any], extra: dict[str, Any]) -> None:
    policy_id = _policy(emulator, "uc-shared", definition)
    spec = {**SPEC, **extra, "policy_id": policy_id}
    job_id = gateway.create_job(etl_job(spec))
    result = workspaces.import_jobs(store, secrets, "sbx", [job_id], wiring=WIRING)
    assert result.projects == ()
    (skipped,) = result.skipped
    assert skipped.reason.startswith(
        f"cluster 'main' runs in standard (shared) access mode (USER_ISOLATION, from its cluster policy "
        f'"uc-shared" ({policy_id})), where only allowlisted init scripts in a Unity Catalog volume or cloud '
        "storage run, and Trimtab's init script dbfs:/trimtab/test-init.sh is on DBFS")
    # The job is left as it was, and its runs still start (onboarded, every one failed at its init script).
    assert find_cluster_spec(gateway.get_job(job_id)["settings"], "main") == spec
    assert _result(gateway, emulator, job_id)["result_state"] == "SUCCESS"


def test_a_default_access_mode_the_spec_does_not_ask_for_is_not_judged(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace) -> None:
    # Without apply_policy_default_values Databricks applies fixed values only: the cluster is not
    # standard access, Trimtab's init script runs on it, and import onboards it.
    policy_id = _policy(emulator, "uc-optional", STANDARD_DEFAULT)
    job_id = gateway.create_job(etl_job({**SPEC, "policy_id": policy_id}))
    (imported,) = workspaces.import_jobs(store, secrets, "sbx", [job_id], wiring=WIRING).projects
    live = find_cluster_spec(gateway.get_job(job_id)["settings"], "main")
    assert live["custom_tags"][PROJECT_TAG] == str(imported.project.id)
    assert _result(gateway, emulator, job_id)["result_state"] == "SUCCESS"


def test_a_job_its_policy_makes_single_node_is_skipped(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace) -> None:
    policy_id = _policy(emulator, "single", SINGLE_NODE)
    spec = {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5d.xlarge", "policy_id": policy_id}
    job_id = gateway.create_job(etl_job(spec))
    result = workspaces.import_jobs(store, secrets, "sbx", [job_id], wiring=WIRING)
    assert result.projects == ()
    (skipped,) = result.skipped
    assert skipped.reason == ("cluster 'main' is a single-node cluster (Spark runs on the driver alone), which is "
                              f'not sized yet (made so by its cluster policy "single" ({policy_id}))')
    assert find_cluster_spec(gateway.get_job(job_id)["settings"], "main") == spec


def test_a_job_whose_policy_cannot_be_read_is_skipped_saying_so(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace) -> None:
    policy_id = _policy(emulator, "uc-shared", STANDARD_FIXED)
    spec = {**SPEC, "policy_id": policy_id}
    job_id = gateway.create_job(etl_job(spec))
    fault = emulator.inject_fault("GET", "policies/clusters/get", status=403, error_code="PERMISSION_DENIED")
    result = workspaces.import_jobs(store, secrets, "sbx", [job_id], wiring=WIRING)
    assert result.projects == ()
    (skipped,) = result.skipped
    assert skipped.reason.startswith(f"cluster 'main' names cluster policy {policy_id}, which could not be read "
                                     f"(the token's principal cannot read cluster policy {policy_id} (CAN_USE")
    assert skipped.reason.endswith("whether the policy makes it standard access (where Trimtab's init script "
                                   "would fail the cluster) or single node is not known, so it is left as it is; "
                                   "let Trimtab's token read the policy (CAN_USE on it) and import again")
    assert find_cluster_spec(gateway.get_job(job_id)["settings"], "main") == spec
    # Readable again: the same import onboards nothing it should not, and says what the policy makes.
    emulator.clear_fault(fault)
    (skipped,) = workspaces.import_jobs(store, secrets, "sbx", [job_id], wiring=WIRING).skipped
    assert "runs in standard (shared) access mode (USER_ISOLATION, from its cluster policy" in skipped.reason


def test_qualify_leaves_out_a_cluster_whose_policy_was_not_read() -> None:
    job = {"job_id": 1, "settings": {"name": "etl", "tasks": [{"task_key": "t", "job_cluster_key": "main"}],
                                     "job_clusters": [{"job_cluster_key": "main",
                                                       "new_cluster": {**SPEC, "policy_id": "P1"}}]}}
    assert qualify(job).clusters == []
    assert "names cluster policy P1, which could not be read (not read)" in (qualify(job).skipped_reason or "")
    read = ClusterPolicy.from_api({"policy_id": "P1", "definition": "{}"})
    assert [c.cluster_key for c in qualify(job, policies={"P1": read}).clusters] == ["main"]


def test_the_planner_stops_a_project_its_policy_since_put_in_standard_access(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace) -> None:
    policy_id = _policy(emulator, "etl", {"spark_version": {"type": "unlimited", "isOptional": True}})
    job_id = gateway.create_job(etl_job({**SPEC, "policy_id": policy_id}))
    (imported,) = workspaces.import_jobs(store, secrets, "sbx", [job_id], wiring=WIRING).projects
    # An admin fixes standard access in the policy since: the onboarded cluster's runs now fail at start.
    admin_post(emulator, "policies/clusters/edit", {"policy_id": policy_id, "definition": json.dumps(STANDARD_FIXED)})
    assert "not allowed on compute in standard access mode" in _result(gateway, emulator, job_id)["state_message"]
    with pytest.raises(FailedPrecondition, match=r"runs in standard \(shared\) access mode \(USER_ISOLATION\), "
                                                 r"where only allowlisted init scripts .* so the cluster fails"):
        plan_project(store, int(imported.project.id or 0), load_catalog(),
                     policy=gateway.get_cluster_policy(policy_id))
