"""The driver in a plan: evidence from stored runs, driver prices, the planner's choice, driver failures."""

from __future__ import annotations

import dataclasses
import re

import pytest

from server.already_runs import already_runs
from server.collect.build import driver_died
from server.collect.run_parse import ClusterRun
from server.collect.usage import cluster_timeline
from server.costing.catalog import load_catalog
from server.costing.errors import UnknownNodeType
from server.costing.run_cost import hourly_cost
from server.domain import (
    Distribution,
    DriverPeaks,
    ExecutorStagePeak,
    IngestEvent,
    Project,
    ProjectSettings,
    Run,
    Stage,
)
from server.plan.candidates import same_hardware
from server.plan.driver import driver_options, driver_run
from server.plan.families import kind_of
from server.plan.planner import plan_project
from server.spec import config_from_spec
from tests.plan.stored_runs import store_run

GIB = 1024**3
SPEC = {
    "spark_version": "15.4.x-scala2.12",
    "node_type_id": "r5.2xlarge",  # no driver_node_type_id: Databricks runs the driver on r5.2xlarge
    "num_workers": 8,
    "aws_attributes": {"availability": "ON_DEMAND", "first_on_demand": 1},
}


def _stage(app: str, i: int, driver_heap: int, driver_gc_ms: int = 0) -> Stage:
    return Stage(application_id=app, stage_id=i, name=f"s{i}", num_tasks=64, submission_time_ms=0,
                 completion_time_ms=60_000, metrics={"executor_run_time_ms": 600_000},
                 task_duration_ms=Distribution(count=64, sum=600_000.0, p50=9000.0, p90=11000.0, max=12000.0),
                 executor_peaks=(ExecutorStagePeak("driver", {"JVMHeapMemory": driver_heap,
                                                              "TotalGCTime": driver_gc_ms}),
                                 ExecutorStagePeak("1", {"JVMHeapMemory": 40 * GIB, "TotalGCTime": 99_000})))


def test_a_runs_driver_evidence_comes_from_the_driver_peaks_only() -> None:
    catalog = load_catalog()
    run = Run(project_id=1, databricks_run_id=1, runtime_s=600.0, outcome="succeeded",
              config=config_from_spec(SPEC), application_ids=("a",))
    stages = [_stage("a", 0, 2 * GIB, 3000), _stage("a", 1, 3 * GIB, 12_000)]
    d = driver_run(run, stages, catalog, "aws")
    assert d is not None and d.node_type == "r5.2xlarge" and d.memory_gib == 64
    assert d.peak_heap_gib == pytest.approx(3.0)  # the executor's 40 GiB is not the driver's
    assert d.gc_share == pytest.approx(12.0 / 600.0)
    assert d.ok and not d.driver_failed
    # The driver lives after the cluster's setup: GC is a share of that part of the run.
    late = driver_run(dataclasses.replace(run, setup_s=360.0), stages, catalog, "aws")
    assert late is not None and late.gc_share == pytest.approx(12.0 / 240.0)
    bare = driver_run(dataclasses.replace(run, anomalies=("failure", "driver_lost"), outcome="failed"), [],
                      catalog, "aws")
    assert bare is not None and bare.peak_heap_gib is None and bare.gc_share is None and bare.driver_failed


def test_the_drivers_heartbeats_count_beside_its_stage_peaks() -> None:
    # A collect() after the last stage: the heap peaks while no stage runs, and the GC time at the
    # context's stop is the run's total; only the heartbeats see either.
    catalog = load_catalog()
    run = Run(project_id=1, databricks_run_id=1, runtime_s=600.0, outcome="succeeded",
              config=config_from_spec(SPEC), application_ids=("a",))
    stages = [_stage("a", 0, 2 * GIB, 3000)]
    beats = [DriverPeaks("a", {"JVMHeapMemory": GIB, "TotalGCTime": 1000}),
             DriverPeaks("a", {"JVMHeapMemory": 11 * GIB, "TotalGCTime": 90_000})]
    d = driver_run(run, stages, catalog, "aws", beats)
    assert d is not None and d.peak_heap_gib == pytest.approx(11.0) and d.gc_share == pytest.approx(0.15)
    alone = driver_run(run, [], catalog, "aws", beats[:1])
    assert alone is not None and alone.peak_heap_gib == pytest.approx(1.0)  # heartbeats alone are evidence
    assert d.peak_outside_gib == 0.0  # process-tree metrics off: nothing measured outside the heap
    python = DriverPeaks("a", {"JVMHeapMemory": GIB, "ProcessTreePythonRSSMemory": 5 * GIB,
                               "ProcessTreeOtherRSSMemory": GIB})
    with_python = driver_run(run, stages, catalog, "aws", [*beats, python])
    assert with_python is not None and with_python.peak_outside_gib == pytest.approx(6.0)


def test_driver_options_price_one_driver_node_alone() -> None:
    catalog = load_catalog()
    like = config_from_spec(SPEC)
    options = {o.node_type: o for o in driver_options(catalog, "aws", ["m5"], like, region="us-east-1",
                                                       plan="premium", sku="jobs")}
    assert "m5.xlarge" in options and "c5.xlarge" not in options
    assert "r5.2xlarge" in options  # the current driver is always priced, family or not
    # A cluster's price is its driver's plus its workers': the difference of two drivers is theirs.
    with_m5 = hourly_cost(dataclasses.replace(like, driver_node_type_id="m5.xlarge"), "aws", "us-east-1",
                          "premium", "jobs", catalog)
    with_r5 = hourly_cost(like, "aws", "us-east-1", "premium", "jobs", catalog)
    assert with_r5 - with_m5 == pytest.approx(options["r5.2xlarge"].price_per_hour
                                              - options["m5.xlarge"].price_per_hour)


def _run_with_driver_peaks(store, project: Project, n: int, heap: int, beat_heap: int = 0) -> None:
    app = f"ctx-{n}"
    events = tuple(IngestEvent(application_id=app, key=f"stage/{i}/0", kind="Stage", body=_stage(app, i, heap),
                               payload=f"{app}/{i}".encode()) for i in range(2))
    if beat_heap:
        events += (IngestEvent(application_id=app, key=f"driver/{beat_heap}/100", kind="DriverPeaks",
                               body=DriverPeaks(app, {"JVMHeapMemory": beat_heap, "TotalGCTime": 100}),
                               payload=b"d"),)
    store_run(store, project, n, events)


def test_the_planner_sizes_the_driver_and_prices_every_candidate_with_it(store) -> None:
    catalog = load_catalog()
    project = store.projects.add(Project(workspace="ws", job_id=1, cluster_key="main", current_spec=SPEC,
                                         original_spec=SPEC, settings=ProjectSettings(sla_seconds=3600.0)))
    _run_with_driver_peaks(store, project, 1, 2 * GIB)
    first = plan_project(store, int(project.id), catalog)
    assert first is not None and first.config.driver_node_type_id == "r5.2xlarge"  # one run: not enough
    assert "driver" not in first.reason
    _run_with_driver_peaks(store, project, 2, 2 * GIB)
    rec = plan_project(store, int(project.id), catalog)
    assert rec is not None
    # 2 GiB peaks: 64 GiB -> the cheapest allowed driver with >= 32 GiB and 4+ vCPUs (one step).
    assert rec.config.driver_node_type_id == "r5.xlarge"
    assert "driver r5.2xlarge -> r5.xlarge (32 GiB): its heap peaked at 2.0 GiB in 2 runs" in rec.reason
    # Amounts in a reason name the catalog's currency (they were bare numbers).
    assert re.search(r"saves \$\d+\.\d\d/h", rec.reason) and re.search(r"cost \$[\d.]+/run", rec.reason), rec.reason
    # The predicted cost is priced with the smaller driver.
    price = hourly_cost(rec.config, "aws", "us-east-1", "premium", "jobs", catalog)
    low_s, high_s = rec.runtime_interval_s
    # Up to the expected spot-loss rework of a spot recommendation, which the estimate counts too.
    assert rec.cost_interval == pytest.approx((price * low_s / 3600.0, price * high_s / 3600.0), rel=0.01)
    assert rec.cost_interval[0] < rec.predicted_cost < rec.cost_interval[1]
    assert not already_runs(SPEC, rec.config, cloud="aws")  # a driver-only change is a change to apply


def test_a_heap_peak_between_stages_keeps_the_driver_big_enough(store) -> None:
    # The stages saw 2 GiB, the heartbeats 12 GiB (a collect after the last stage): half of a 32 GiB
    # r5.xlarge cannot hold 12 x 1.5 GiB, so the 64 GiB driver stays.
    project = store.projects.add(Project(workspace="ws", job_id=1, cluster_key="main", current_spec=SPEC,
                                         original_spec=SPEC, settings=ProjectSettings(sla_seconds=3600.0)))
    for n in (1, 2, 3):
        _run_with_driver_peaks(store, project, n, 2 * GIB, beat_heap=12 * GIB)
    rec = plan_project(store, int(project.id), load_catalog())
    assert rec is not None and rec.config.driver_node_type_id == "r5.2xlarge" and "driver" not in rec.reason


def test_a_driver_that_must_grow_and_cannot_is_named_in_the_recommendation(store) -> None:
    # The largest r5 died and only r5 is allowed: nothing changes, and the user is told what to do.
    spec = {**SPEC, "driver_node_type_id": "r5.8xlarge"}
    project = store.projects.add(Project(workspace="ws", job_id=1, cluster_key="main", current_spec=spec,
                                         original_spec=spec, settings=ProjectSettings(
                                             sla_seconds=3600.0, allowed_families=("r5",))))
    _run_with_driver_peaks(store, project, 1, 2 * GIB)
    store.runs.add(Run(project_id=int(project.id), databricks_run_id=2, start_ms=2 * 86_400_000,
                       end_ms=2 * 86_400_000 + 300_000, runtime_s=300.0, outcome="failed",
                       anomalies=("failure", "driver_lost"), config=config_from_spec(spec)))
    rec = plan_project(store, int(project.id), load_catalog())
    assert rec is not None and rec.config.driver_node_type_id == "r5.8xlarge"
    # The stored run is named (its id): the user can find what died.
    assert "driver r5.8xlarge kept (run 2's driver died on r5.8xlarge (256 GiB); no larger driver is allowed" \
        in rec.reason


def test_a_driver_the_catalog_cannot_price_is_a_clear_error(store) -> None:
    spec = {**SPEC, "driver_node_type_id": "r5.24xlarge"}  # not in the price catalog
    project = store.projects.add(Project(workspace="ws", job_id=1, cluster_key="main", current_spec=spec,
                                         original_spec=spec, settings=ProjectSettings(sla_seconds=3600.0)))
    _run_with_driver_peaks(store, project, 1, 2 * GIB)
    with pytest.raises(UnknownNodeType, match="unknown node type 'r5.24xlarge' on aws"):
        plan_project(store, int(project.id), load_catalog())


def test_a_driver_the_user_fixed_is_left_alone(store) -> None:
    project = store.projects.add(Project(workspace="ws", job_id=1, cluster_key="main", current_spec=SPEC,
                                         original_spec=SPEC,
                                         settings=ProjectSettings(sla_seconds=3600.0, driver_node_type_id="r5.2xlarge")))
    for n in (1, 2, 3):
        _run_with_driver_peaks(store, project, n, GIB)
    rec = plan_project(store, int(project.id), load_catalog())
    assert rec is not None and rec.config.driver_node_type_id == "r5.2xlarge" and "driver" not in rec.reason


def test_same_hardware_reads_an_unset_driver_as_the_worker_type() -> None:
    base = config_from_spec(SPEC)
    assert same_hardware(dataclasses.replace(base, driver_node_type_id="r5.2xlarge"), base)
    assert not same_hardware(dataclasses.replace(base, driver_node_type_id="m5.xlarge"), base)
    assert not same_hardware(dataclasses.replace(base, ebs_volume_type="GENERAL_PURPOSE_SSD", ebs_volume_count=1,
                                                ebs_volume_size_gb=100), base)


def _piece(outcome: str, message: str) -> ClusterRun:
    return ClusterRun(run_id=1, job_id=1, cluster_key="main", cluster_id="c", spark_context_id="", spec=SPEC,
                      task_keys=("t",), start_ms=0, end_ms=600_000, outcome=outcome, state_message=message)


@pytest.mark.parametrize(("outcome", "message", "events", "died"), [
    ("failed", "The Spark driver has stopped unexpectedly and is restarting. "
               "java.lang.OutOfMemoryError: Java heap space", [], True),
    ("failed", "Driver is up but is not responsive, likely due to GC.", [], True),
    ("failed", "Fatal error: The Python kernel is unresponsive.", [], True),
    ("failed", "Task t failed with an exception", [{"type": "DRIVER_UNAVAILABLE", "timestamp": 500_000}], True),
    ("failed", "Job aborted due to stage failure: Task 3 in stage 2.0 failed 4 times", [], False),
    # A driver that paused (GC) and came back is not why a run with a task failure failed.
    ("failed", "Job aborted due to stage failure: Task 3 in stage 2.0 failed 4 times",
     [{"type": "DRIVER_NOT_RESPONDING", "timestamp": 400_000}, {"type": "DRIVER_HEALTHY", "timestamp": 450_000}],
     False),
    # A driver that stopped answering for a while in a run that then succeeded did not die.
    ("succeeded", "", [{"type": "DRIVER_NOT_RESPONDING", "timestamp": 500_000}], False),
])
def test_a_failed_run_whose_driver_died_is_told_apart(outcome: str, message: str, events: list, died: bool) -> None:
    timeline = cluster_timeline(SPEC, events, fallback_start_ms=0, fallback_end_ms=600_000)
    assert driver_died(_piece(outcome, message), timeline) is died



def test_the_driver_named_in_the_reason_is_the_one_the_workers_get_with_both_kinds_allowed(store) -> None:
    # x86 workers with Graviton families allowed beside theirs: the driver is chosen before the workers, and
    # a Graviton pick was swapped for the x86 node nearest in memory on x86 workers (`matching_driver`),
    # while the reason still named the Graviton node and its saving.
    spec = {**SPEC, "node_type_id": "m5d.2xlarge", "driver_node_type_id": "m5d.2xlarge"}
    project = store.projects.add(Project(workspace="ws", job_id=1, cluster_key="main", current_spec=spec,
                                         original_spec=spec, settings=ProjectSettings(
                                             sla_seconds=3600.0, allowed_families=("m5d", "m6gd", "r6gd", "r5d"))))
    for n in (1, 2, 3):
        _run_with_driver_peaks(store, project, n, 9 * GIB)
    catalog = load_catalog()
    rec = plan_project(store, int(project.id), catalog)
    assert rec is not None
    driver, workers = rec.config.driver_node_type_id, rec.config.node_type_id
    assert kind_of(catalog, "aws", driver) == kind_of(catalog, "aws", workers), (driver, workers)
    named = re.search(r"driver m5d\.2xlarge -> (\S+) ", rec.reason)
    assert named is None or named.group(1) == driver, rec.reason
