"""The emulator plays a for_each task as Databricks shows it: the for-each task in the job run's
tasks, its iterations (each a task run with its own run_id) only in runs/get of its own run,
in waves of its concurrency, paged 100 at a time in API 2.2 (read here through the real SDK)."""

from __future__ import annotations

from typing import Any

from databricks.sdk.service.jobs import RunLifeCycleState

from sandbox.workspace import RunningWorkspace
from server.databricks import DatabricksGateway
from tests.integration.conftest import sdk_client

SPEC = {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5d.xlarge", "num_workers": 2}


def fan_out(inputs: int, concurrency: int) -> dict[str, Any]:
    return {"name": "fanout", "job_clusters": [{"job_cluster_key": "workers", "new_cluster": dict(SPEC)}],
            "tasks": [{"task_key": "loop", "for_each_task": {
                "inputs": str(list(range(inputs))), "concurrency": concurrency,
                "task": {"task_key": "loop_iteration", "job_cluster_key": "workers",
                         "spark_python_task": {"python_file": "dbfs:/x.py",
                                               "parameters": ["--sandbox-profile=etl_join_aggregate"]}}}}]}


def test_the_emulator_lists_iterations_in_the_for_each_tasks_run_paged_as_the_sdk_reads_them(
        emulator: RunningWorkspace, gateway: DatabricksGateway) -> None:
    # 150 inputs: two pages of iterations (100 a page in 2.2), which the real SDK's get_run joins.
    job_id = gateway.create_job(fan_out(inputs=150, concurrency=50))
    run_id = gateway.run_now(job_id)
    assert emulator.wait_idle(60)
    (parent,) = gateway.get_run(run_id)["tasks"]
    assert "job_cluster_key" not in parent  # the cluster is named only inside for_each_task.task
    sdk_run = sdk_client(emulator).jobs.get_run(parent["run_id"])
    assert [t.task_key for t in sdk_run.tasks or []] == ["loop"]
    its = sdk_run.iterations or []
    assert len(its) == 150 and len({i.run_id for i in its}) == 150
    assert all(i.job_cluster_key == "workers" and i.state and i.state.life_cycle_state == RunLifeCycleState.TERMINATED
               and i.cluster_instance and i.cluster_instance.cluster_id == parent["cluster_instance"]["cluster_id"]
               for i in its)
    # concurrency 50: three waves, each starting when the one before ended.
    starts = sorted({i.start_time for i in its})
    assert len(starts) == 3
    assert gateway.get_run(parent["run_id"])["iterations"] == [i.as_dict() for i in its]
