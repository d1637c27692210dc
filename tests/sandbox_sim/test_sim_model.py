"""Behaviour of the simulated runs: determinism and effects moving the right way."""

from __future__ import annotations

import json
import statistics
import time
from typing import Any

import pytest

from sandbox.sim.profiles import PROFILES
from sandbox.sim.run import SimulatedRun, simulate_run

T0 = 1_790_000_000_000


def run(spec: dict[str, Any], profile: str = "etl_join_aggregate", *, seed: int = 1, day: int = 0,
        spot: float | None = 0.0) -> SimulatedRun:
    return simulate_run({"spark_version": "15.4.x-scala2.12", **spec}, profile, seed=seed, day=day,
                        cluster_id="1124-000001-model", spark_context_id="5150", start_time_ms=T0, job_id=7,
                        run_id=70 + seed, app_name="Databricks Shell", spot_loss_prob=spot)


def app_seconds(r: SimulatedRun) -> float:
    events = [json.loads(line) for _, line in r.eventlog]
    start = next(e["Timestamp"] for e in events if e["Event"] == "SparkListenerApplicationStart")
    end = next(e["Timestamp"] for e in events if e["Event"] == "SparkListenerApplicationEnd")
    return (end - start) / 1000


def mean_app_seconds(spec: dict[str, Any], profile: str = "etl_join_aggregate", seeds: range = range(3)) -> float:
    return statistics.mean(app_seconds(run(spec, profile, seed=s)) for s in seeds)


def test_same_seed_same_run_and_other_seed_other_run() -> None:
    spec = {"node_type_id": "m5.xlarge", "autoscale": {"min_workers": 2, "max_workers": 6},
            "aws_attributes": {"availability": "SPOT"}}
    a, b = run(spec, seed=11, spot=0.5), run(spec, seed=11, spot=0.5)
    assert a == b
    c = run(spec, seed=12, spot=0.5)
    assert c.eventlog != a.eventlog and c.summary["runtime_s"] != a.summary["runtime_s"]


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_every_profile_simulates_quickly_and_consistently(profile: str) -> None:
    started = time.process_time()
    r = run({"node_type_id": "m5.2xlarge", "num_workers": 4}, profile)
    assert time.process_time() - started < 1.0  # CPU seconds for one run, event log included
    assert r.result_state == "SUCCESS"
    assert 100 <= r.summary["tasks"] <= 5000
    types = [e.type for e in r.cluster_events]
    assert types[:4] == ["CREATING", "INIT_SCRIPTS_STARTED", "INIT_SCRIPTS_FINISHED", "RUNNING"]
    assert types[-1] == "TERMINATING"
    assert [e.timestamp_ms for e in r.cluster_events] == sorted(e.timestamp_ms for e in r.cluster_events)
    times = [t for t, _ in r.eventlog]
    assert times == sorted(times) and r.running_ms <= times[0] and times[-1] <= r.end_time_ms
    assert r.start_time_ms == T0 < r.running_ms < r.end_time_ms
    assert json.loads(r.eventlog[0][1])["Event"] == "DBCEventLoggingListenerMetadata"
    hosts = {json.loads(line)["Executor Info"]["Host"] for _, line in r.eventlog if "ExecutorAdded" in line}
    assert hosts == {n.private_ip for n in r.nodes if not n.is_driver}
    assert r.nodes[0].is_driver and r.driver_ip == r.nodes[0].private_ip


def test_more_workers_is_faster_with_diminishing_returns() -> None:
    t = {n: mean_app_seconds({"node_type_id": "m5.xlarge", "num_workers": n}) for n in (2, 4, 8, 16)}
    assert t[2] > t[4] > t[8] > t[16]
    assert t[2] / t[4] > t[8] / t[16]  # each doubling buys less
    assert t[16] * 16 > t[2] * 2  # node-seconds grow: parallelism is not free


def test_too_little_memory_spills_and_is_slower() -> None:
    results = {nt: run({"node_type_id": nt, "num_workers": 4}, "memory_bound")
               for nt in ("c5.2xlarge", "m5.2xlarge", "r5.2xlarge")}
    spilled = {nt: r.summary["spilled_bytes"] for nt, r in results.items()}
    assert spilled["c5.2xlarge"] > spilled["m5.2xlarge"] >= spilled["r5.2xlarge"] == 0
    assert results["c5.2xlarge"].summary["gc_ms"] > results["r5.2xlarge"].summary["gc_ms"]
    assert app_seconds(results["c5.2xlarge"]) > 1.5 * app_seconds(results["r5.2xlarge"])
    lines = [json.loads(line) for _, line in results["c5.2xlarge"].eventlog if "TaskEnd" in line]
    assert sum(e["Task Metrics"]["Memory Bytes Spilled"] for e in lines if "Task Metrics" in e) == spilled["c5.2xlarge"]


def test_spot_loss_costs_time_and_shows_in_events() -> None:
    spec = {"node_type_id": "m5.xlarge", "num_workers": 4,
            "aws_attributes": {"availability": "SPOT_WITH_FALLBACK", "first_on_demand": 1}}
    calm, stormy = run(spec, seed=4, spot=0.0), run(spec, seed=4, spot=1.0)
    assert stormy.summary["spot_losses"] == 4 and calm.summary["spot_losses"] == 0
    assert app_seconds(stormy) > app_seconds(calm)
    assert stormy.summary["tasks_failed"] + sum(s["resubmitted"] for s in stormy.summary["stages"]) > 0
    assert sum(e.type == "NODES_LOST" for e in stormy.cluster_events) == 4
    removed = [json.loads(line) for _, line in stormy.eventlog if "ExecutorRemoved" in line]
    assert len(removed) == 4
    assert all(e["Removed Reason"].startswith("Remote RPC client disassociated.") for e in removed)
    lost = [n for n in stormy.nodes if n.lost]
    assert len(lost) == 4 and all(n.spot for n in lost)
    replacements = [n for n in stormy.nodes if n.start_ms > stormy.start_time_ms]
    assert replacements and not any(n.spot for n in replacements)  # fallback to on-demand
    assert not stormy.nodes[0].spot  # first_on_demand keeps the driver on demand


def test_autoscaling_resizes_up_on_backlog_and_down_when_idle() -> None:
    r = run({"node_type_id": "m5.xlarge", "autoscale": {"min_workers": 1, "max_workers": 8}}, "skewed_join", seed=3)
    resizes = [e for e in r.cluster_events if e.type == "RESIZING"]
    ups = [e for e in resizes if e.details["target_num_workers"] > e.details["current_num_workers"]]
    downs = [e for e in resizes if e.details["target_num_workers"] < e.details["current_num_workers"]]
    assert ups and downs and all(e.details["cause"] == "AUTOSCALE" for e in resizes)
    assert ups[0].details["target_num_workers"] == 8
    assert any(e.type == "UPSIZE_COMPLETED" for e in r.cluster_events)
    events = [json.loads(line) for _, line in r.eventlog]
    added = [e for e in events if e["Event"] == "SparkListenerExecutorAdded"]
    killed = [e for e in events if e["Event"] == "SparkListenerExecutorRemoved"]
    assert len(added) > 1 and killed
    assert all(e["Removed Reason"] == "Executor killed by driver." for e in killed)
    assert len(killed) == len(downs)
    fixed = run({"node_type_id": "m5.xlarge", "num_workers": 1}, "skewed_join", seed=3)
    assert app_seconds(r) < app_seconds(fixed)


def test_input_grows_over_days() -> None:
    spec = {"node_type_id": "m5.xlarge", "num_workers": 4}
    day0, later = run(spec, "io_bound", day=0), run(spec, "io_bound", day=300)
    growth = PROFILES["io_bound"].input_gb_on(300) / PROFILES["io_bound"].input_gb_on(0)
    assert growth > 3
    assert later.summary["input_bytes"] == pytest.approx(day0.summary["input_bytes"] * growth, rel=0.01)
    assert app_seconds(later) > 2 * app_seconds(day0)
    week = run(spec, "io_bound", day=7)
    assert day0.summary["input_bytes"] < week.summary["input_bytes"] < later.summary["input_bytes"]


def test_run_to_run_noise_is_realistic() -> None:
    times = [app_seconds(run({"node_type_id": "m5.xlarge", "num_workers": 4}, seed=s)) for s in range(8)]
    cv = statistics.stdev(times) / statistics.mean(times)
    assert 0.005 < cv < 0.2


def test_single_node_cluster_runs_in_the_driver() -> None:
    r = run({"node_type_id": "m5.2xlarge", "num_workers": 0}, "io_bound")
    events = [json.loads(line) for _, line in r.eventlog]
    executors = {e["Executor ID"] for e in events if e["Event"] == "SparkListenerExecutorAdded"}
    assert executors == {"driver"} and len(r.nodes) == 1
    assert r.summary["tasks"] > 0


def test_hot_key_on_small_memory_nodes_fails_with_out_of_memory() -> None:
    small = run({"node_type_id": "c5.xlarge", "num_workers": 3}, "skewed_join")
    big = run({"node_type_id": "r5.xlarge", "num_workers": 3}, "skewed_join")
    assert small.result_state == "FAILED" and "java.lang.OutOfMemoryError" in small.state_message
    assert big.result_state == "SUCCESS" and big.state_message == ""
    failed = [s for s in small.summary["stages"] if s["status"] == "FAILED"]
    assert len(failed) == 1 and failed[0]["failed"] >= 4
    assert small.summary["jobs"][-1]["status"] == "FAILED"
    events = [json.loads(line) for _, line in small.eventlog]
    assert events[-1] == {"Event": "SparkListenerApplicationEnd", "Timestamp": events[-1]["Timestamp"], "ExitCode": 1}
    assert [e.type for e in small.cluster_events][-1] == "TERMINATING"


def test_executors_are_removed_only_after_they_were_added() -> None:
    spec = {"node_type_id": "m5.4xlarge", "num_workers": 6, "aws_attributes": {"availability": "SPOT"}}
    for seed in range(5):  # a short job and certain losses: some nodes go before their executor registers
        r = run(spec, "io_bound", seed=seed, spot=1.0)
        added: set[str] = set()
        for _, line in r.eventlog:
            event = json.loads(line)
            if event["Event"] == "SparkListenerExecutorAdded":
                added.add(event["Executor ID"])
            elif event["Event"] == "SparkListenerExecutorRemoved":
                assert event["Executor ID"] in added
        assert r.summary["spot_losses"] == 6
