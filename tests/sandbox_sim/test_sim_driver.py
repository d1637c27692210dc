"""The simulated driver's memory: heap per node, peaks in the event log, GC near the limit, OOM."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent.events import DriverPeaks, StageCompleted
from agent.parse import AppParser
from sandbox.nodes import get_node_type
from sandbox.sim.driver import driver_heap_bytes, gc_share, parse_jvm_memory
from sandbox.sim.profiles import PROFILES
from sandbox.sim.run import SimulatedRun, simulate_run
from sandbox.sim.scheduler import DRIVER_STOPPED_MESSAGE

GIB = 1024**3


def _run(profile: str, node: str, *, driver: str | None = None, conf: dict[str, str] | None = None,
         seed: int = 0, day: int = 0, workers: int = 4) -> SimulatedRun:
    spec: dict[str, Any] = {"spark_version": "15.4.x-scala2.12", "node_type_id": node, "num_workers": workers}
    if driver:
        spec["driver_node_type_id"] = driver
    if conf:
        spec["spark_conf"] = conf
    return simulate_run(spec, profile, seed=seed, day=day, cluster_id="1204-000000-driver", spark_context_id="77",
                        start_time_ms=1_790_000_000_000, job_id=1, run_id=2, app_name="Databricks Shell",
                        spot_loss_prob=0.0)


def _events(run: SimulatedRun) -> list[dict[str, Any]]:
    return [json.loads(line) for _, line in run.eventlog]


def _driver_stage_peaks(events: list[dict[str, Any]]) -> list[dict[str, int]]:
    return [e["Executor Metrics"] for e in events
            if e["Event"] == "SparkListenerStageExecutorMetrics" and e["Executor ID"] == "driver"]


def test_heap_rule_and_spark_driver_memory() -> None:
    m5d = get_node_type("m5d.xlarge")  # 16 GiB
    assert driver_heap_bytes(m5d) == 10 * GIB  # 0.75 x 16 - 2 GiB, the executor rule
    assert driver_heap_bytes(get_node_type("c6id.xlarge")) == 4 * GIB
    assert driver_heap_bytes(m5d, {"spark.driver.memory": "6g"}) == 6 * GIB
    assert driver_heap_bytes(m5d, {"spark.driver.memory": "64g"}) == 16 * GIB  # no more than the node has
    assert parse_jvm_memory("4096") == 4 * GIB  # a bare number is MiB
    assert parse_jvm_memory("512m") == 512 * 1024**2 and parse_jvm_memory("2gb") == 2 * GIB
    assert parse_jvm_memory("lots") is None


def test_ample_driver_succeeds_with_driver_peaks_below_its_heap() -> None:
    run = _run("etl_join_aggregate", "m5d.xlarge")
    s = run.summary
    assert run.result_state == "SUCCESS" and not s["driver_oom"]
    events = _events(run)
    peaks = _driver_stage_peaks(events)
    assert peaks, "no per-stage driver peaks logged"
    heap = s["driver_heap_bytes"]
    assert heap == 10 * GIB
    for p in peaks:
        assert 0 < p["JVMHeapMemory"] <= heap and p["JVMOffHeapMemory"] > 0
        assert p["TotalGCTime"] == p["MinorGCTime"] + p["MajorGCTime"]
    # A used-heap sample holds at least the live data the driver had then; the peak live data is seen.
    assert max(p["JVMHeapMemory"] for p in peaks) >= s["driver_peak_live_bytes"] * 0.9
    # Heartbeats are logged as Spark does for the driver, GC time cumulative, the last one at stop.
    beats = [e for e in events if e["Event"] == "SparkListenerExecutorMetricsUpdate"]
    assert beats and all(b["Executor ID"] == "driver" for b in beats)
    gc = [b["Executor Metrics Updated"][0]["Executor Metrics"]["TotalGCTime"] for b in beats]
    assert gc == sorted(gc)
    # Process-tree metrics on (the init script's conf): the driver's Python process is sampled too.
    python = [b["Executor Metrics Updated"][0]["Executor Metrics"]["ProcessTreePythonRSSMemory"] for b in beats]
    assert all(300e6 < v < 400e6 for v in python)
    assert events[-2]["Event"] == "SparkListenerExecutorMetricsUpdate"
    assert events[-1]["Event"] == "SparkListenerApplicationEnd"
    # The stage's driver peaks come before its StageCompleted, as EventLoggingListener writes them.
    names = [(e["Event"], e.get("Executor ID")) for e in events]
    first = names.index(("SparkListenerStageExecutorMetrics", "driver"))
    assert any(n == "SparkListenerStageCompleted" for n, _ in names[first:])


def test_driver_too_small_dies_mid_job_with_databricks_message_and_events() -> None:
    ample = _run("skewed_join", "m5d.2xlarge")  # the seeded driver
    small = _run("skewed_join", "m5d.2xlarge", driver="c6id.xlarge")
    assert ample.result_state == "SUCCESS" and not ample.summary["driver_oom"]
    assert small.result_state == "FAILED"
    assert small.state_message == DRIVER_STOPPED_MESSAGE
    assert "The spark driver has stopped unexpectedly" in small.state_message
    assert "java.lang.OutOfMemoryError: Java heap space" in small.state_message
    s = small.summary
    assert s["driver_oom"] and s["driver_heap_bytes"] == 4 * GIB
    assert s["driver_need_bytes"] > s["driver_heap_bytes"] >= s["driver_peak_live_bytes"]
    kinds = [e.type for e in small.cluster_events]
    assert kinds.index("DRIVER_NOT_RESPONDING") < kinds.index("DRIVER_UNAVAILABLE") < kinds.index("TERMINATING")
    assert small.cluster_events[kinds.index("DRIVER_NOT_RESPONDING")].details == {
        "driver_state_message": "Driver is up but is not responsive, likely due to GC."}
    # The log stops where the driver died: no application end, a job and a stage that never end.
    events = _events(small)
    names = [e["Event"] for e in events]
    assert "SparkListenerApplicationEnd" not in names
    started = {e["Job ID"] for e in events if e["Event"] == "SparkListenerJobStart"}
    ended = {e["Job ID"] for e in events if e["Event"] == "SparkListenerJobEnd"}
    assert ended < started
    done = [e for e in events if e["Event"] == "SparkListenerStageCompleted"]
    assert 0 < len(done) < sum(1 for e in _events(ample) if e["Event"] == "SparkListenerStageCompleted")
    assert [st["status"] for st in s["stages"]] == ["COMPLETE", "COMPLETE", "ACTIVE", "SKIPPED"]
    crash = s["driver_crash_ms"]
    assert all(t < crash for t, _ in small.eventlog)
    assert min(e.timestamp_ms for e in small.cluster_events if e.type == "TERMINATING") > crash
    # The nodes live until the cluster terminates, after Databricks gave up on the driver.
    assert all(n.end_ms == min(e.timestamp_ms for e in small.cluster_events if e.type == "TERMINATING")
               for n in small.nodes)


def test_gc_share_rises_steeply_near_the_limit() -> None:
    assert gc_share(0.3) == 0.0 and gc_share(0.7) < 0.05 < gc_share(0.9) < gc_share(0.97) < 0.9
    need = _run("skewed_join", "m5d.2xlarge").summary["driver_need_bytes"]
    shares, runtimes = [], []
    for heap_mb in (10_240, round(need / 1024**2 / 0.85), round(need / 1024**2 / 0.97)):
        run = _run("skewed_join", "m5d.2xlarge", conf={"spark.driver.memory": f"{heap_mb}m"})
        assert run.result_state == "SUCCESS"
        s = run.summary
        shares.append(s["driver_gc_ms"] / (s["app_end_ms"] - s["app_start_ms"]))
        runtimes.append(s["app_end_ms"] - s["app_start_ms"])
    assert shares[0] < 0.01 < shares[1] < 0.10 < shares[2]
    assert runtimes[0] < runtimes[2]  # GC pauses slow the driver's work
    strained = _run("skewed_join", "m5d.2xlarge", conf={"spark.driver.memory": f"{round(need / 1024**2 / 0.97)}m"})
    assert "DRIVER_NOT_RESPONDING" in [e.type for e in strained.cluster_events]


def test_same_seed_same_run_and_run_to_run_variation() -> None:
    a = _run("iterative_ml", "c5d.2xlarge", seed=3)
    b = _run("iterative_ml", "c5d.2xlarge", seed=3)
    assert a.eventlog == b.eventlog and a.summary == b.summary
    needs = [_run("iterative_ml", "c5d.2xlarge", seed=k).summary["driver_need_bytes"] for k in range(8)]
    assert len(set(needs)) == 8 and max(needs) / min(needs) < 1.8
    later = _run("iterative_ml", "c5d.2xlarge", seed=3, day=200).summary["driver_need_bytes"]
    assert later > a.summary["driver_need_bytes"]  # grows with the day's input


@pytest.mark.parametrize(("profile", "node"), [
    ("etl_join_aggregate", "m5d.xlarge"), ("io_bound", "r5d.xlarge"), ("iterative_ml", "c5d.2xlarge"),
    ("memory_bound", "i3.xlarge"), ("sort", "m5d.2xlarge"), ("skewed_join", "m5d.2xlarge"),
    ("etl_join_aggregate", "m5d.2xlarge"), ("memory_bound", "r5d.2xlarge"), ("sort", "m5.2xlarge"),
])
def test_seeded_and_demo_drivers_hold_their_jobs(profile: str, node: str) -> None:
    """The sandbox seed's and the demo's clusters (driver = worker type) never run out of driver heap."""
    for seed in range(6):
        s = _run(profile, node, seed=seed, day=60).summary
        assert not s["driver_oom"] and s["driver_need_bytes"] < 0.7 * s["driver_heap_bytes"]


def test_small_drivers_would_do_for_most_profiles_but_not_skewed_join() -> None:
    smallest = "c6id.xlarge"  # 4 vCPUs, 8 GiB: a 4 GiB driver heap
    for profile in PROFILES:
        s = _run(profile, "m5d.2xlarge", driver=smallest).summary
        assert s["driver_oom"] == (profile == "skewed_join"), profile
        if profile != "skewed_join":  # far less than the seeded drivers' heaps (10-22 GiB)
            assert s["driver_need_bytes"] < 4 * GIB


def test_agent_parser_sees_the_driver_peaks() -> None:
    run = _run("etl_join_aggregate", "m5d.xlarge")
    parser = AppParser(fallback_id="app")
    out = []
    for i, (_, line) in enumerate(run.eventlog):
        out += parser.feed(json.loads(line), i)
    out += parser.finish()
    stages = [e.body for e in out if isinstance(e.body, StageCompleted)]
    with_driver = [st for st in stages if "driver" in st.executor_peaks]
    assert with_driver
    heap = run.summary["driver_heap_bytes"]
    assert all(0 < st.executor_peaks["driver"]["JVMHeapMemory"] <= heap for st in with_driver)
    # The heartbeats reach the agent as running peaks too; the last one at the application's end.
    beats = [e.body.metrics for e in out if isinstance(e.body, DriverPeaks)]
    assert beats and max(b["JVMHeapMemory"] for b in beats) >= max(
        st.executor_peaks["driver"]["JVMHeapMemory"] for st in with_driver)
    assert 300e6 < beats[-1]["ProcessTreePythonRSSMemory"] < 400e6
    # A crashed driver's log parses too: its completed stages keep their peaks, no application end.
    small = _run("skewed_join", "m5d.2xlarge", driver="c6id.xlarge")
    parser = AppParser(fallback_id="app2")
    out = []
    for i, (_, line) in enumerate(small.eventlog):
        out += parser.feed(json.loads(line), i)
    out += parser.finish()
    kinds = {type(e.body).__name__ for e in out}
    assert "StageCompleted" in kinds and "AppEnded" not in kinds


def test_emulator_reports_a_driver_oom_run_as_databricks_does(tmp_path: Path) -> None:
    """Through the workspace emulator and the SDK: a failed run, its message, the cluster's events."""
    from databricks.sdk.service.compute import EventType, GetEventsOrder
    from databricks.sdk.service.jobs import RunResultState

    from sandbox.workspace import start_workspace
    from sandbox.workspace.clock import FakeClock
    from tests.sandbox_ws.conftest import client

    with start_workspace(tmp_path / "ws", speed=600.0, clock=FakeClock()) as ws:
        w = client(ws)
        job_id = w.api_client.do("POST", "/api/2.2/jobs/create", body={
            "name": "skewed", "tags": {"sandbox:profile": "skewed_join"},
            "job_clusters": [{"job_cluster_key": "main", "new_cluster": {
                "spark_version": "15.4.x-scala2.12", "node_type_id": "m5d.2xlarge",
                "driver_node_type_id": "c6id.xlarge", "num_workers": 4,
                "aws_attributes": {"availability": "ON_DEMAND"}}}],
            "tasks": [{"task_key": "main", "job_cluster_key": "main"}]})["job_id"]
        run_id = w.jobs.run_now(job_id).run_id
        assert ws.wait_idle(60)
        run = w.jobs.get_run(run_id)
        assert run.state.result_state == RunResultState.FAILED
        assert run.state.state_message.startswith("The spark driver has stopped unexpectedly")
        assert "java.lang.OutOfMemoryError: Java heap space" in run.state.state_message
        cid = run.tasks[0].cluster_instance.cluster_id
        kinds = [e.type for e in w.clusters.events(cid, order=GetEventsOrder.ASC)]
        assert EventType.DRIVER_NOT_RESPONDING in kinds and EventType.DRIVER_UNAVAILABLE in kinds
        assert kinds[-1] == EventType.TERMINATING


def test_a_run_without_its_event_log_is_the_same_run() -> None:
    # eventlog=False (the growth benchmark's hundreds of runs) skips three quarters of the work: nothing
    # but the log may differ.
    import dataclasses

    from sandbox.sim.run import simulate_run

    spec = {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5d.xlarge", "num_workers": 4}
    kw: dict[str, Any] = dict(seed=3, day=2, cluster_id="c", spark_context_id="77", start_time_ms=1_790_000_000_000,
                              job_id=1, run_id=2, app_name="a", spot_loss_prob=0.5)
    full = simulate_run(spec, "etl_join_aggregate", **kw)
    bare = simulate_run(spec, "etl_join_aggregate", eventlog=False, **kw)
    assert full.eventlog and bare.eventlog == []
    assert dataclasses.replace(full, eventlog=[]) == bare
