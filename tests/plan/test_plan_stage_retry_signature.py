"""A run whose Spark stages were re-attempted keeps the job's code signature (review of `stage_signature`).

When a task cannot fetch a shuffle file (FetchFailed: the node holding it was lost, common on spot
nodes), Spark fails that stage attempt, reruns the map stage that wrote the file as attempt 1 and
then the failed stage as attempt 1, under the same stage ids, and the run succeeds. The signature
kept the index of a stage's last attempt and counted the attempts in every later stage's position,
so such a run read as a code change, and the next normal run as a second one: learning restarted
twice. Runs without re-attempts must keep the very signature they had, or every stored project would
see a code change on upgrade: it is pinned below, as computed before the fix.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
from collections.abc import Sequence
from typing import Any

import pytest

from agent.encode import encode_event
from agent.parse import AppParser
from protos.trimtab.v1 import ingest_pb2
from server import ingest_wire
from server.domain import ClusterConfig, Run, Stage
from server.plan.observe import observation, stage_signature
from server.store import Store
from server.store.repos.applications import StageOutline

Line = dict[str, Any]

# A small ETL job: two scans, a join of both, an aggregation, a write; (name, parents) by stage id.
JOB: list[tuple[str, tuple[int, ...]]] = [
    ("scan parquet orders at Load.scala:12", ()),
    ("scan parquet customers at Load.scala:13", ()),
    ("SortMergeJoin at Join.scala:41", (0, 1)),
    ("HashAggregate at Agg.scala:7", (2,)),
    ("save at Write.scala:3", (3,)),
]
# What `stage_signature` returned for these runs before the fix (commit 5341d3b).
PINNED = {"job": "003f29dc12952a8b", "skipped": "82458ad6114f8733", "two_apps": "9312453a2f531bbb"}
FETCH_FAILED = ("org.apache.spark.shuffle.FetchFailedException: Failed to connect to /10.0.3.17:7337 "
                "(ShuffleId 1, MapId 5, ReduceId 12)")


def _stages(app: str = "app", job: Sequence[tuple[str, tuple[int, ...]]] = JOB) -> list[Stage]:
    return [Stage(app, i, name=name, parent_ids=parents) for i, (name, parents) in enumerate(job)]


def _retried(app: str = "app", job: Sequence[tuple[str, tuple[int, ...]]] = JOB) -> list[Stage]:
    """``_stages`` as Spark runs them after a FetchFailed in stage 3, in log order: 3.0 fails, the map
    stage 2 reruns (2.1) and 3 runs again (3.1); then stage 4."""
    s = _stages(app, job)
    return [s[0], s[1], s[2], dataclasses.replace(s[3], failure_reason=FETCH_FAILED),
            dataclasses.replace(s[2], attempt_id=1), dataclasses.replace(s[3], attempt_id=1), s[4]]


def _signature_before_the_fix(stages: Sequence[Stage | StageOutline]) -> str | None:
    """`stage_signature` as of commit 5341d3b, to hold runs without re-attempts to it."""
    if not stages:
        return None
    first = {s.stage_id: i for i, s in enumerate(sorted(stages, key=lambda s: (s.stage_id, s.attempt_id)))}
    parts = sorted(
        f"{s.name}|{','.join(str(first.get(p, -1) - first[s.stage_id]) for p in sorted(s.parent_ids))}"
        for s in stages if s.attempt_id == 0
    )
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def test_a_run_with_a_re_attempted_stage_has_the_normal_runs_signature() -> None:
    normal = stage_signature(_stages())
    assert _signature_before_the_fix(_retried()) != normal  # the defect
    assert stage_signature(_retried()) == normal
    # Whatever order the attempts were logged or read in, and however many attempts a stage took.
    more = _retried() + [dataclasses.replace(_stages()[3], attempt_id=2), dataclasses.replace(_stages()[0], attempt_id=1)]
    rng = random.Random(7)
    for _ in range(20):
        rng.shuffle(more)
        assert stage_signature(more) == normal


def test_a_stage_whose_first_attempt_was_not_stored_counts_its_first_stored_attempt() -> None:
    """An agent that lost attempt 0's line (a full eventLog queue) still shows the stage's place."""
    only_retry = [s if s.stage_id != 3 else dataclasses.replace(s, attempt_id=1) for s in _stages()]
    assert stage_signature(only_retry) == stage_signature(_stages())


@pytest.mark.parametrize(("name", "stages"), [
    ("job", _stages()),
    # A stage reading a skipped stage's shuffle (an id with no row), and ids not starting at 0.
    ("skipped", [Stage("app", 3, name="skipped-reader", parent_ids=(1,)),
                 Stage("app", 4, name="agg", parent_ids=(3, 2)), Stage("app", 7, name="write", parent_ids=(4,))]),
    # A multi-task job: its two applications repeat the same stage ids.
    ("two_apps", _stages("a1") + _stages("a2", [(n, p) for (_, p), n in
                                                zip(JOB, ("read", "shuffle", "join", "agg", "write"), strict=True)])),
])
def test_a_run_without_re_attempts_keeps_its_signature(name: str, stages: list[Stage]) -> None:
    assert stage_signature(stages) == PINNED[name] == _signature_before_the_fix(stages)
    assert stage_signature(list(reversed(stages))) == PINNED[name]


def test_random_runs_without_re_attempts_keep_the_signature_they_had() -> None:
    rng = random.Random(11)
    for _ in range(300):
        apps = [f"app-{a}" for a in range(rng.choice((1, 1, 2, 3)))]
        stages = []
        for app in apps:
            ids = sorted(rng.sample(range(40), rng.randint(1, 12)))
            for sid in ids:
                parents = tuple(rng.sample(range(max(sid, 1) + 2), rng.randint(0, 3)))
                stages.append(Stage(app, sid, name=rng.choice(("scan", "join", "agg", "write", "count")),
                                    parent_ids=parents))
        rng.shuffle(stages)
        assert stage_signature(stages) == _signature_before_the_fix(stages)


@pytest.mark.parametrize("change", ["renamed", "rewired", "added", "removed"])
def test_a_code_change_still_changes_the_signature(change: str) -> None:
    job = list(JOB)
    if change == "renamed":
        job[3] = ("ObjectHashAggregate at Agg.scala:9", job[3][1])
    elif change == "rewired":
        job[2] = (job[2][0], (0,))  # the join reads one side only
    elif change == "added":
        job.insert(4, ("Exchange rangepartitioning at Sort.scala:5", (3,)))
        job[5] = (job[5][0], (4,))
    else:
        job = job[:4]
    assert stage_signature(_stages(job=job)) != stage_signature(_stages())
    # ... and a re-attempt does not hide it.
    assert stage_signature(_retried(job=job) if len(job) > 4 else _stages(job=job)) != stage_signature(_retried())


# The same through the real path: an event log with a FetchFailed resubmission, read by the agent's
# parser, sent as the agent encodes it, stored by the server's ingest and read back two ways.


def _info(sid: int, att: int, t: int) -> Line:
    name, parents = JOB[sid]
    return {"Stage ID": sid, "Stage Attempt ID": att, "Stage Name": name, "Number of Tasks": 4,
            "Parent IDs": list(parents), "RDD Info": [], "Submission Time": t}


def _task_end(sid: int, att: int, t: int, reason: Line) -> Line:
    return {"Event": "SparkListenerTaskEnd", "Stage ID": sid, "Stage Attempt ID": att, "Task End Reason": reason,
            "Task Info": {"Launch Time": t, "Finish Time": t + 400},
            "Task Metrics": {"Executor Run Time": 400, "Input Metrics": {"Bytes Read": 1000 * (sid + 1)}}}


def _stage_lines(sid: int, att: int, t: int, fetch_failed: bool = False) -> list[Line]:
    failed = {"Reason": "FetchFailed", "Shuffle ID": 1, "Map ID": 5, "Reduce ID": 12,
              "Message": FETCH_FAILED}
    done = dict(_info(sid, att, t), **{"Completion Time": t + 900},
                **({"Failure Reason": FETCH_FAILED} if fetch_failed else {}))
    return [{"Event": "SparkListenerStageSubmitted", "Stage Info": _info(sid, att, t)},
            _task_end(sid, att, t, {"Reason": "Success"}),
            _task_end(sid, att, t + 1, failed if fetch_failed else {"Reason": "Success"}),
            {"Event": "SparkListenerStageCompleted", "Stage Info": done}]


def _event_log(app: str, fetch_failed: bool) -> list[Line]:
    t = 1_700_000_000_000
    lines: list[Line] = [{"Event": "SparkListenerApplicationStart", "App Name": "etl", "App ID": app,
                          "Timestamp": t, "User": "u"},
                         {"Event": "SparkListenerJobStart", "Job ID": 0, "Submission Time": t,
                          "Stage IDs": list(range(len(JOB))), "Properties": {}}]
    for sid in (0, 1, 2):
        lines += _stage_lines(sid, 0, t + 1000 * sid)
    if fetch_failed:  # Spark's DAGScheduler: fail 3.0, resubmit the map stage (2.1), then 3.1
        lines += _stage_lines(3, 0, t + 3000, fetch_failed=True)
        lines += _stage_lines(2, 1, t + 4000)
        lines += _stage_lines(3, 1, t + 5000)
    else:
        lines += _stage_lines(3, 0, t + 3000)
    lines += _stage_lines(4, 0, t + 6000)
    lines += [{"Event": "SparkListenerJobEnd", "Job ID": 0, "Completion Time": t + 7000,
               "Job Result": {"Result": "JobSucceeded"}},
              {"Event": "SparkListenerApplicationEnd", "Timestamp": t + 7100}]
    return lines


def _ingest(store: Store, app: str, lines: list[Line]) -> None:
    parser = AppParser()
    events = [encode_event(e) for i, line in enumerate(lines) for e in parser.feed(line, (0, i))]
    msg = ingest_pb2.EventBatch(batch_id=f"b-{app}", events=events,
                                agent=ingest_pb2.AgentInfo(agent_id="a", version="0", hostname="h", cluster_id="c"))
    results = store.ingest.write([ingest_wire.prepare_batch(msg, 1000)])
    assert [(r.stored_events, r.refused_applications) for r in results] == [(len(events), ())]


def test_a_fetch_failed_resubmission_from_an_event_log_keeps_the_signature(store: Store) -> None:
    _ingest(store, "app-normal", _event_log("app-normal", fetch_failed=False))
    _ingest(store, "app-retried", _event_log("app-retried", fetch_failed=True))
    normal, retried = store.applications.stages("app-normal"), store.applications.stages("app-retried")
    assert [(s.stage_id, s.attempt_id) for s in retried] == [(0, 0), (1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (4, 0)]
    assert [s.stage_id for s in retried if s.failure_reason] == [3]
    outlines = store.applications.stage_outlines(["app-normal", "app-retried"])
    sig = stage_signature(normal)
    assert sig == PINNED["job"]  # the stored job is the one the pinned value was computed for
    assert stage_signature(retried) == stage_signature(outlines["app-retried"]) == sig
    assert stage_signature(outlines["app-normal"]) == sig
    assert _signature_before_the_fix(retried) != sig  # the defect, on stored rows

    # The tuner sees the same code in both runs; the replay gets every attempt that finished its work.
    run = Run(project_id=1, databricks_run_id=1, runtime_s=700.0, outcome="succeeded",
              config=ClusterConfig(node_type_id="m5d.2xlarge", num_workers=4))
    a, b = observation(run, normal, True), observation(run, retried, True)
    assert a is not None and b is not None and a.stage_signature == b.stage_signature == sig
    assert (len(a.stages), len(b.stages)) == (5, 6)  # 3.0 failed (not replayed); 2.1 reran lost map outputs
