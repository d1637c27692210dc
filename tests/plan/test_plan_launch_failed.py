"""Whose fault a failed run is (`server.collect.failure`), and the label the collector gives it.

A failure the cloud or the service caused (no capacity, a reclaimed instance, a limit, an outage) is
labelled "launch_failed" so the model does not avoid the configuration; a refusal by the cluster
policy, the job's own code failing, running out of memory and anything unknown stay the
configuration's.
"""

from __future__ import annotations

from typing import Any

import pytest

from server.collect import failure
from server.collect.build import AgentData, Expected, build_run
from server.collect.failure import FailureCause, classify_failure
from server.collect.run_parse import ClusterRun, cluster_runs
from server.collect.usage import cluster_timeline
from server.domain import Project

SPEC: dict[str, Any] = {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5d.xlarge", "num_workers": 4}
CAPACITY = {"code": "AWS_INSUFFICIENT_INSTANCE_CAPACITY_FAILURE", "type": "CLOUD_FAILURE",
            "parameters": {"aws_api_error_code": "InsufficientInstanceCapacity"}}


def _task(code: str | None, type_: str | None, message: str = "") -> dict[str, Any]:
    return {"code": code, "type": type_, "message": message}


@pytest.mark.parametrize(("tasks", "cluster", "expected"), [
    # The Jobs service's own words: the cloud, the platform, limits outside the configuration.
    ([_task("CLOUD_FAILURE", "CLOUD_FAILURE")], None, FailureCause(True, "CLOUD_FAILURE")),
    ([_task("INTERNAL_ERROR", "INTERNAL_ERROR", "An error occurred")], None, FailureCause(True, "INTERNAL_ERROR")),
    ([_task("CLUSTER_REQUEST_LIMIT_EXCEEDED", None)], None, FailureCause(True, "CLUSTER_REQUEST_LIMIT_EXCEEDED")),
    ([_task("WORKSPACE_RUN_LIMIT_EXCEEDED", None)], None, FailureCause(True, "WORKSPACE_RUN_LIMIT_EXCEEDED")),
    ([_task("MAX_CONCURRENT_RUNS_EXCEEDED", None)], None, FailureCause(True, "MAX_CONCURRENT_RUNS_EXCEEDED")),
    # A code about something outside the cluster's size, typed as the cloud's: an outage (a library
    # index or a git host down), not a reason to avoid the configuration.
    ([_task("LIBRARY_INSTALLATION_ERROR", "CLOUD_FAILURE")], None,
     FailureCause(True, "LIBRARY_INSTALLATION_ERROR (CLOUD_FAILURE)")),
    # The cluster record's reason, the most specific: it wins over the task's generic CLUSTER_ERROR.
    ([_task("CLUSTER_ERROR", "CLIENT_ERROR", "Cluster failed to start")], CAPACITY,
     FailureCause(True, "AWS_INSUFFICIENT_INSTANCE_CAPACITY_FAILURE (CLOUD_FAILURE)")),
    ([_task("RUN_EXECUTION_ERROR", "CLIENT_ERROR", "The spark driver has stopped unexpectedly")],
     {"code": "SPOT_INSTANCE_TERMINATION", "type": "CLOUD_FAILURE"},
     FailureCause(True, "SPOT_INSTANCE_TERMINATION (CLOUD_FAILURE)")),
    ([_task("CLUSTER_ERROR", None)], {"code": "CLOUD_PROVIDER_LAUNCH_FAILURE"},  # no type: the code says it
     FailureCause(True, "CLOUD_PROVIDER_LAUNCH_FAILURE")),
    ([_task("CLUSTER_ERROR", None)], {"code": "AZURE_VM_EXTENSION_FAILURE", "type": "CLOUD_FAILURE"},
     FailureCause(True, "AZURE_VM_EXTENSION_FAILURE (CLOUD_FAILURE)")),
    ([_task("CLUSTER_ERROR", None)], {"code": "INSTANCE_UNREACHABLE", "type": "SERVICE_FAULT"},
     FailureCause(True, "INSTANCE_UNREACHABLE (SERVICE_FAULT)")),
    # A secret the cluster cannot read (the owner lacks READ on the agent token's scope): every
    # configuration fails alike until the grant is fixed.
    ([_task("CLUSTER_ERROR", "CLIENT_ERROR", "Failed to resolve spark_env_vars")],
     {"code": "SECRET_PERMISSION_DENIED", "type": "CLIENT_ERROR"},
     FailureCause(True, "SECRET_PERMISSION_DENIED (CLIENT_ERROR)")),
    ([_task("CLUSTER_ERROR", None)], {"code": "SECRET_RESOLUTION_ERROR"}, FailureCause(True, "SECRET_RESOLUTION_ERROR")),
    # No cluster record at hand: a cloud code quoted in the task's message is enough.
    ([_task("CLUSTER_ERROR", "CLIENT_ERROR", "Cluster 1205-x is in unexpected state Terminated: "
            "AWS_INSUFFICIENT_INSTANCE_CAPACITY_FAILURE(CLOUD_FAILURE): aws_api_error_code:Insufficient")],
     None, FailureCause(True, "AWS_INSUFFICIENT_INSTANCE_CAPACITY_FAILURE")),
])
def test_the_clouds_and_the_services_failures_are_transient(
        tasks: list[dict[str, Any]], cluster: dict[str, Any] | None, expected: FailureCause) -> None:
    assert classify_failure(tasks, cluster) == expected


@pytest.mark.parametrize(("tasks", "cluster"), [
    # A cluster policy refusal: the configuration is what the policy refused.
    ([_task("CLUSTER_ERROR", "CLIENT_ERROR", "Cluster validation error: Validation failed for num_workers")], None),
    ([_task("INVALID_CLUSTER_REQUEST", "CLIENT_ERROR")], None),
    # Even a cloud-typed cluster reason does not excuse a refusal or a lack of memory.
    ([_task("CLUSTER_ERROR", None, "Cluster validation error: the value must be one of")], CAPACITY),
    ([_task("RUN_EXECUTION_ERROR", "CLIENT_ERROR", "java.lang.OutOfMemoryError: Java heap space")],
     {"code": "INSTANCE_UNREACHABLE", "type": "SERVICE_FAULT"}),
    # The job's own code failed, its driver died, its init script failed: the configuration's.
    ([_task("RUN_EXECUTION_ERROR", "CLIENT_ERROR", "Task failed")], {"code": "JOB_FINISHED", "type": "SUCCESS"}),
    ([_task("DRIVER_ERROR", "CLIENT_ERROR")], None),
    # The code names what failed whatever the type reporting it (review: a driver that ran out of
    # memory, DRIVER_ERROR typed INTERNAL_ERROR, was read as the cloud's and never sized up).
    ([_task("DRIVER_ERROR", "INTERNAL_ERROR", "The spark driver has stopped unexpectedly and is restarting")],
     {"code": "JOB_FINISHED", "type": "SUCCESS"}),
    ([_task("RUN_EXECUTION_ERROR", "INTERNAL_ERROR", "Task failed")], None),
    ([_task("CLUSTER_ERROR", None)], {"code": "DRIVER_UNRESPONSIVE", "type": "SERVICE_FAULT"}),
    ([_task("CLUSTER_ERROR", None)], {"code": "DRIVER_OUT_OF_MEMORY", "type": "CLIENT_ERROR"}),
    ([_task("CLUSTER_ERROR", "CLIENT_ERROR")], {"code": "INIT_SCRIPT_FAILURE", "type": "CLIENT_ERROR"}),
    # A quota, a pool's capacity, a misconfiguration: a smaller or different configuration launches.
    ([_task("CLUSTER_ERROR", None)], {"code": "AWS_RESOURCE_QUOTA_EXCEEDED", "type": "CLOUD_FAILURE"}),
    ([_task("CLUSTER_ERROR", None)], {"code": "INSTANCE_POOL_MAX_CAPACITY_REACHED", "type": "CLOUD_FAILURE"}),
    ([_task("CLUSTER_ERROR", None)], {"code": "CLOUD_PROVIDER_LAUNCH_FAILURE_DUE_TO_MISCONFIG",
                                      "type": "CLOUD_FAILURE"}),
    # One task the cloud failed, another that failed on its own: not all the cloud's.
    ([_task("CLOUD_FAILURE", "CLOUD_FAILURE"), _task("RUN_EXECUTION_ERROR", "CLIENT_ERROR")], None),
    # Unknown: the conservative default, as before.
    ([_task("SOMETHING_NEW", "SOMETHING_NEW")], {"code": "SOMETHING_ELSE", "type": "SOMETHING"}),
    ([_task(None, None, "")], None),
    ([], None),
])
def test_the_configurations_failures_and_the_unknown_are_the_configurations(
        tasks: list[dict[str, Any]], cluster: dict[str, Any] | None) -> None:
    assert classify_failure(tasks, cluster).transient is False


def test_every_code_named_is_one_the_sdk_knows() -> None:
    # Names come from databricks-sdk's enums, never invented: this keeps them so as the SDK moves.
    from databricks.sdk.service import compute, jobs

    run_codes = {c.value for c in jobs.TerminationCodeCode}
    cluster_codes = {c.value for c in compute.TerminationReasonCode}
    # Each difference is the names the SDK does not know: none.
    assert not (failure.TRANSIENT_RUN_CODES | failure.REFUSED_RUN_CODES | failure.OWN_RUN_CODES) - run_codes
    assert not failure.TRANSIENT_RUN_CODES & failure.OWN_RUN_CODES
    assert not failure.TRANSIENT_RUN_TYPES - {t.value for t in jobs.TerminationTypeType}
    assert not failure.TRANSIENT_CLUSTER_TYPES - {t.value for t in compute.TerminationReasonType}
    assert not (failure.TRANSIENT_CLUSTER_CODES | failure.CONFIGURATION_CLUSTER_CODES) - cluster_codes
    assert not failure.TRANSIENT_CLUSTER_CODES & failure.CONFIGURATION_CLUSTER_CODES


def _run(task: dict[str, Any]) -> dict[str, Any]:
    return {"run_id": 7, "job_id": 1, "job_clusters": [{"job_cluster_key": "main", "new_cluster": SPEC}],
            "tasks": [{"task_key": "t", "job_cluster_key": "main", "start_time": 1_000, "end_time": 61_000,
                       **task}]}


def test_a_pieces_failed_tasks_carry_their_termination_details() -> None:
    (piece,) = cluster_runs(_run({
        "cluster_instance": {"cluster_id": "c-1"},
        "state": {"life_cycle_state": "INTERNAL_ERROR", "result_state": "FAILED", "state_message": "gone"},
        "status": {"state": "TERMINATED", "termination_details": {
            "code": "CLOUD_FAILURE", "type": "CLOUD_FAILURE", "message": "no capacity"}}}))
    assert piece.outcome == "failed"
    assert piece.failed_tasks == ({"code": "CLOUD_FAILURE", "type": "CLOUD_FAILURE", "message": "no capacity"},)
    # API 2.1 and older report no details: the state message is all there is.
    (old,) = cluster_runs(_run({"cluster_instance": {"cluster_id": "c-1"}, "state": {
        "life_cycle_state": "INTERNAL_ERROR", "result_state": "FAILED", "state_message": "gone"}}))
    assert old.failed_tasks == ({"code": None, "type": None, "message": "gone"},)
    (ok,) = cluster_runs(_run({"cluster_instance": {"cluster_id": "c-1"}, "state": {
        "life_cycle_state": "TERMINATED", "result_state": "SUCCESS"}}))
    assert ok.failed_tasks == ()


def _built(piece: ClusterRun, cluster: dict[str, Any] | None) -> tuple[tuple[str, ...], str]:
    project = Project(id=1, workspace="ws", job_id=1, cluster_key="main", current_spec=SPEC, original_spec=SPEC)
    timeline = cluster_timeline(SPEC, [], fallback_start_ms=piece.start_ms, fallback_end_ms=piece.end_ms)
    run, _ = build_run(project, piece, cluster=cluster, timeline=timeline, agent=AgentData(), history=[],
                       expected=Expected(dict(SPEC), None))
    return run.anomalies, run.message


def _piece(message: str, *details: dict[str, Any], outcome: str = "failed") -> ClusterRun:
    return ClusterRun(run_id=7, job_id=1, cluster_key="main", cluster_id="c-1", spark_context_id="", spec=SPEC,
                      task_keys=("t",), start_ms=0, end_ms=60_000, outcome=outcome, state_message=message,
                      failed_tasks=details)


def test_build_run_labels_a_transient_failure_launch_failed_and_keeps_it_failed() -> None:
    launch = _piece("Cluster failed to start", _task("CLUSTER_ERROR", "CLIENT_ERROR", "Cluster failed to start"))
    anomalies, message = _built(launch, {"termination_reason": CAPACITY})
    assert anomalies == ("failure", "launch_failed", "no_capacity")  # the type itself would not launch
    # Databricks' words, plus the cluster's reason they did not name.
    assert message == "Cluster failed to start (AWS_INSUFFICIENT_INSTANCE_CAPACITY_FAILURE (CLOUD_FAILURE))"
    # A reclaimed spot driver: the cloud's doing, so the driver is not sized up for it either.
    lost = _piece("The spark driver has stopped unexpectedly and is restarting.",
                  _task("RUN_EXECUTION_ERROR", "CLIENT_ERROR", "The spark driver has stopped unexpectedly"))
    spot = {"termination_reason": {"code": "SPOT_INSTANCE_TERMINATION", "type": "CLOUD_FAILURE"}}
    assert _built(lost, spot)[0] == ("failure", "launch_failed")  # launched: no word on capacity
    # The same words with a normal end of the cluster: the driver died on its configuration.
    assert _built(lost, {"termination_reason": {"code": "JOB_FINISHED", "type": "SUCCESS"}})[0] == \
        ("failure", "driver_lost")
    refused = _piece("Cluster validation error: Validation failed for num_workers",
                     _task("CLUSTER_ERROR", "CLIENT_ERROR", "Cluster validation error: Validation failed"))
    assert _built(refused, None) == (("failure",), "Cluster validation error: Validation failed for num_workers")
    assert _built(_piece("", outcome="succeeded"), {"termination_reason": CAPACITY})[0] == ()
