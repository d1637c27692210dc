"""Executors the OS kills for memory outside the JVM heap (a pandas UDF's Python workers): the run fails
as Spark reports it, with no node lost."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sandbox.nodes import get_node_type
from sandbox.sim.model import outside_heap_per_slot
from sandbox.sim.profiles import NAMED_ONLY, PROFILES, profile_named
from sandbox.sim.run import SimulatedRun, simulate_run

T0 = 1_790_000_000_000


def _run(node: str, seed: int = 1) -> SimulatedRun:
    spec = {"spark_version": "15.4.x-scala2.12", "node_type_id": node, "num_workers": 4,
            "aws_attributes": {"availability": "ON_DEMAND"}}
    return simulate_run(spec, "pandas_udf", seed=seed, day=0, cluster_id="c", spark_context_id="1",
                        start_time_ms=T0, job_id=1, run_id=1, app_name="score")


def _events(run: SimulatedRun, kind: str) -> list[dict[str, Any]]:
    return [json.loads(line) for _, line in run.eventlog if f'"{kind}"' in line]


def test_too_little_memory_outside_the_heap_kills_executors_and_fails_the_run() -> None:
    assert outside_heap_per_slot(get_node_type("c5.xlarge")) < 0.8 * 2**30
    run = _run("c5.xlarge")
    assert run.result_state == "FAILED"
    assert run.state_message.startswith("Job aborted due to stage failure: Task ")
    assert "failed 4 times" in run.state_message
    assert "ExecutorLostFailure (executor " in run.state_message
    assert "exited caused by one of the running tasks) Reason: Remote RPC client disassociated" in run.state_message
    # No node went: the cluster reports nothing, the executors are restarted on the same nodes.
    assert not [e for e in run.cluster_events if e.type == "NODES_LOST"] and run.summary["spot_losses"] == 0
    removed = _events(run, "SparkListenerExecutorRemoved")
    added = _events(run, "SparkListenerExecutorAdded")
    assert removed and len(added) > 4
    assert {e["Executor Info"]["Host"] for e in added} == {n.private_ip for n in run.nodes if not n.is_driver}
    lost = [e["Task End Reason"] for e in _events(run, "SparkListenerTaskEnd")
            if e["Task End Reason"]["Reason"] == "ExecutorLostFailure"]
    assert lost and all(r["Exit Caused By App"] for r in lost)


@pytest.mark.parametrize("node", ["m5.2xlarge", "m5.xlarge", "r5.xlarge"])
def test_enough_memory_outside_the_heap_runs_clean(node: str) -> None:
    run = _run(node)
    assert run.result_state == "SUCCESS"
    assert not _events(run, "SparkListenerExecutorRemoved")


def test_named_only_profiles_are_not_seeded_but_can_be_named() -> None:
    assert "pandas_udf" in NAMED_ONLY and "pandas_udf" not in PROFILES
    assert profile_named("pandas_udf").name == "pandas_udf"
    with pytest.raises(ValueError, match="unknown workload profile"):
        profile_named("nope")
