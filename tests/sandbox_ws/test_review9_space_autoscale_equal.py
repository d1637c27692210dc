"""The emulator refuses an autoscale range whose max_workers is not above its min_workers, as the
Clusters API does (400 INVALID_PARAMETER_VALUE; the SDK's ``compute.AutoScale``: max_workers "must
be strictly greater than min_workers"), through the real databricks-sdk (ninth review)."""

from __future__ import annotations

import pytest
from databricks.sdk.errors import InvalidParameterValue
from databricks.sdk.service.jobs import JobCluster, JobSettings, SparkPythonTask, Task

from sandbox.workspace import RunningWorkspace
from tests.sandbox_ws.conftest import client
from tests.sandbox_ws.test_sandbox_ws_jobs import spec


def _settings(autoscale: dict[str, int]) -> JobSettings:
    cluster = {k: v for k, v in spec(autoscale=autoscale).items() if k != "num_workers"}
    return JobSettings(name="as", job_clusters=[JobCluster.from_dict({"job_cluster_key": "a", "new_cluster": cluster})],
                       tasks=[Task(task_key="t", job_cluster_key="a",
                                   spark_python_task=SparkPythonTask(python_file="dbfs:/x.py"))])


def test_an_equal_autoscale_range_is_refused_and_a_wider_one_accepted(ws: RunningWorkspace) -> None:
    w = client(ws)
    equal = _settings({"min_workers": 4, "max_workers": 4})
    with pytest.raises(InvalidParameterValue, match="max_workers 4 must be strictly greater than min_workers 4"):
        w.jobs.create(name=equal.name, job_clusters=equal.job_clusters, tasks=equal.tasks)
    wider = _settings({"min_workers": 4, "max_workers": 5})
    job_id = w.jobs.create(name=wider.name, job_clusters=wider.job_clusters, tasks=wider.tasks).job_id
    # An update to an equal range is refused too, and the job keeps its range.
    with pytest.raises(InvalidParameterValue, match="strictly greater"):
        w.jobs.update(job_id, new_settings=JobSettings(job_clusters=equal.job_clusters))
    autoscale = w.jobs.get(job_id).settings.job_clusters[0].new_cluster.autoscale
    assert (autoscale.min_workers, autoscale.max_workers) == (4, 5)
