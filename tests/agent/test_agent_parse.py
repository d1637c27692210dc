"""Parsing: tolerant of unknown events and fields, stage aggregation, distribution, removal
reasons, replay after restore emits nothing twice, and the encoder's keys and size bounds."""

from __future__ import annotations

import numpy as np
import pytest

from agent import encode
from agent.events import DriverPeaks, Removal, StageCompleted
from agent.parse import AppParser, classify_removal, distribution, event_name


def task_end(stage: int, launch: int, finish: int, run: int, reason: str = "Success", **extra) -> dict:
    return {"Event": "SparkListenerTaskEnd", "Stage ID": stage, "Stage Attempt ID": 0,
            "Task End Reason": {"Reason": reason}, "Task Info": {"Launch Time": launch, "Finish Time": finish},
            "Task Metrics": {"Executor Run Time": run, "Peak Execution Memory": run * 10,
                             "Shuffle Write Metrics": {"Shuffle Bytes Written": 5}, "Brand New Metric": 1},
            **extra}


def stage_completed(stage: int, **info) -> dict:
    return {"Event": "SparkListenerStageCompleted",
            "Stage Info": {"Stage ID": stage, "Stage Attempt ID": 0, "Stage Name": "s", "Number of Tasks": 3,
                           **info}}


APP_START = {"Event": "SparkListenerApplicationStart", "App ID": "app-1", "App Attempt ID": "2",
             "App Name": "n", "Timestamp": 5, "User": "u"}


@pytest.mark.parametrize(("text", "want"), [
    ("Executor killed by driver.", Removal.KILLED_BY_DRIVER),
    ("Executor decommission: spot instance interruption", Removal.DECOMMISSION),
    ("Executor finished decommissioning. Finished decommissioning", Removal.DECOMMISSION),
    ("Remote RPC client disassociated. Likely due to containers exceeding thresholds", Removal.LOST),
    ("Executor heartbeat timed out after 120000 ms", Removal.HEARTBEAT_TIMEOUT),
    ("Command exited with code 137", Removal.EXITED),
    ("", Removal.UNSPECIFIED),
    (None, Removal.UNSPECIFIED),
])
def test_removal_reasons(text, want):
    assert classify_removal(text) == want


def test_distribution_matches_numpy():
    values = [5, 1, 9, 120, 3, 3, 7, 2, 1000, 4]
    d = distribution(values)
    for q, got in ((25, d.p25), (50, d.p50), (75, d.p75), (90, d.p90), (95, d.p95), (99, d.p99)):
        assert got == pytest.approx(np.percentile(values, q))
    assert (d.count, d.min, d.max, d.sum) == (10, 1, 1000, sum(values))
    assert distribution([]).count == 0


def test_event_name_prefix():
    assert event_name(b'{"Event":"SparkListenerTaskStart","x":1}') == "SparkListenerTaskStart"
    assert event_name(b'{"x":1,"Event":"SparkListenerTaskStart"}') is None


def test_stage_aggregation_unknown_events_and_held_back_events():
    p = AppParser(fallback_id="from-file-name")
    out = p.feed({"Event": "SparkListenerExecutorAdded", "Executor ID": "driver", "Timestamp": 1,
                  "Executor Info": {"Host": "h", "Total Cores": 4}}, (0, 0))
    assert out == [] and p.low_water() == (0, 0)  # held until the application id is known
    assert p.feed({"Event": "SomethingSparkAddsIn2030", "x": 1}, (0, 5)) == []
    out = p.feed(APP_START, (0, 10))
    assert [(e.key, e.application_id) for e in out] == [("executor-added/driver", "app-1/2")]
    p.feed(task_end(3, 100, 150, 40), (0, 20))
    p.feed(task_end(3, 100, 110, 8, reason="ExceptionFailure"), (0, 30))
    p.feed(task_end(3, 100, 400, 250, reason="TaskKilled"), (0, 40))
    assert p.low_water() == (0, 20)
    p.feed({"Event": "SparkListenerStageExecutorMetrics", "Executor ID": "1", "Stage ID": 3,
            "Stage Attempt ID": 0, "Executor Metrics": {"JVMHeapMemory": 77}}, (0, 45))
    (ev,) = p.feed(stage_completed(3, **{"Submission Time": 90, "Completion Time": 410}), (0, 50))
    s = ev.body
    assert isinstance(s, StageCompleted) and ev.key == "stage/3/0"
    assert (s.tasks_succeeded, s.tasks_failed, s.tasks_killed) == (1, 1, 1)
    assert s.metrics[0] == 40 + 8 + 250 and s.metrics[-1] == 2500  # run time summed, peak is a max
    assert s.task_duration_ms.count == 3 and s.task_duration_ms.max == 300
    assert s.executor_peaks == {"1": {"JVMHeapMemory": 77}}
    assert p.low_water() is None


def test_accumulables_used_when_no_task_end_lines():
    p = AppParser("ctx")
    accs = [{"ID": 1, "Name": "internal.metrics.executorRunTime", "Value": 1234},
            {"ID": 2, "Name": "internal.metrics.peakExecutionMemory", "Value": 99}, {"weird": True}]
    (ev,) = p.feed(stage_completed(1, Accumulables=accs), (0, 0))
    assert ev.body.metrics[0] == 1234 and ev.body.metrics[-1] == 99 and ev.body.task_duration_ms.count == 0


def test_missing_and_wrongly_typed_fields_are_tolerated():
    p = AppParser("ctx")
    p.feed({"Event": "SparkListenerTaskEnd"}, (0, 0))
    p.feed({"Event": "SparkListenerTaskEnd", "Stage ID": "x", "Task Metrics": "nope", "Task Info": None}, (0, 1))
    (ev,) = p.feed({"Event": "SparkListenerStageCompleted"}, (0, 2))
    assert ev.key == "stage/0/0" and ev.body.tasks_failed == 2
    (job,) = p.feed({"Event": "SparkListenerJobEnd", "Job ID": 4}, (0, 3))
    assert job.key == "job/4" and not job.body.succeeded


def test_replay_after_restore_emits_nothing_twice():
    lines = [APP_START, {"Event": "SparkListenerJobStart", "Job ID": 0, "Submission Time": 1, "Stage IDs": [0],
                         "Properties": {"spark.databricks.job.id": "77", "spark.databricks.job.runId": "88"}},
             task_end(0, 1, 2, 1), stage_completed(0), task_end(1, 1, 3, 2),
             {"Event": "SparkListenerJobEnd", "Job ID": 0, "Job Result": {"Result": "JobSucceeded"}},
             stage_completed(1), {"Event": "SparkListenerApplicationEnd", "Timestamp": 9}]
    first = AppParser()
    emitted = []
    for i, line in enumerate(lines[:5]):
        emitted += first.feed(line, (0, i))
    snap, low = first.snapshot(), first.low_water()
    assert low == (0, 4)  # stage 1 is open: a restart must re-read from its first line
    second = AppParser()
    second.restore(snap)
    for i, line in enumerate(lines):
        if (0, i) >= low:
            emitted += second.feed(line, (0, i))
    keys = [e.key for e in emitted]
    assert sorted(keys) == sorted(set(keys))
    assert set(keys) == {"app-start", "stage/0/0", "stage/1/0", "job/0", "app-end"}
    start = next(e.body for e in emitted if e.key == "app-start")
    assert (start.job_id, start.run_id, start.application_id) == ("77", "88", "app-1/2")
    end = next(e.body for e in emitted if e.key == "app-end")
    assert (end.stages_completed, end.jobs_completed) == (2, 1)


def heartbeat(heap: int, gc: int, executor: str = "driver", python: int = 0) -> dict:
    return {"Event": "SparkListenerExecutorMetricsUpdate", "Executor ID": executor, "Metrics Updated": [],
            "Executor Metrics Updated": [{"Stage ID": -1, "Stage Attempt ID": -1, "Executor Metrics": {
                "JVMHeapMemory": heap, "TotalGCTime": gc, "JVMOffHeapMemory": heap // 4,
                "ProcessTreePythonRSSMemory": python, "ProcessTreeOtherRSSMemory": python // 8}}]}


def test_driver_heartbeats_send_running_peaks_when_they_grow_and_at_the_end():
    gib = 1024**3
    p = AppParser()
    sent = p.feed(APP_START, (0, 0))
    beats = [heartbeat(gib, 100), heartbeat(gib + gib // 100, 300),  # +1% heap, +200 ms GC: not worth a send
             heartbeat(gib // 2, 900),  # the heap went down: the peak stays
             heartbeat(2 * gib, 1000),  # the peak doubled: sent
             heartbeat(2 * gib, 1900),  # +900 ms GC: under the 1 s step
             heartbeat(2 * gib, 2100),  # +1.1 s and +110%: sent
             heartbeat(9 * gib, 9999, executor="3"),  # an executor's (Spark logs only the driver's): ignored
             heartbeat(2 * gib, 2200, python=8 * gib),  # toPandas in the driver's Python: sent
             heartbeat(2 * gib, 2300, python=8 * gib + gib // 100),  # +1%: not
             heartbeat(2 * gib, 2400)]
    for i, line in enumerate(beats, start=1):
        sent += p.feed(line, (0, i))
    sent += p.feed({"Event": "SparkListenerApplicationEnd", "Timestamp": 9}, (0, 99))
    driver = [(e.key, e.body.metrics) for e in sent if isinstance(e.body, DriverPeaks)]
    outside = 8 * gib + gib // 100 + (8 * gib + gib // 100) // 8
    assert [k for k, _ in driver] == [f"driver/{gib}/100/0", f"driver/{2 * gib}/1000/0", f"driver/{2 * gib}/2100/0",
                                      f"driver/{2 * gib}/2200/{9 * gib}", f"driver/{2 * gib}/2400/{outside}"]
    # Zeros (metrics Spark does not measure here) are left out.
    assert driver[1][1] == {"JVMHeapMemory": 2 * gib, "TotalGCTime": 1000, "JVMOffHeapMemory": gib // 2}
    assert [e.key for e in sent][-1] == "app-end"  # the final peaks go first: a reader of the end has them
    proto = encode.encode_event(next(e for e in sent if e.key == f"driver/{2 * gib}/2400/{outside}"))
    assert dict(proto.driver_peaks.metrics)["TotalGCTime"] == 2400


def test_a_log_that_ends_without_the_application_end_sends_the_last_driver_peaks():
    gib = 1024**3
    p = AppParser()
    sent = p.feed(APP_START, (0, 0)) + p.feed(heartbeat(4 * gib, 100), (0, 1))
    sent += p.feed(heartbeat(4 * gib + gib // 10, 300), (0, 2))  # +2.5%: below the step
    sent += p.finish()  # the driver died: no SparkListenerApplicationEnd
    assert [e.key for e in sent if e.key.startswith("driver/")] == [f"driver/{4 * gib}/100/0",
                                                                   f"driver/{4 * gib + gib // 10}/300/0"]
    assert not [e for e in p.finish() if e.key.startswith("driver/")]  # nothing new: nothing sent


def test_driver_peaks_replayed_after_restore_send_the_same_keys_or_nothing():
    gib = 1024**3
    lines = [APP_START, task_end(0, 1, 2, 1), heartbeat(gib, 100), heartbeat(3 * gib, 200), task_end(0, 1, 3, 2),
             heartbeat(3 * gib, 5000), stage_completed(0), {"Event": "SparkListenerApplicationEnd", "Timestamp": 9}]
    once = AppParser()
    straight = [e for i, line in enumerate(lines) for e in once.feed(line, (0, i))]
    first = AppParser()
    emitted = [e for i, line in enumerate(lines[:5]) for e in first.feed(line, (0, i))]
    snap, low = first.snapshot(), first.low_water()
    assert low == (0, 1)  # stage 0 is open: the heartbeats after its first line are read again
    second = AppParser()
    second.restore(snap)
    emitted += [e for i, line in enumerate(lines) if (0, i) >= low for e in second.feed(line, (0, i))]
    keys = [e.key for e in emitted]
    assert sorted(keys) == sorted(set(keys))
    assert keys == [e.key for e in straight]
    assert [k for k in keys if k.startswith("driver/")] == [f"driver/{gib}/100/0", f"driver/{3 * gib}/200/0",
                                                           f"driver/{3 * gib}/5000/0"]


def test_conf_keeps_identifying_keys_and_never_secrets():
    p = AppParser("ctx")
    p.feed({"Event": "SparkListenerEnvironmentUpdate", "Spark Properties": {
        "spark.databricks.clusterUsageTags.clusterId": "0101-abc", "spark.executor.memory": "8g",
        "spark.databricks.clusterUsageTags.someToken": "t0p", "spark.hadoop.fs.s3a.secret.key": "s",
        "spark.driver.extraJavaOptions": "-Dx"}}, (0, 0))
    assert p.conf == {"spark.databricks.clusterUsageTags.clusterId": "0101-abc", "spark.executor.memory": "8g"}


def test_encoding_keys_and_batch_size_bounds():
    p = AppParser("ctx")
    events = []
    for s in range(300):
        p.feed(task_end(s, 1, 2, 1), (0, s))
        events += p.feed(stage_completed(s, **{"Failure Reason": "x" * 20_000}), (0, s))
    encoded = [encode.encode_event(e) for e in events]
    assert [e.key for e in encoded] == [f"stage/{s}/0" for s in range(300)]
    groups = list(encode.group_events(encoded, max_events=500, max_bytes=256 * 1024))
    assert len(groups) > 1 and sum(len(g) for g in groups) == 300
    for g in groups:
        assert encode.make_batch("b", g).ByteSize() <= 256 * 1024 + 64
    huge = encoded[0]
    huge.stage_completed.failure_reason = "y" * 3_000_000
    (only,) = list(encode.group_events([huge], 10, 1024 * 1024))
    assert only[0].ByteSize() < 512 * 1024 and only[0].key == "stage/0/0"
