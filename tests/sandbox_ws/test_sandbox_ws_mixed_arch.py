"""The emulator refuses a cluster whose driver and workers are of different CPU architectures, as
Databricks does: m6g.xlarge (Graviton, arm64) workers under an m5.xlarge (x86_64) driver were
accepted by jobs/create, jobs/reset and jobs/update, so a client writing such a spec passed here and
would fail on a real workspace."""

from __future__ import annotations

import pytest
import requests
from databricks.sdk.errors import InvalidParameterValue
from databricks.sdk.service.jobs import JobCluster, JobSettings, SparkPythonTask, Task

from sandbox.workspace import RunningWorkspace
from tests.sandbox_ws.conftest import client

WORDS = "driver and worker node types must have the same architecture"


def _cluster(workers: str, driver: str | None = None) -> dict:
    return {"spark_version": "15.4.x-scala2.12", "node_type_id": workers, "num_workers": 2,
            **({"driver_node_type_id": driver} if driver else {})}


def _settings(cluster: dict) -> JobSettings:
    return JobSettings(name="etl", job_clusters=[JobCluster.from_dict({"job_cluster_key": "a", "new_cluster": cluster})],
                       tasks=[Task(task_key="t", job_cluster_key="a",
                                   spark_python_task=SparkPythonTask(python_file="dbfs:/x.py"))])


@pytest.mark.parametrize(("workers", "driver"), [
    ("m6g.xlarge", "m5.xlarge"), ("m5d.xlarge", "m7gd.xlarge"), ("rgd-fleet.xlarge", "md-fleet.xlarge"),
])
def test_a_cluster_mixing_architectures_is_refused(ws: RunningWorkspace, workers: str, driver: str) -> None:
    w = client(ws)
    mixed = _settings(_cluster(workers, driver))
    with pytest.raises(InvalidParameterValue, match=WORDS):
        w.jobs.create(name=mixed.name, job_clusters=mixed.job_clusters, tasks=mixed.tasks)
    job_id = w.jobs.create(**{k: getattr(_settings(_cluster(workers)), k)
                              for k in ("name", "job_clusters", "tasks")}).job_id
    with pytest.raises(InvalidParameterValue, match=WORDS):
        w.jobs.reset(job_id, new_settings=mixed)
    with pytest.raises(InvalidParameterValue, match=WORDS):
        w.jobs.update(job_id, new_settings=JobSettings(job_clusters=mixed.job_clusters))
    # Nothing written: the job keeps its one-architecture cluster.
    kept = w.jobs.get(job_id).settings.job_clusters[0].new_cluster
    assert (kept.node_type_id, kept.driver_node_type_id) == (workers, None)


def test_the_refusal_is_a_400_invalid_parameter_value_naming_both_types(ws: RunningWorkspace) -> None:
    body = {"name": "etl", "tasks": [{"task_key": "t", "new_cluster": _cluster("m6g.xlarge", "m5.xlarge"),
                                      "spark_python_task": {"python_file": "dbfs:/x.py"}}]}
    got = requests.post(ws.host + "/api/2.1/jobs/create", json=body, timeout=10,
                        headers={"Authorization": f"Bearer {ws.token}"})
    assert got.status_code == 400
    assert got.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "'m5.xlarge' is x86_64 and node_type_id 'm6g.xlarge' is arm64" in got.json()["message"]


@pytest.mark.parametrize(("workers", "driver"), [
    ("m6g.xlarge", "m7gd.2xlarge"), ("m5.xlarge", "r5d.2xlarge"), ("g4dn.xlarge", "m5.xlarge"),
])
def test_a_cluster_of_one_architecture_is_accepted(ws: RunningWorkspace, workers: str, driver: str) -> None:
    w = client(ws)
    settings = _settings(_cluster(workers, driver))
    job_id = w.jobs.create(name=settings.name, job_clusters=settings.job_clusters, tasks=settings.tasks).job_id
    assert w.jobs.get(job_id).settings.job_clusters[0].new_cluster.driver_node_type_id == driver
