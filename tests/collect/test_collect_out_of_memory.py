"""A failed run that ran out of memory is labelled ``out_of_memory`` (`server.memory_failure`), with what
to do in its message; executors killed for memory are not a spot loss. The runs come from the
simulator (`sandbox.sim`), their executors read by the agent's own classifier."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agent.spark_fields import classify_removal
from models.observation import OUT_OF_MEMORY
from sandbox.sim.run import SimulatedRun, simulate_run
from server.collect.build import AgentData, Expected, build_run, with_agent_data
from server.collect.failure import classify_failure
from server.collect.run_parse import ClusterRun
from server.collect.usage import cluster_timeline
from server.domain import Executor, Project, Run
from server.memory_failure import MemoryFailure, memory_failure
from server.plan.observe import observation

T0 = 1_790_000_000_000
LOST = ("ExecutorLostFailure (executor 7 exited caused by one of the running tasks) Reason: Remote RPC client "
        "disassociated. Likely due to containers exceeding thresholds, or network issues.")


@pytest.mark.parametrize(("text", "where", "evidence"), [
    ("Lost task 3.3 (executor 7): ExecutorLostFailure (executor 7 exited caused by one of the running tasks) "
     "Reason: Command exited with code 137", "executors", "Command exited with code 137"),
    ("ExecutorLostFailure (executor 2 exited caused by one of the running tasks) Reason: Container killed by YARN "
     "for exceeding memory limits. 10.4 GB of 10.4 GB physical memory used.", "executors",
     "Container killed by YARN for exceeding memory limits"),
    ("Container killed on request. Exit code is 143", "executors", "Exit code is 143"),
    ("Job aborted due to stage failure: java.lang.OutOfMemoryError: GC overhead limit exceeded", "executors",
     "java.lang.OutOfMemoryError: GC overhead limit exceeded"),
    (LOST, "executors", "executors lost (ExecutorLostFailure) while no node was"),
])
def test_the_words_of_executors_out_of_memory(text: str, where: str, evidence: str) -> None:
    assert memory_failure([text], driver_died=False, nodes_lost=False) == MemoryFailure(where, evidence)


def test_a_driver_that_died_of_its_heap_or_in_gc_is_the_drivers() -> None:
    stopped = ("The spark driver has stopped unexpectedly and is restarting.\nCaused by: java.lang.OutOfMemoryError: "
               "GC overhead limit exceeded")
    assert memory_failure([stopped], driver_died=True, nodes_lost=False) == MemoryFailure(
        "driver", "java.lang.OutOfMemoryError: GC overhead limit exceeded")
    assert memory_failure(["Driver is up but is not responsive, likely due to GC."], driver_died=True,
                          nodes_lost=False) == MemoryFailure("driver", "Driver is up but is not responsive, likely due to GC")
    assert memory_failure(["boom"], driver_died=False, nodes_lost=False,
                          cluster_code="DRIVER_OUT_OF_MEMORY").where == "driver"
    # A driver that died with no word of memory stays a lost driver only.
    assert memory_failure(["The spark driver has stopped unexpectedly"], driver_died=True, nodes_lost=False) is None


def test_executors_lost_with_a_node_or_other_failures_are_not_memory() -> None:
    assert memory_failure([LOST], driver_died=False, nodes_lost=True) is None  # a reclaimed spot node's words
    assert memory_failure(["Task failed: ZeroDivisionError", "Executor killed by driver."], driver_died=False,
                          nodes_lost=False) is None


def test_a_task_killed_for_memory_is_the_configurations_even_if_typed_as_the_platforms() -> None:
    task = {"code": "RUN_EXECUTION_ERROR", "type": "INTERNAL_ERROR",
            "message": "ExecutorLostFailure (executor 1 exited) Reason: Command exited with code 137"}
    assert classify_failure([task], None).transient is False


def _simulated(node_type: str) -> tuple[dict[str, Any], SimulatedRun]:
    spec = {"spark_version": "15.4.x-scala2.12", "node_type_id": node_type, "num_workers": 4,
            "aws_attributes": {"availability": "ON_DEMAND", "first_on_demand": 1}}
    return spec, simulate_run(spec, "pandas_udf", seed=3, day=0, cluster_id="c-1", spark_context_id="1",
                              start_time_ms=T0, job_id=1, run_id=7, app_name="score")


def _agent(sim: SimulatedRun) -> AgentData:
    """The executors the agent reports for the simulated run, classified by the agent's own rule."""
    removed = [json.loads(line) for _, line in sim.eventlog if '"SparkListenerExecutorRemoved"' in line]
    return AgentData(executors=tuple(
        Executor(application_id=sim.spark_app_id, executor_id=e["Executor ID"], removed_ms=e["Timestamp"],
                 removal_reason=classify_removal(e["Removed Reason"]).name.lower(), removal_text=e["Removed Reason"])
        for e in removed))


def _built(spec: dict[str, Any], sim: SimulatedRun, agent: AgentData) -> Run:
    project = Project(id=1, workspace="ws", job_id=1, cluster_key="main", current_spec=spec, original_spec=spec)
    outcome = "succeeded" if sim.result_state == "SUCCESS" else "failed"
    failed = ({"code": "RUN_EXECUTION_ERROR", "type": "CLIENT_ERROR", "message": sim.state_message},) \
        if outcome == "failed" else ()
    piece = ClusterRun(run_id=7, job_id=1, cluster_key="main", cluster_id="c-1", spark_context_id="1", spec=spec,
                       task_keys=("main",), start_ms=sim.start_time_ms, end_ms=sim.end_time_ms, outcome=outcome,
                       state_message=sim.state_message, failed_tasks=failed)
    events = [{"timestamp": e.timestamp_ms, "type": e.type, "details": e.details} for e in sim.cluster_events]
    timeline = cluster_timeline(spec, events, fallback_start_ms=sim.start_time_ms, fallback_end_ms=sim.end_time_ms,
                                cloud="aws")
    run, _ = build_run(project, piece, cluster=None, timeline=timeline, agent=agent, history=[],
                       expected=Expected(dict(spec), None), cloud="aws")
    return run


def test_executors_the_os_killed_for_memory_are_out_of_memory_not_a_spot_loss() -> None:
    spec, sim = _simulated("c5.xlarge")
    assert sim.result_state == "FAILED" and not any(e.type == "NODES_LOST" for e in sim.cluster_events)
    agent = _agent(sim)
    assert agent.executors_lost > 0  # Spark's words for them are a lost node's
    run = _built(spec, sim, agent)
    assert run.anomalies == ("failure", OUT_OF_MEMORY)
    assert run.message.startswith("Out of memory on the executors (")
    # The planner holds it against the configuration's memory, not as an explained spot loss.
    obs = observation(run, [], applied_recommendation=False)
    assert obs is not None and obs.anomalies == ("failure", OUT_OF_MEMORY) and not obs.ok


def test_agent_data_after_collection_does_not_turn_it_into_a_spot_loss() -> None:
    spec, sim = _simulated("c5.xlarge")
    collected = _built(spec, sim, AgentData())  # collected before the agent's last flush
    assert collected.anomalies == ("failure", OUT_OF_MEMORY)
    late = with_agent_data(collected, _agent(sim), [])
    assert late.anomalies == ("failure", OUT_OF_MEMORY) and late.message == collected.message


def test_agent_data_alone_can_say_it() -> None:
    # Databricks' words name nothing (an older API's bare message); the agent's executors do.
    spec, sim = _simulated("c5.xlarge")
    quiet = SimulatedRun(**{**sim.__dict__, "state_message": "A task did not succeed."})
    collected = _built(spec, quiet, AgentData())
    assert collected.anomalies == ("failure",)
    agent = AgentData(executors=tuple(Executor(application_id="app", executor_id=str(i), removal_reason="exited",
                                               removal_text="Command exited with code 137") for i in range(2)))
    late = with_agent_data(collected, agent, [])
    assert late.anomalies == ("failure", OUT_OF_MEMORY)
    assert late.message.startswith("Out of memory on the executors (Command exited with code 137)")
    assert late.message.endswith("Databricks: A task did not succeed.")


def test_a_run_on_enough_memory_per_core_succeeds_with_no_label() -> None:
    spec, sim = _simulated("m5.2xlarge")
    assert sim.result_state == "SUCCESS"
    assert _built(spec, sim, _agent(sim)).anomalies == ()
