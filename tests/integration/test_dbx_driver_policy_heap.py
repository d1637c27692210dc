"""A driver heap the job's cluster policy fixes, through the emulator: the emulator creates the cluster
with the policy's ``spark_conf.spark.driver.memory`` (40g) and its simulated driver JVM gets that heap;
the plan keeps the driver on a node that holds it, whatever its small heap peaks say.

Before: the policy's heap was not read, and four quiet runs of an ``etl_join_aggregate`` job (heap peaks
of ~6.5 GiB: a 40 GiB heap holds more uncollected garbage) moved its 64 GiB r5d.2xlarge driver to a
32 GiB r5d.xlarge, on which a 40 GiB heap and what is not heap do not fit."""

from __future__ import annotations

import dataclasses
import json

from sandbox.workspace import RunningWorkspace
from sandbox.workspace.seed import aws_cluster
from server.databricks import DatabricksGateway
from server.domain import Workspace
from server.plan.planner import plan_project
from server.services.secrets import SecretBox
from server.store import Store
from tests.integration.conftest import admin_post
from tests.integration.test_dbx_driver_sizing import CATALOG, _driver_gib, _imported, _run

HEAP = {"spark_conf.spark.driver.memory": {"type": "fixed", "value": "40g", "hidden": True}}


def test_a_driver_heap_the_policy_fixes_keeps_a_driver_that_holds_it(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace) -> None:
    policy_id = str(admin_post(emulator, "policies/clusters/create",
                               {"name": "driver-heap-40g", "definition": json.dumps(HEAP)})["policy_id"])
    cluster = {**aws_cluster("r5d.xlarge", 2, availability="ON_DEMAND"), "driver_node_type_id": "r5d.2xlarge",
               "policy_id": policy_id}
    assert "spark.driver.memory" not in (cluster.get("spark_conf") or {})  # the policy's alone
    project = _imported(store, secrets, gateway, "etl_join_aggregate", cluster)
    pid = int(project.id or 0)
    store.projects.update_settings(pid, dataclasses.replace(project.settings, allowed_families=("r5d",)))
    # Four runs: three bound the next peak too widely for the runs alone to shrink the driver.
    runs = [_run(store, secrets, emulator, gateway, project) for _ in range(4)]
    assert [r.outcome for r in runs] == ["succeeded"] * 4
    # The cluster ran with the policy's heap (its record's spark_conf; its spec is the user's, without it).
    record = gateway.get_cluster(runs[-1].cluster_id)
    assert record["spark_conf"]["spark.driver.memory"] == "40g"
    assert "spark.driver.memory" not in (record["spec"].get("spark_conf") or {})
    rec = plan_project(store, pid, CATALOG, policy=gateway.get_cluster_policy(policy_id))
    assert rec is not None
    # 40 GiB of heap and 2 GiB beside it: not the 32 GiB r5d.xlarge the runs alone would take it to.
    assert _driver_gib(rec.config.driver_node_type_id) >= 42, rec.reason
    # (42 GiB and the bound of the driver's Python processes, ~0.5 GiB here.)
    assert "the cluster policy sets spark.driver.memory to 40 GiB, which needs a node of 4" in rec.reason, rec.reason
    assert "its runs alone would take it to r5d.xlarge (32 GiB)" in rec.reason, rec.reason
