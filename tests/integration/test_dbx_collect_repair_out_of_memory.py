"""A run that ran out of memory and whose repair then succeeded on the same configuration, through the
emulator and the real databricks-sdk (SQLite and PostgreSQL): the stored run is the repair's success,
and still says the configuration ran out of memory once, so the planner avoids it as it avoids any
configuration that ran out of memory."""

from __future__ import annotations

from typing import Any

from models.changes import screen
from models.observation import OUT_OF_MEMORY, REPAIRED
from sandbox.workspace import RunningWorkspace
from sandbox.workspace.runs import PROFILE_TAG
from sandbox.workspace.seed import aws_cluster
from server.clock import SystemClock
from server.collect import Collector
from server.costing.catalog import load_catalog
from server.databricks import DatabricksGateway
from server.domain import Project, Run, Workspace
from server.plan.candidates import config_id_of
from server.plan.observe import observation
from server.plan.planner import plan_project
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store
from tests.integration.conftest import WIRING, sdk_client

# pandas_udf keeps each group in a Python worker, outside the heap: a c5.xlarge (2 GiB a core) has too
# little room for it, and the OS kills its executors (test_dbx_out_of_memory.py).
FAILS = "pandas_udf"
# The emulator's memory failures are deterministic, so the repair runs a lighter workload (the job's
# profile tag changed before it), which stands for a repair that got through on the same clusters (a
# retried group that fit the second time). The cluster spec is untouched: the same configuration.
GETS_THROUGH = "etl_join_aggregate"


def _imported(store: Store, secrets: SecretBox, gateway: DatabricksGateway, cluster: dict[str, Any]) -> Project:
    job_id = gateway.create_job({
        "name": "udf", "tags": {PROFILE_TAG: FAILS},
        "job_clusters": [{"job_cluster_key": "main", "new_cluster": cluster}],
        "tasks": [{"task_key": "main", "job_cluster_key": "main",
                   "spark_python_task": {"python_file": "dbfs:/jobs/udf.py"}}]})
    (imported,) = workspaces.import_jobs(store, secrets, "sbx", [job_id], wiring=WIRING).projects
    return imported.project


def _failed_then_repaired(store: Store, secrets: SecretBox, emulator: RunningWorkspace,
                          gateway: DatabricksGateway, project: Project) -> tuple[Run, Run]:
    """The job's run as first collected (out of memory), and as the next poll stores its repair."""
    collector = Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws), clock=SystemClock(),
                          catalog=load_catalog())
    run_id = gateway.run_now(project.job_id)
    assert emulator.wait_idle(60)
    (failed,) = collector.poll_once()
    assert failed.outcome == "failed" and OUT_OF_MEMORY in failed.anomalies
    gateway.update_job(project.job_id, {"tags": {PROFILE_TAG: GETS_THROUGH}})
    sdk_client(emulator).jobs.repair_run(run_id, rerun_all_failed_tasks=True)
    assert emulator.wait_idle(60)
    (repaired,) = collector.poll_once()
    assert repaired.id == failed.id and repaired.config == failed.config  # the same run, configuration
    return failed, repaired


def test_a_repair_that_succeeds_on_the_configuration_that_ran_out_of_memory_keeps_the_label(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace) -> None:
    # Review: the repaired run kept spot_loss, data_growth and user_edit only; as the configuration's
    # success (repaired, not learned), the too-small cluster was measured again by the next plan.
    project = _imported(store, secrets, gateway, aws_cluster("c5.xlarge", 4, availability="ON_DEMAND"))
    failed, repaired = _failed_then_repaired(store, secrets, emulator, gateway, project)
    assert repaired.outcome == "succeeded"  # what Databricks says of the run
    assert {OUT_OF_MEMORY, REPAIRED} <= set(repaired.anomalies)
    assert "driver_lost" not in repaired.anomalies and "failure" not in repaired.anomalies
    assert "first attempt ran out of memory" in repaired.message

    # The planner's out-of-memory rule sees it: the configuration is avoided, and so is every one with
    # no more memory per core.
    runs = list(reversed(store.runs.list(int(project.id or 0))))
    history = [o for r in runs if (o := observation(r, [], applied_recommendation=True)) is not None]
    assert failed.config is not None
    assert screen(history, {}, sigma_run=0.1, input_elasticity=0.0).oom_configs == {config_id_of(failed.config)}
    catalog = load_catalog()
    rec = plan_project(store, int(project.id or 0), catalog)
    assert rec is not None
    assert "1 run failed out of memory" in rec.reason
    node = catalog.node_type("aws", rec.config.node_type_id)
    assert node.memory_gb / node.vcpus > 2.0  # more memory per core than c5.xlarge's 8 GiB over 4
