"""What an event log's numbers can make the agent send.

No NaN or infinity: the follower's JSON reader (orjson) refuses ``NaN``, ``Infinity`` and numbers
past a double's range, and task durations are whole milliseconds, so every double the agent sends
is finite (the server stores a non-finite distribution as unknown all the same).

An integer past its proto field's range (two task run times near int64's limit summed, a core
count past int32) failed the encoding with ValueError, which lost that event and every later one
of the same read; it is now saturated at the field's limit and the events are sent.
"""

from __future__ import annotations

import math

import orjson
import pytest

from agent import encode
from agent.events import Distribution, ExecutorRemoved, PlainEvent, Removal, StageCompleted
from agent.parse import AppParser, distribution
from protos.trimtab.v1 import ingest_pb2

INT64_MAX, INT32_MAX = 2**63 - 1, 2**31 - 1
APP = b'{"Event":"SparkListenerApplicationStart","App ID":"app-1","App Name":"n","Timestamp":5,"User":"u"}'


def _task_end(launch: object, finish: object, run: object) -> bytes:
    return orjson.dumps({"Event": "SparkListenerTaskEnd", "Stage ID": 1, "Stage Attempt ID": 0,
                         "Task End Reason": {"Reason": "Success"},
                         "Task Info": {"Launch Time": launch, "Finish Time": finish},
                         "Task Metrics": {"Executor Run Time": run}})


def _read(lines: list[bytes]) -> list[ingest_pb2.Event]:
    parser = AppParser("ctx")
    events = []
    for i, line in enumerate(lines):
        events += parser.feed(orjson.loads(line), i)
    events += parser.finish()
    return [encode.encode_event(e) for e in events]


@pytest.mark.parametrize("number", [b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e400", b"nan"])
def test_the_json_reader_refuses_non_finite_numbers(number: bytes) -> None:
    """What `agent.follow.app` reads lines with: such a line is counted corrupt, never parsed."""
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(b'{"Event":"SparkListenerTaskEnd","Task Info":{"Launch Time":' + number + b"}}")


def test_task_durations_at_the_limits_give_finite_distributions() -> None:
    for values in ([INT64_MAX] * 1000, [0, INT64_MAX], [1], [INT64_MAX, INT64_MAX - 1, 3]):
        d = distribution(values)
        assert all(math.isfinite(getattr(d, f)) for f in ("min", "p25", "p50", "p75", "p90", "p95", "p99",
                                                           "max", "sum")), d


def test_integers_past_a_fields_range_are_saturated_and_every_event_is_sent() -> None:
    lines = [APP,
             b'{"Event":"SparkListenerStageSubmitted","Stage Info":{"Stage ID":1,"Stage Attempt ID":0,'
             b'"Number of Tasks":2}}',
             _task_end(1, 5, INT64_MAX), _task_end(1, 9, INT64_MAX),  # the sum passes int64
             b'{"Event":"SparkListenerStageCompleted","Stage Info":{"Stage ID":1,"Stage Attempt ID":0,'
             b'"Stage Name":"s","Number of Tasks":2}}',
             b'{"Event":"SparkListenerExecutorAdded","Timestamp":7,"Executor ID":"1",'
             b'"Executor Info":{"Host":"h","Total Cores":4294967296}}']
    sent = {e.key: e for e in _read(lines)}
    assert sorted(sent) == ["app-start", "executor-added/1", "stage/1/0"]
    stage = sent["stage/1/0"].stage_completed
    assert stage.metrics.executor_run_time_ms == INT64_MAX
    assert (stage.task_duration_ms.count, stage.task_duration_ms.max) == (2, 8.0)
    assert sent["executor-added/1"].executor_added.total_cores == INT32_MAX


def test_saturation_reaches_lists_and_maps_and_leaves_other_values_alone() -> None:
    body = StageCompleted(stage_id=2**40, attempt_id=-(2**40), name="s", num_tasks=3, parent_ids=[1, 2**33],
                          submission_time_ms=2**70, completion_time_ms=5, failure_reason="",
                          metrics=[2**64] + [1] * 21, task_duration_ms=Distribution(1, 1, 1, 1, 1, 1, 1, 1, 1, 1),
                          tasks_succeeded=1, tasks_failed=0, tasks_killed=0,
                          executor_peaks={"1": {"JVMHeapMemory": -(2**70), "x": 4}}, input_from_cache=True)
    out = encode.encode_event(PlainEvent("stage/1/0", "app", body)).stage_completed
    assert (out.stage_id, out.attempt_id, list(out.parent_ids)) == (INT32_MAX, -(2**31), [1, INT32_MAX])
    assert (out.submission_time_ms, out.completion_time_ms) == (INT64_MAX, 5)
    assert out.metrics.executor_run_time_ms == INT64_MAX and out.metrics.executor_cpu_time_ns == 1
    assert dict(out.executor_peaks[0].metrics) == {"JVMHeapMemory": -(2**63), "x": 4}
    assert (out.name, out.input_from_cache, out.task_duration_ms.count) == ("s", True, 1)
    removed = ExecutorRemoved(executor_id="1", time_ms=9, reason=Removal.LOST, reason_text="t")
    assert encode.fit_body(removed) is removed  # nothing out of range: the very same body
