"""A stage shared with a job whose JobStart Spark dropped still has every attempt emitted, once.

Spark's listener bus drops events when the event-log queue is full. The parser closes a stage when
the last job listing it ends (to keep its checkpoint small); with one job's JobStart lost, the other
job's end closed a stage the lost job still runs, and its later attempts (a rerun after an executor
loss) were silently dropped. Checked over restarts from the snapshot at every cut (and every pair).
"""

from __future__ import annotations

import itertools
from typing import Any

import orjson

from agent.events import PlainEvent, StageCompleted
from agent.parse import AppParser

Line = dict[str, Any]


def _task_end(s: int, a: int, reason: str = "Success") -> Line:
    return {"Event": "SparkListenerTaskEnd", "Stage ID": s, "Stage Attempt ID": a,
            "Task End Reason": {"Reason": reason}, "Task Info": {"Launch Time": 1, "Finish Time": 2},
            "Task Metrics": {}}


def _stage(s: int, a: int, fail: bool = False) -> list[Line]:
    info = {"Stage Info": {"Stage ID": s, "Stage Attempt ID": a}}
    return [{"Event": "SparkListenerStageSubmitted", **info}, _task_end(s, a),
            _task_end(s, a, "FetchFailed" if fail else "Success"), {"Event": "SparkListenerStageCompleted", **info}]


def _job_start(j: int, stages: list[int]) -> Line:
    return {"Event": "SparkListenerJobStart", "Job ID": j, "Stage IDs": stages, "Properties": {}}


def _job_end(j: int) -> Line:
    return {"Event": "SparkListenerJobEnd", "Job ID": j, "Job Result": {"Result": "JobSucceeded"}}


def _log(drop_job1_start: bool) -> list[Line]:
    log: list[Line] = [{"Event": "SparkListenerApplicationStart", "App ID": "app-1", "App Name": "x", "Timestamp": 1}]
    log += [_job_start(0, [0, 1]), *_stage(0, 0)]
    if not drop_job1_start:
        log += [_job_start(1, [0, 2])]  # job 1 shares stage 0, submitted while job 0 runs
    log += [*_stage(1, 0), _job_end(0)]  # job 0 ends: without job 1's start, stage 0 is closed here
    log += [{"Event": "SparkListenerExecutorRemoved", "Executor ID": "1", "Timestamp": 5, "Removed Reason": "lost"}]
    log += _stage(0, 1)  # stage 0 re-run in job 1 (lost shuffle output)
    log += [*_stage(2, 0, fail=True), *_stage(0, 2), *_stage(2, 1), _task_end(2, 0, "TaskKilled")]
    log += [_job_end(1), _task_end(0, 2)]  # a late TaskEnd of a finished attempt
    # Stage 0's completion line alone (its StageSubmitted and TaskEnds dropped too): still one attempt.
    log += [{"Event": "SparkListenerStageCompleted", "Stage Info": {"Stage ID": 0, "Stage Attempt ID": 3}}]
    log += [_job_start(2, [3, 4]), *_stage(4, 0), _job_end(2)]  # stage 3 skipped
    log += [{"Event": "SparkListenerApplicationEnd", "Timestamp": 9}]
    return log


def _show(e: PlainEvent) -> str:
    b = e.body
    return f"{e.key} {b.tasks_succeeded} {b.tasks_failed} {b.tasks_killed}" if isinstance(b, StageCompleted) else e.key


WANT = ["stage/0/0", "stage/0/1", "stage/0/2", "stage/0/3", "stage/1/0", "stage/2/0", "stage/2/1", "stage/4/0"]


def _run(log: list[Line], cuts: list[int]) -> list[str]:
    """Keys emitted (a stage's with its task counts) when the agent restarts from the checkpoint
    taken after each cut: a reopened attempt open at a cut is read again in full after it."""
    p, out, pos = AppParser(), [], 0
    for cut in [*cuts, len(log)]:
        out += [_show(e) for i in range(pos, cut) for e in p.feed(log[i], (0, i))]
        snap, low = p.snapshot(), p.low_water()
        p = AppParser()
        p.restore(orjson.loads(orjson.dumps(snap)))  # as state.json stores it
        pos = low[1] if low is not None else cut
    return out


def test_stage_of_a_job_whose_start_was_dropped_is_emitted_once_per_attempt():
    for drop in (False, True):
        log = _log(drop)
        straight = _run(log, [])
        assert sorted(k.split()[0] for k in straight if k.startswith("stage/")) == WANT, drop
        assert "stage/0/1 2 0 0" in straight and "stage/0/3 0 0 0" in straight
        for c in range(1, len(log)):
            assert sorted(_run(log, [c])) == sorted(straight), (drop, c)
        for a, b in itertools.combinations(range(1, len(log)), 2):
            assert sorted(_run(log, [a, b])) == sorted(straight), (drop, a, b)

