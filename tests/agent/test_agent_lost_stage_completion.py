"""A stage attempt whose StageCompleted never comes is emitted, flagged, and stops pinning the checkpoint.

Spark's eventLog listener queue drops events when full (notes/spark-eventlog.md section 7), and a
driver that dies mid-stage never writes the line. Such an attempt stayed open in the parser for
good: never sent, and the checkpoint's resume point stayed at its first line, so every agent
restart re-read the whole log from there (review, repros pinned.py and pinned2.py). Now it is
emitted from its TaskEnd totals at its job's end (or the log's end), its ``failure_reason`` saying
its completion was not seen: the protocol has no field for that (trimtab.v1.StageCompleted).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import orjson

from agent.events import PlainEvent, StageCompleted
from agent.follow.app import AppFollower, ReadCounters
from agent.follow.discover import SegmentLister, discover
from agent.parse import COMPLETION_NOT_SEEN, AppParser
from protos.trimtab.v1 import ingest_pb2
from tests.agent.conftest import AgentThread, IngestServer, agent_config

Line = dict[str, Any]


def _submitted(s: int, a: int = 0, tasks: int = 3) -> Line:
    return {"Event": "SparkListenerStageSubmitted", "Stage Info": {
        "Stage ID": s, "Stage Attempt ID": a, "Stage Name": f"map at job.py:{s}", "Number of Tasks": tasks,
        "Parent IDs": [], "Submission Time": 100 + s}}


def _task_end(s: int, a: int = 0, finish: int = 150, reason: str = "Success") -> Line:
    return {"Event": "SparkListenerTaskEnd", "Stage ID": s, "Stage Attempt ID": a,
            "Task End Reason": {"Reason": reason}, "Task Info": {"Launch Time": 110, "Finish Time": finish},
            "Task Metrics": {"Executor Run Time": 4, "Input Metrics": {"Bytes Read": 1000}}}


def _completed(s: int, a: int = 0) -> Line:
    return {"Event": "SparkListenerStageCompleted", "Stage Info": {
        "Stage ID": s, "Stage Attempt ID": a, "Stage Name": f"map at job.py:{s}", "Number of Tasks": 1,
        "Submission Time": 100 + s, "Completion Time": 200 + s}}


def _job_start(j: int, stages: list[int]) -> Line:
    return {"Event": "SparkListenerJobStart", "Job ID": j, "Stage IDs": stages, "Properties": {}}


def _job_end(j: int, ok: bool = True) -> Line:
    return {"Event": "SparkListenerJobEnd", "Job ID": j, "Completion Time": 900 + j,
            "Job Result": {"Result": "JobSucceeded" if ok else "JobFailed"}}


START: Line = {"Event": "SparkListenerApplicationStart", "App ID": "app-1", "App Name": "x", "Timestamp": 1}


def _feed(p: AppParser, lines: list[Line]) -> list[PlainEvent]:
    return [e for i, line in enumerate(lines) for e in p.feed(line, (0, i))]


def test_a_stage_without_its_completion_is_emitted_at_its_jobs_end():
    lines = [START, _job_start(0, [0]), _submitted(0), _task_end(0, finish=140), _task_end(0, finish=160),
             _task_end(0, reason="ExecutorLostFailure"),
             # StageCompleted of stage 0 dropped by Spark's listener queue
             _job_end(0)]
    p = AppParser()
    out = _feed(p, lines)
    assert [e.key for e in out] == ["app-start", "stage/0/0", "job/0"]
    st = out[1].body
    assert isinstance(st, StageCompleted)
    assert st.failure_reason == COMPLETION_NOT_SEEN
    assert (st.name, st.num_tasks, st.submission_time_ms, st.completion_time_ms) == ("map at job.py:0", 3, 100, 160)
    assert (st.tasks_succeeded, st.tasks_failed, st.tasks_killed) == (2, 1, 0)
    assert st.metrics[0] == 12 and st.metrics[7] == 3000  # executor run time, input bytes: the TaskEnd sums
    assert p.low_water() is None and not p.open_stages  # nothing pins the checkpoint any more
    # A late TaskEnd of it, or a replayed line, sends nothing again.
    assert _feed(p, [_task_end(0)]) == []


def test_a_stage_another_running_job_needs_waits_for_that_job():
    # Job 0 fails; Spark leaves stage 0 running for job 1, which shares it; its completion comes later.
    lines = [START, _job_start(0, [0, 1]), _job_start(1, [0, 2]), _submitted(0), _task_end(0),
             _job_end(0, ok=False), _task_end(0), _completed(0), _submitted(2), _task_end(2), _completed(2),
             _job_end(1)]
    out = _feed(AppParser(), lines)
    stages = {e.key: e.body for e in out if isinstance(e.body, StageCompleted)}
    assert [e.key for e in out] == ["app-start", "job/0", "stage/0/0", "stage/2/0", "job/1"]
    assert all(s.failure_reason == "" for s in stages.values())  # both completions seen
    assert stages["stage/0/0"].tasks_succeeded == 2


def test_a_log_that_ends_mid_stage_emits_the_stage_at_its_end():
    # The driver died mid-stage: no StageCompleted, no JobEnd, no ApplicationEnd.
    lines = [START, _job_start(0, [0]), _submitted(0, tasks=8), _task_end(0, finish=170)]
    p = AppParser()
    assert [e.key for e in _feed(p, lines)] == ["app-start"]
    assert p.low_water() == (0, 2)  # held while the stage may still complete
    out = p.finish()
    assert [e.key for e in out] == ["stage/0/0"]
    st = out[0].body
    assert isinstance(st, StageCompleted) and st.failure_reason == COMPLETION_NOT_SEEN
    assert (st.num_tasks, st.completion_time_ms, st.tasks_succeeded) == (8, 170, 1)
    assert p.low_water() is None


def test_a_reader_of_a_cut_copy_can_keep_open_stages_back():
    # A backfill of a copy cut short may read the complete copy later: the server keeps the first
    # event of a key, so a partial stage sent now would stand for good.
    p = AppParser()
    _feed(p, [START, _job_start(0, [0]), _submitted(0), _task_end(0)])
    assert [e.key for e in p.finish(open_stages=False)] == [] and p.low_water() == (0, 2)


def _show(e: PlainEvent) -> str:
    b = e.body
    if isinstance(b, StageCompleted):
        return f"{e.key} {b.tasks_succeeded} {bool(b.failure_reason)}"
    return e.key


def test_restarts_at_any_cut_emit_each_stage_once():
    lines = [START, _job_start(0, [0, 1]), _submitted(0), _task_end(0), _task_end(0), _submitted(1),
             _task_end(1), _completed(1), _job_end(0), _job_start(1, [2]), _submitted(2), _task_end(2),
             _job_end(1), _job_start(2, [3]), _submitted(3), _task_end(3)]

    def run(cuts: list[int]) -> list[str]:
        p, out, pos = AppParser(), [], 0
        for cut in cuts:  # a restart from the checkpoint taken after each cut
            out += [_show(e) for i in range(pos, cut) for e in p.feed(lines[i], (0, i))]
            snap, low = p.snapshot(), p.low_water()
            p = AppParser()
            p.restore(orjson.loads(orjson.dumps(snap)))  # as state.json stores it
            pos = low[1] if low is not None else cut
        out += [_show(e) for i in range(pos, len(lines)) for e in p.feed(lines[i], (0, i))]
        return out + [_show(e) for e in p.finish()]

    straight = run([])
    assert sorted(k for k in straight if k.startswith("stage/")) == [
        "stage/0/0 2 True", "stage/1/0 1 False", "stage/2/0 1 True", "stage/3/0 1 True"]
    for a, b in itertools.combinations(range(1, len(lines)), 2):
        assert sorted(run([a, b])) == sorted(straight), (a, b)


def _write_log(path: Path, jobs_after: int) -> None:
    out: list[Line] = [{"Event": "SparkListenerLogStart", "Spark Version": "3.5.0"}, START,
                       _job_start(0, [0]), _submitted(0, tasks=200)]
    out += [_task_end(0) for _ in range(200)]
    out.append(_job_end(0))  # the StageCompleted of stage 0 was dropped
    for j in range(1, jobs_after + 1):
        out += [_job_start(j, [j]), _submitted(j, tasks=1), _task_end(j), _completed(j), _job_end(j)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(e, separators=(",", ":")) + "\n" for e in out))


def test_the_checkpoint_moves_past_a_stage_without_its_completion(tmp_path: Path):
    log = tmp_path / "logs" / "app-1.inprogress"  # still running: the follower never finishes it
    _write_log(log, jobs_after=50)
    follower = AppFollower(discover(tmp_path / "logs")[0], SegmentLister(), ReadCounters(), 1 << 24)
    keys = [e.key for _ in range(3) for e in follower.poll(1 << 24)]
    assert not follower.finished
    assert "stage/0/0" in keys and sum(k.startswith("stage/") for k in keys) == 51
    size = log.stat().st_size
    saved = follower.checkpoint()
    assert saved["pos"][2] == size  # the resume point is the end read, not stage 0's first line
    # A restart from that checkpoint reads nothing again and sends nothing twice.
    again = AppFollower(discover(tmp_path / "logs")[0], SegmentLister(), ReadCounters(), 1 << 24,
                        saved=orjson.loads(orjson.dumps(saved)))
    assert [e.key for _ in range(3) for e in again.poll(1 << 24)] == []


def test_the_agent_delivers_the_stage_flagged_to_a_real_server(tmp_path: Path, ingest: IngestServer):
    logs = tmp_path / "logs"
    _write_log(logs / "app-1.inprogress", jobs_after=3)
    with AgentThread(agent_config(logs, tmp_path / "state", ingest.address)) as t:
        s = ingest.servicer
        assert s.wait_for(lambda: ("app-1", "job/3") in s.stored, 20)
        t.stop()
    ev = s.stored[("app-1", "stage/0/0")]
    assert ev.WhichOneof("body") == "stage_completed"
    st: ingest_pb2.StageCompleted = ev.stage_completed
    assert st.failure_reason == COMPLETION_NOT_SEEN and st.tasks_succeeded == 200 and st.num_tasks == 200
    assert st.metrics.input_bytes == 200_000 and st.completion_time_ms == 150
    assert s.stored[("app-1", "stage/1/0")].stage_completed.failure_reason == ""
