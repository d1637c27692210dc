"""Field names and JSON types of each simulated event kind match a log real PySpark wrote here."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from typing import Any

from sandbox.sim.run import simulate_run

# Objects whose keys are data (property names, plan metadata), not field names.
MAP_FIELDS = {"Properties", "Spark Properties", "Hadoop Properties", "System Properties", "Metrics Properties",
              "Classpath Entries", "JVM Information", "Log Urls", "Attributes", "Resources", "modifiedConfigs",
              "metadata"}
REQUIRED_KINDS = {
    "SparkListenerLogStart", "SparkListenerResourceProfileAdded", "SparkListenerEnvironmentUpdate",
    "SparkListenerApplicationStart", "SparkListenerApplicationEnd", "SparkListenerExecutorAdded",
    "SparkListenerBlockManagerAdded", "SparkListenerJobStart", "SparkListenerJobEnd",
    "SparkListenerStageSubmitted", "SparkListenerStageCompleted", "SparkListenerTaskStart", "SparkListenerTaskEnd",
    "SparkListenerStageExecutorMetrics", "org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionStart",
    "org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionEnd",
}
# Kinds a local-mode log cannot contain; their fields are JsonProtocol's (apache/spark JsonProtocol.scala).
NOT_IN_LOCAL_LOGS = {
    "DBCEventLoggingListenerMetadata": {"Event", "Spark Version", "Timestamp", "Rollover Number", "SparkContext Id"},
    "SparkListenerExecutorRemoved": {"Event", "Timestamp", "Executor ID", "Removed Reason"},
}
END_REASON_FIELDS = {
    "Success": {"Reason"},
    "Resubmitted": {"Reason"},
    "ExecutorLostFailure": {"Reason", "Executor ID", "Exit Caused By App", "Loss Reason"},
    "ExceptionFailure": {"Reason", "Class Name", "Description", "Stack Trace", "Full Stack Trace",
                         "Accumulator Updates"},
    "TaskKilled": {"Reason", "Kill Reason", "Accumulator Updates"},
}
STACK_FRAME_FIELDS = {"Declaring Class", "Method Name", "File Name", "Line Number"}


def _type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def shape(value: Any, prefix: str = "") -> set[tuple[str, str]]:
    """(path, JSON type) pairs; list elements are ``[]``, keys of data maps ``*``, plan trees folded."""
    out = {(re.sub(r"(\.children\[\])+", ".children[]", prefix), _type(value))}
    if isinstance(value, dict):
        is_map = prefix.rsplit(".", 1)[-1] in MAP_FIELDS
        for key, item in value.items():
            out |= shape(item, f"{prefix}.{'*' if is_map else key}")
    elif isinstance(value, list):
        for item in value:
            out |= shape(item, prefix + "[]")
    return out


def _by_kind(events: list[dict[str, Any]]) -> dict[str, list[set[tuple[str, str]]]]:
    kinds: dict[str, list[set[tuple[str, str]]]] = defaultdict(list)
    for event in events:
        kinds[event["Event"]].append(shape(event))
    return kinds


def _simulated_events() -> list[dict[str, Any]]:
    spec = {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5d.xlarge", "num_workers": 3,
            "aws_attributes": {"availability": "SPOT", "first_on_demand": 1}}
    run = simulate_run(spec, "etl_join_aggregate", seed=0, day=1, cluster_id="1124-000000-schema",
                       spark_context_id="8813", start_time_ms=1_790_000_000_000, job_id=1, run_id=2,
                       app_name="Databricks Shell", spot_loss_prob=1.0)
    return [json.loads(line) for _, line in run.eventlog]


def test_every_event_kind_has_the_real_fields_and_types(real_spark_events) -> None:
    real = _by_kind(real_spark_events)
    mine_events = _simulated_events()
    mine = _by_kind([e for e in mine_events if e["Event"] != "SparkListenerTaskEnd"
                     or e["Task End Reason"]["Reason"] == "Success"])
    assert set(real) >= REQUIRED_KINDS, "the reference log lacks an event kind we check"
    assert set(mine) >= REQUIRED_KINDS
    assert set(mine) - set(real) <= set(NOT_IN_LOCAL_LOGS), "an event kind real Spark does not write"
    for kind in sorted(set(mine) & set(real)):
        real_union = set().union(*real[kind])
        real_always = set.intersection(*real[kind])
        mine_union = set().union(*mine[kind])
        invented = mine_union - real_union
        assert not invented, f"{kind}: fields/types real Spark does not write: {sorted(invented)[:8]}"
        missing = real_always - mine_union
        assert not missing, f"{kind}: fields real Spark always writes are missing: {sorted(missing)[:8]}"
    for kind, fields in NOT_IN_LOCAL_LOGS.items():
        for event in (e for e in mine_events if e["Event"] == kind):
            assert set(event) == fields


def _failed_run_events() -> list[dict[str, Any]]:
    spec = {"spark_version": "15.4.x-scala2.12", "node_type_id": "c5.xlarge", "num_workers": 3}
    run = simulate_run(spec, "skewed_join", seed=1, day=0, cluster_id="1124-000000-oom", spark_context_id="8814",
                       start_time_ms=1_790_000_000_000, job_id=1, run_id=3, app_name="Databricks Shell",
                       spot_loss_prob=0.0)
    assert run.result_state == "FAILED" and "OutOfMemoryError" in run.state_message
    return [json.loads(line) for _, line in run.eventlog]


def test_failed_task_end_reasons_and_failures_use_spark_fields() -> None:
    events = _simulated_events() + _failed_run_events()
    reasons = [e["Task End Reason"] for e in events if e["Event"] == "SparkListenerTaskEnd"]
    assert {r["Reason"] for r in reasons} >= {"Success", "ExecutorLostFailure", "ExceptionFailure"}
    for reason in reasons:
        assert set(reason) == END_REASON_FIELDS[reason["Reason"]]
        for frame in reason.get("Stack Trace", []):
            assert set(frame) == STACK_FRAME_FIELDS and isinstance(frame["Line Number"], int)
    failed_job = next(e for e in events if e["Event"] == "SparkListenerJobEnd" and e["Job Result"]["Result"] != "JobSucceeded")
    assert failed_job["Job Result"]["Result"] == "JobFailed"
    assert set(failed_job["Job Result"]["Exception"]) == {"Message", "Stack Trace"}
    failed_stage = next(e for e in events if e["Event"] == "SparkListenerStageCompleted"
                        and "Failure Reason" in e["Stage Info"])
    assert failed_stage["Stage Info"]["Failure Reason"].startswith("Job aborted due to stage failure")


def test_databricks_metadata_and_tags() -> None:
    events = _simulated_events()
    first = events[0]
    assert first["Event"] == "DBCEventLoggingListenerMetadata"
    assert first["SparkContext Id"] == 8813 and first["Rollover Number"] == 0
    env = next(e for e in events if e["Event"] == "SparkListenerEnvironmentUpdate")
    props = env["Spark Properties"]
    assert props["spark.databricks.clusterUsageTags.clusterId"] == "1124-000000-schema"
    assert props["spark.databricks.job.id"] == "1" and props["spark.databricks.job.runId"] == "2"
    assert props["spark.databricks.clusterUsageTags.clusterName"]
    times = [e.get("Timestamp") or e.get("Submission Time") for e in events if e["Event"].endswith(
        ("ApplicationStart", "JobStart", "ApplicationEnd"))]
    assert times == sorted(times)
