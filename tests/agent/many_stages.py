"""A synthetic Spark application with many stages, as event-log lines (for checkpoint-size tests).

What makes the parser's emitted-ids record hard to keep small is all here: jobs run two at a time
(their lines interleave), every job lists a stage it skips (a reused shuffle: an id with no line),
every 25th job retries a stage (attempt 0 fails, attempt 1 runs) and logs a late TaskEnd of the
failed attempt after its StageCompleted, some jobs belong to a SQL execution, executors come and go.

Usage: python -m tests.agent.many_stages OUT_FILE STAGES  (writes a plain, complete event log)
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

APP_ID = "app-many-stages"


def _task_end(sid: int, att: int, t: int, reason: str = "Success") -> dict[str, Any]:
    return {"Event": "SparkListenerTaskEnd", "Stage ID": sid, "Stage Attempt ID": att,
            "Task End Reason": {"Reason": reason}, "Task Info": {"Launch Time": t, "Finish Time": t + 5},
            "Task Metrics": {"Executor Run Time": 5, "Shuffle Write Metrics": {"Shuffle Bytes Written": 7}}}


def _stage(sid: int, att: int, t: int, failure: str = "") -> list[dict[str, Any]]:
    info = {"Stage ID": sid, "Stage Attempt ID": att, "Stage Name": f"stage {sid}", "Number of Tasks": 2,
            "Parent IDs": [], "RDD Info": [], "Submission Time": t, "Completion Time": t + 9}
    done = dict(info, **({"Failure Reason": failure} if failure else {}))
    return [{"Event": "SparkListenerStageSubmitted", "Stage Info": info},
            _task_end(sid, att, t), _task_end(sid, att, t + 1, "FetchFailed" if failure else "Success"),
            {"Event": "SparkListenerStageCompleted", "Stage Info": done}]


def _job(jid: int, first_sid: int, t: int) -> list[dict[str, Any]]:
    """Job ``jid``: stage ``first_sid`` skipped, the next two run (one of them retried every 25th job)."""
    skipped, a, b = first_sid, first_sid + 1, first_sid + 2
    props = {"spark.sql.execution.id": str(jid // 10)} if jid % 10 < 3 else {}
    lines: list[dict[str, Any]] = [{"Event": "SparkListenerJobStart", "Job ID": jid, "Submission Time": t,
                                    "Stage IDs": [skipped, a, b], "Properties": props}]
    lines += _stage(a, 0, t)
    if jid % 25 == 24:
        lines += _stage(b, 0, t + 10, failure="FetchFailed")
        lines += _stage(b, 1, t + 20)
        lines.append(_task_end(b, 0, t + 30, "TaskKilled"))  # a late task of the failed attempt
    else:
        lines += _stage(b, 0, t + 10)
    lines.append({"Event": "SparkListenerJobEnd", "Job ID": jid, "Completion Time": t + 40,
                  "Job Result": {"Result": "JobSucceeded"}})
    return lines


def events(stages: int) -> Iterator[dict[str, Any]]:
    """The application's events in log order; ``stages`` completed stage ids (two per job)."""
    yield {"Event": "SparkListenerLogStart", "Spark Version": "3.5.0"}
    yield {"Event": "SparkListenerApplicationStart", "App Name": "many", "App ID": APP_ID, "Timestamp": 1,
           "User": "u"}
    jobs = stages // 2
    pending: list[dict[str, Any]] = []  # the previous job's lines, interleaved with the next one's
    for jid in range(jobs):
        t = 1000 + jid * 50
        if jid % 100 == 0:
            eid = str(jid // 100)
            yield {"Event": "SparkListenerExecutorAdded", "Timestamp": t, "Executor ID": eid,
                   "Executor Info": {"Host": f"10.0.0.{jid // 100 % 250}", "Total Cores": 4}}
            if jid >= 200:
                yield {"Event": "SparkListenerExecutorRemoved", "Timestamp": t,
                       "Executor ID": str(jid // 100 - 2), "Removed Reason": "Executor killed by driver."}
        if jid % 10 == 0:
            yield {"Event": "org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionStart",
                   "executionId": jid // 10, "description": f"q{jid // 10}", "time": t}
        mine = _job(jid, 3 * jid, t)
        merged = [x for pair in zip(pending, mine, strict=False) for x in pair]
        merged += pending[len(mine):] + mine[len(pending):]
        # Keep this job's second half for the next job: two jobs always run at once.
        half = len(merged) // 2
        yield from merged[:half]
        pending = merged[half:]
        if jid % 10 == 2:
            yield {"Event": "org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionEnd",
                   "executionId": jid // 10, "time": t + 45}
    yield from pending
    yield {"Event": "SparkListenerApplicationEnd", "Timestamp": 10**9}


def expected_keys(stages: int) -> set[str]:
    """Every key the agent must deliver once (driver peaks aside: this log has no heartbeats)."""
    jobs = stages // 2
    keys = {"app-start", "app-end"}
    for jid in range(jobs):
        a, b = 3 * jid + 1, 3 * jid + 2
        keys |= {f"job/{jid}", f"stage/{a}/0", f"stage/{b}/0"}
        if jid % 25 == 24:
            keys.add(f"stage/{b}/1")
    keys |= {f"sql/{x}" for x in range((jobs + 9) // 10) if x * 10 + 2 < jobs}
    keys |= {f"executor-added/{j // 100}" for j in range(0, jobs, 100)}
    keys |= {f"executor-removed/{j // 100 - 2}" for j in range(200, jobs, 100)}
    return keys


def lines(stages: int) -> list[bytes]:
    return [orjson.dumps(e) + b"\n" for e in events(stages)]


if __name__ == "__main__":
    Path(sys.argv[1]).write_bytes(b"".join(lines(int(sys.argv[2]))))
