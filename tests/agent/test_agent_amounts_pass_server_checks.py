"""Negative counts and sizes, and ends before starts, from an event log never reach the server.

The server drops an event with a negative count, size or duration, or an end before its start
(server/event_amounts.py; grpcapi review t_negstage.py). A damaged log line, a task whose metric
Spark measured below 0, or a clock stepped back between a stage's submission and its completion
would make the agent send such an event and lose it whole. The agent repairs them instead: a
negative amount is sent as 0, an end before its start as 0 (unknown), and its last check
(``refusal``) stops anything else the server would drop, as it does for the server's other checks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from agent.encode import encode_event
from agent.events import (
    METRIC_NAMES,
    AppEnded,
    Distribution,
    ExecutorAdded,
    ExecutorGauges,
    JobCompleted,
    PlainEvent,
    SqlExecution,
    StageCompleted,
)
from agent.parse import AppParser, refusal
from protos.trimtab.v1 import ingest_pb2
from server.errors import InvalidArgument
from server.translate import check_event

RUN, INPUT = METRIC_NAMES.index("executor_run_time_ms"), METRIC_NAMES.index("input_bytes")


def _task(stage: int, run: int, read: int) -> dict[str, Any]:
    return {"Event": "SparkListenerTaskEnd", "Stage ID": stage, "Stage Attempt ID": 0,
            "Task End Reason": {"Reason": "Success"}, "Task Info": {"Launch Time": 5000, "Finish Time": 5100},
            "Task Metrics": {"Executor Run Time": run, "Input Metrics": {"Bytes Read": read}}}


LOG: list[dict[str, Any]] = [
    {"Event": "SparkListenerApplicationStart", "App ID": "app-1", "App Name": "x", "Timestamp": 1000},
    {"Event": "SparkListenerExecutorAdded", "Executor ID": "1", "Timestamp": 1100,
     "Executor Info": {"Host": "h", "Total Cores": -8}},
    {"Event": "SparkListenerJobStart", "Job ID": 0, "Stage IDs": [0, 1], "Submission Time": 5000, "Properties": {}},
    {"Event": "SparkListenerStageSubmitted", "Stage Info": {"Stage ID": 0, "Stage Attempt ID": 0}},
    _task(0, 50, 700), _task(0, -100, -500),
    # The clock stepped back between submission and completion.
    {"Event": "SparkListenerStageCompleted", "Stage Info": {"Stage ID": 0, "Stage Attempt ID": 0,
                                                            "Number of Tasks": -4, "Submission Time": 5000,
                                                            "Completion Time": 4000}},
    # No TaskEnd lines: the totals come from the stage's accumulators.
    {"Event": "SparkListenerStageCompleted", "Stage Info": {
        "Stage ID": 1, "Stage Attempt ID": 0, "Number of Tasks": 2, "Submission Time": 5000,
        "Completion Time": 6000, "Accumulables": [
            {"ID": 1, "Name": "internal.metrics.executorRunTime", "Value": -30},
            {"ID": 2, "Name": "internal.metrics.input.bytesRead", "Value": 900}]}},
    {"Event": "SparkListenerJobEnd", "Job ID": 0, "Completion Time": 4500, "Job Result": {"Result": "JobSucceeded"}},
    {"Event": "org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionStart", "executionId": 0,
     "description": "q", "time": 5000},
    {"Event": "org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionEnd", "executionId": 0, "time": 4000},
    {"Event": "SparkListenerApplicationEnd", "Timestamp": 9000},
]


def test_what_the_agent_makes_of_such_lines_passes_the_servers_checks() -> None:
    p = AppParser()
    events = [e for i, line in enumerate(LOG) for e in p.feed(line, (0, i))] + p.finish()
    for i, e in enumerate(events):
        check_event(encode_event(e), i)  # raises InvalidArgument for what the server drops
    assert p.events_refused == 0  # repaired, not stopped: every event is sent
    bodies = {e.key: e.body for e in events}
    assert {"stage/0/0", "stage/1/0", "job/0", "sql/0", "executor-added/1", "app-end"} <= set(bodies)
    stage0, stage1 = bodies["stage/0/0"], bodies["stage/1/0"]
    assert isinstance(stage0, StageCompleted) and isinstance(stage1, StageCompleted)
    # The task that measured below 0 adds nothing; the other one counts.
    assert (stage0.num_tasks, stage0.metrics[RUN], stage0.metrics[INPUT]) == (0, 50, 700)
    assert (stage0.submission_time_ms, stage0.completion_time_ms) == (5000, 0)
    assert (stage1.metrics[RUN], stage1.metrics[INPUT], stage1.completion_time_ms) == (0, 900, 6000)
    job, sql, added = bodies["job/0"], bodies["sql/0"], bodies["executor-added/1"]
    assert isinstance(job, JobCompleted) and (job.submission_time_ms, job.completion_time_ms) == (5000, 0)
    assert isinstance(sql, SqlExecution) and (sql.start_time_ms, sql.end_time_ms) == (5000, 0)
    assert isinstance(added, ExecutorAdded) and added.total_cores == 0


def _stage(**fields: Any) -> StageCompleted:
    values: dict[str, Any] = {
        "stage_id": 1, "attempt_id": 0, "name": "s", "num_tasks": 2, "parent_ids": [],
        "submission_time_ms": 1000, "completion_time_ms": 2000, "failure_reason": "",
        "metrics": [0] * len(METRIC_NAMES), "task_duration_ms": Distribution(2, 1, 1, 1, 1, 1, 1, 1, 1, 2),
        "tasks_succeeded": 2, "tasks_failed": 0, "tasks_killed": 0,
        "executor_peaks": {"1": {"JVMHeapMemory": -1}}}  # Spark's "not set yet": accepted by both
    values.update(fields)
    return StageCompleted(**values)


_NEGATIVE_RUN = [0] * len(METRIC_NAMES)
_NEGATIVE_RUN[RUN] = -1

BODIES: list[tuple[object, bool]] = [
    (_stage(), True),
    (_stage(submission_time_ms=0, completion_time_ms=5), True),
    (_stage(num_tasks=-1), False),
    (_stage(tasks_killed=-1), False),
    (_stage(metrics=_NEGATIVE_RUN), False),
    (_stage(task_duration_ms=Distribution(2, -1, 1, 1, 1, 1, 1, 1, 1, 2)), False),
    (_stage(submission_time_ms=3000), False),
    (JobCompleted(1, 3000, 2000, [], True, ""), False),
    (JobCompleted(1, 3000, 0, [], True, ""), True),
    (SqlExecution(1, "q", 3000, 2000, ""), False),
    (ExecutorAdded("1", "h", -1, 1000, 0), False),
    (ExecutorGauges(1000, "1", 5, 10, 0, 0, -1), False),
    (AppEnded(9000, 1, -1, 1), False),
]


@pytest.mark.parametrize(("body", "accepted"), BODIES)
def test_the_last_check_refuses_exactly_what_the_server_drops(body: Any, accepted: bool) -> None:
    event = PlainEvent("k", "app-1", body)
    assert (refusal(event) is None) is accepted
    if accepted:
        check_event(encode_event(event), 0)
    else:
        with pytest.raises(InvalidArgument):
            check_event(encode_event(event), 0)
    assert isinstance(encode_event(event), ingest_pb2.Event)


@pytest.mark.spark
def test_real_spark_logs_make_no_event_the_server_drops(spark_logs: Path) -> None:
    """Real PySpark 4 logs (a shuffle, SQL, a failed and retried task, executor metrics logged):
    every event passes the server's checks, none stopped by the agent's last check."""
    plain = next(p for p in sorted(spark_logs.iterdir()) if p.is_file() and "." not in p.name)
    p = AppParser()
    events = [e for i, line in enumerate(plain.read_bytes().splitlines())
              for e in p.feed(orjson.loads(line), (0, i))] + p.finish()
    for i, e in enumerate(events):
        check_event(encode_event(e), i)
    assert p.events_refused == 0
    stages = [e.body for e in events if isinstance(e.body, StageCompleted)]
    assert len(stages) >= 4 and all(s.num_tasks > 0 and s.completion_time_ms >= s.submission_time_ms > 0
                                    for s in stages)
