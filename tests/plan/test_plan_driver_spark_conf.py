"""The planner reads the driver heap a job sets in its cluster's spark_conf (``spark.driver.memory``):
the driver JVM gets that heap on any node, so the driver is never moved to a node that cannot hold
it beside what is not heap. It was ignored: a job with 40g of driver heap on a 64 GiB r5.2xlarge and
2 GiB peaks was moved to a 32 GiB r5.xlarge."""

from __future__ import annotations

import pytest

from server.costing.catalog import load_catalog
from server.domain import DriverPeaks, IngestEvent, Project, ProjectSettings
from server.plan.driver import heap_set_gib
from server.plan.planner import plan_project
from tests.plan.stored_runs import store_run

GIB = 1024**3
SPEC = {
    "spark_version": "15.4.x-scala2.12",
    "node_type_id": "r5.2xlarge",  # the driver too: 64 GiB
    "num_workers": 8,
    "aws_attributes": {"availability": "ON_DEMAND", "first_on_demand": 1},
}


def _planned(store, spark_conf: dict[str, str]) -> tuple[str, str]:
    """The recommendation's driver and reason after three runs whose driver heap peaked at 2 GiB."""
    spec = {**SPEC, **({"spark_conf": spark_conf} if spark_conf else {})}
    project = store.projects.add(Project(workspace="ws", job_id=1, cluster_key="main", current_spec=spec,
                                         original_spec=spec, settings=ProjectSettings(sla_seconds=3600.0)))
    for n in (1, 2, 3):
        app = f"ctx-{n}"
        beat = DriverPeaks(app, {"JVMHeapMemory": 2 * GIB, "TotalGCTime": 1_000})
        store_run(store, project, n, [IngestEvent(application_id=app, key=f"driver/{n}", kind="DriverPeaks",
                                                  body=beat, payload=app.encode())])
    rec = plan_project(store, int(project.id or 0), load_catalog())
    assert rec is not None
    return str(rec.config.driver_node_type_id), rec.reason


def test_without_the_setting_the_runs_halve_the_driver(store) -> None:
    driver, reason = _planned(store, {})
    assert driver == "r5.xlarge" and "driver r5.2xlarge -> r5.xlarge (32 GiB)" in reason


@pytest.mark.parametrize("value", ["40g", "40G", "40960m", "40960", " 40gb "])
def test_a_driver_heap_the_job_sets_keeps_a_node_that_holds_it(store, value: str) -> None:
    driver, reason = _planned(store, {"spark.driver.memory": value, "spark.sql.shuffle.partitions": "64"})
    assert driver == "r5.2xlarge"  # 40 GiB of heap + 2 GiB beside it: not 32 GiB
    # The recommendation says what holds the driver, and what the runs alone would do.
    assert "driver r5.2xlarge kept: the job's spark_conf sets spark.driver.memory to 40 GiB, which needs a node " \
           "of 42 GiB" in reason
    assert "its runs alone would take it to r5.xlarge (32 GiB)" in reason


def test_a_setting_the_smaller_driver_holds_changes_nothing(store) -> None:
    driver, reason = _planned(store, {"spark.driver.memory": "24g"})
    assert driver == "r5.xlarge" and "spark.driver.memory" not in reason


@pytest.mark.parametrize(("conf", "gib"), [
    ({"spark.driver.memory": "4g"}, 4.0), ({"spark.driver.memory": "512m"}, 0.5), ({"spark.driver.memory": "2048"}, 2.0),
    ({"spark.driver.memory": "1t"}, 1024.0), ({"spark.driver.memory": "1.5g"}, 0.0),  # Spark refuses fractions
    ({"spark.driver.memory": "4x"}, 0.0), ({"spark.driver.memory": ""}, 0.0), ({}, 0.0), (None, 0.0),
])
def test_the_heap_setting_is_read_as_spark_reads_it(conf: dict | None, gib: float) -> None:
    assert heap_set_gib({"spark_conf": conf} if conf is not None else {}) == pytest.approx(gib)
