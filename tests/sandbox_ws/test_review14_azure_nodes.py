"""The emulator's clusters/get for a cluster on Azure node types (review rev14g F4): a spec without
``azure_attributes`` (Databricks' defaults) was taken for AWS and its nodes carried
``node_aws_attributes``; the cloud is the node type's. And the Azure spot price cap the Clusters API
refuses (F1): not -1 and not above 0, or above the worker type's on-demand price. Real simulator,
real databricks-sdk."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from databricks.sdk.errors import DatabricksError

from sandbox.sim.cluster import SpecError, validate_cluster_spec
from sandbox.workspace import RunningWorkspace, start_workspace
from sandbox.workspace.seed import SPARK_VERSION
from tests.sandbox_ws.conftest import client


@pytest.fixture
def real(tmp_path: Path) -> Iterator[RunningWorkspace]:
    running = start_workspace(tmp_path / "ws", speed=20000, schedules=False)
    try:
        yield running
    finally:
        running.stop()


def _job(node: str, attributes: dict[str, Any]) -> dict[str, Any]:
    spec = {"spark_version": SPARK_VERSION, "node_type_id": node, "num_workers": 2, **attributes}
    return {"name": f"job-{node}", "job_clusters": [{"job_cluster_key": "main", "new_cluster": spec}],
            "tasks": [{"task_key": "main", "job_cluster_key": "main",
                       "spark_python_task": {"python_file": "dbfs:/jobs/etl.py"}}]}


def _cluster_after_run(ws: RunningWorkspace, job: dict[str, Any]) -> dict[str, Any]:
    w = client(ws)
    raw = w.api_client.do("POST", "/api/2.1/jobs/create", body=job)
    job_id = int(raw["job_id"])  # type: ignore[index]
    w.jobs.run_now(job_id=job_id)
    assert ws.wait_idle(120)
    run = next(iter(w.jobs.list_runs(job_id=job_id, expand_tasks=True)))
    cluster_id = run.tasks[0].cluster_instance.cluster_id  # type: ignore[index, union-attr]
    return dict(w.api_client.do("GET", "/api/2.1/clusters/get", query={"cluster_id": cluster_id}))  # type: ignore[arg-type]


def test_azure_nodes_carry_no_aws_attributes_without_an_attributes_block(real: RunningWorkspace) -> None:
    record = _cluster_after_run(real, _job("Standard_D4ds_v5", {}))
    assert record["driver"]["node_type_id"] == "Standard_D4ds_v5"
    assert "node_aws_attributes" not in record["driver"], record["driver"]
    assert all("node_aws_attributes" not in e for e in record.get("executors") or [])


def test_aws_nodes_carry_their_spot_flag_without_an_attributes_block(real: RunningWorkspace) -> None:
    record = _cluster_after_run(real, _job("m5d.xlarge", {}))
    assert record["driver"]["node_aws_attributes"] == {"is_spot": False}


def test_jobs_create_refuses_a_cap_above_the_on_demand_price(real: RunningWorkspace) -> None:
    w = client(real)
    azure = {"availability": "SPOT_WITH_FALLBACK_AZURE", "first_on_demand": 1}
    with pytest.raises(DatabricksError, match="spot_bid_max_price: 0.5 \\$/h is higher than the on-demand price "
                                              "of Standard_D4s_v5 \\(0.2304 \\$/h\\)"):
        w.api_client.do("POST", "/api/2.1/jobs/create",
                        body=_job("Standard_D4s_v5", {"azure_attributes": {**azure, "spot_bid_max_price": 0.5}}))
    ok = w.api_client.do("POST", "/api/2.1/jobs/create",
                         body=_job("Standard_D4s_v5", {"azure_attributes": {**azure, "spot_bid_max_price": 0.15}}))
    assert ok["job_id"]  # type: ignore[index]


@pytest.mark.parametrize("cap", [0, -2, "0.1", True])
def test_a_cap_that_is_not_minus_one_or_a_price_is_refused(cap: Any) -> None:
    spec = {"spark_version": SPARK_VERSION, "node_type_id": "Standard_E8ds_v5", "num_workers": 2,
            "azure_attributes": {"availability": "SPOT_AZURE", "spot_bid_max_price": cap}}
    with pytest.raises(SpecError, match="must be -1"):
        validate_cluster_spec(spec)


@pytest.mark.parametrize("cap", [-1, -1.0, None, 0.6912])
def test_minus_one_none_and_the_on_demand_price_itself_are_taken(cap: Any) -> None:
    validate_cluster_spec({"spark_version": SPARK_VERSION, "node_type_id": "Standard_E8ds_v5", "num_workers": 2,
                           "azure_attributes": {"availability": "SPOT_AZURE", "spot_bid_max_price": cap}})
