"""A plan reads every run's stage outline but the metrics of its newest runs only (`server.plan.reads`),
in batched queries: the same decision as reading every run whole, one application at a time."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from server.costing.catalog import load_catalog
from server.domain import (
    AgentInfo,
    Distribution,
    DriverPeaks,
    ExecutorStagePeak,
    IngestBatch,
    IngestEvent,
    Project,
    ProjectSettings,
    Run,
    Stage,
)
from server.plan import reads
from server.plan.planner import plan_project
from server.spec import config_from_spec
from server.store import Store
from server.store.repos import applications

GIB = 1024**3
SHAPES = [("m5.xlarge", 4), ("m5.xlarge", 8), ("m5.2xlarge", 4), ("m5.xlarge", 16), ("m5.2xlarge", 8),
          ("m5.xlarge", 2), ("m5.2xlarge", 2)]


def _spec(node: str, workers: int) -> dict[str, Any]:
    return {"spark_version": "15.4.x-scala2.12", "node_type_id": node, "num_workers": workers,
            "aws_attributes": {"availability": "ON_DEMAND", "first_on_demand": 1, "ebs_volume_type":
                               "GENERAL_PURPOSE_SSD", "ebs_volume_count": 1, "ebs_volume_size": 100}}


def _stage(app: str, i: int, n: int, *, code: str, attempt: int = 0, failure: str = "") -> Stage:
    task_s = 2.0 + (n * 37 + i * 11) % 7
    return Stage(application_id=app, stage_id=i, attempt_id=attempt, name=f"{code}{i}", num_tasks=64,
                 parent_ids=(i - 1,) if i else (), submission_time_ms=i * 1000, completion_time_ms=i * 1000 + 900,
                 failure_reason=failure,
                 metrics={"executor_run_time_ms": int(64_000 * task_s), "input_bytes": 10**9 * (i + 1),
                          "disk_bytes_spilled": (n % 5) * 3 * 10**9, "shuffle_bytes_written": (n % 3) * 10**9,
                          "jvm_gc_time_ms": 5000 + n, "executor_cpu_time_ns": 10**11},
                 task_duration_ms=Distribution(count=64, sum=64_000.0 * task_s, p50=900.0 * task_s,
                                               p90=1100.0 * task_s, max=1500.0 * task_s),
                 tasks_succeeded=64,
                 executor_peaks=(ExecutorStagePeak("driver", {"JVMHeapMemory": (2 + n % 4) * GIB,
                                                              "TotalGCTime": 1000 * (n % 9)}),
                                 ExecutorStagePeak("1", {"JVMHeapMemory": 9 * GIB})))


def _ingest(store: Store, app: str, stages: list[Stage], beats: list[DriverPeaks]) -> None:
    events = tuple(IngestEvent(application_id=app, key=f"stage/{s.stage_id}/{s.attempt_id}", kind="Stage", body=s,
                               payload=f"{app}/{s.stage_id}/{s.attempt_id}".encode()) for s in stages)
    events += tuple(IngestEvent(application_id=app, key=f"driver/{k}", kind="DriverPeaks", body=b,
                                payload=f"{app}/d{k}".encode()) for k, b in enumerate(beats))
    store.ingest.write([IngestBatch(batch_id=f"b-{app}", agent=AgentInfo(agent_id="a", version="0", cluster_id="c"),
                                    events=events)])


def _project_with_history(store: Store, runs: int, quiet: int = 6) -> Project:
    """A project whose history has what every reader of it looks at: a code change half way (stage
    names), failed runs out of memory, runs that lost spot nodes, retried stage attempts, runs
    without an agent, spill, driver peaks and heartbeats with GC pressure now and then; and its
    newest ``quiet`` runs explained or agent-less, so the replay's runs lie further back."""
    spec = _spec("m5.xlarge", 8)
    project = store.projects.add(Project(workspace="ws", job_id=7, cluster_key="main", current_spec=spec,
                                         original_spec=spec, settings=ProjectSettings(sla_seconds=1500.0)))
    for n in range(runs):
        node, workers = SHAPES[n % len(SHAPES)]
        cores = workers * (4 if node == "m5.xlarge" else 8)
        newest = n >= runs - quiet
        failed = n % 13 == 5
        anomalies: tuple[str, ...] = ("failure",) if failed else ("spot_loss",) if n % 11 == 3 or \
            (newest and n % 2 == 0) else ()
        agentless = n % 17 == 8 or (newest and n % 2 == 1)
        code = "a" if n < runs // 2 else "b"
        app = f"app-{n}"
        if not agentless:
            stages = [_stage(app, i, n, code=code) for i in range(6)]
            if n % 4 == 1 and code == "a":  # the last stage retried: its first attempt failed
                stages[5] = dataclasses.replace(stages[5], failure_reason="FetchFailed")
                stages.append(_stage(app, 5, n, code=code, attempt=1))
            if failed:
                stages[-1] = dataclasses.replace(stages[-1], failure_reason="java.lang.OutOfMemoryError: Java heap")
            beats = [DriverPeaks(app, {"JVMHeapMemory": (3 + n % 5) * GIB, "TotalGCTime": 100 * n}),
                     DriverPeaks(app, {"JVMHeapMemory": GIB, "TotalGCTime": 10})]
            _ingest(store, app, stages, beats)
        t0 = 1_700_000_000_000 + n * 86_400_000
        runtime = 1800.0 * (cores / 32) ** -0.7 * (1.0 + 0.04 * ((n * 7919) % 11 - 5) / 5)
        store.runs.add(Run(project_id=int(project.id or 0), databricks_run_id=1000 + n, start_ms=t0,
                           end_ms=t0 + int(runtime * 1000), outcome="failed" if failed else "succeeded",
                           runtime_s=runtime, input_bytes=(50 + n % 3) * 10**9, setup_s=240.0 + n % 30,
                           anomalies=anomalies, config=config_from_spec(_spec(node, workers)),
                           application_ids=() if agentless else (app,)))
    return project


def _plan(store: Store, project: Project) -> dict[str, Any]:
    """The recommendation's content, planned from ``project`` as it is (its phase put back first)."""
    store.projects.update(project)
    rec = plan_project(store, int(project.id or 0), load_catalog())
    assert rec is not None
    return {k: v for k, v in dataclasses.asdict(rec).items() if k not in ("id", "created_at_ms")}


def test_a_plan_over_a_long_history_decides_as_reading_every_run_whole(store: Store, monkeypatch) -> None:
    # The newest 36 runs teach the model nothing (lost spot nodes, no agent): the runs it replays lie
    # beyond those whose metrics the driver rule reads.
    project = _project_with_history(store, 90, quiet=36)
    outlined: list[int] = []
    whole_reads: list[int] = []
    repo = applications.ApplicationRepository
    outlines, stages_for = repo.stage_outlines, repo.stages_for

    def spy(real, calls: list[int]):  # noqa: ANN001, ANN202 - counts the applications a real read is for
        def read(self, ids):  # noqa: ANN001, ANN202
            ids = list(ids)
            calls.append(len(ids))
            return real(self, ids)
        return read

    monkeypatch.setattr(repo, "stage_outlines", spy(outlines, outlined))
    monkeypatch.setattr(repo, "stages_for", spy(stages_for, whole_reads))
    bounded = _plan(store, project)
    # Every run's outline in one read; the metrics of the newest runs only, not of all 90.
    sent = [r for r in store.runs.history(int(project.id or 0)) if r.application_ids]
    assert outlined == [len(sent)] and len(sent) > 60
    assert 0 < sum(whole_reads) <= reads.DRIVER_RUNS + 2 * reads.REPLAYED_RUNS
    # Reading every run's metrics (the plan before the bound) decides the same, word for word.
    with monkeypatch.context() as m:
        for name in ("DRIVER_RUNS", "DISK_RUNS", "REPLAYED_RUNS"):
            m.setattr(reads, name, 10**6)
        whole = _plan(store, project)
    assert bounded == whole
    assert whole["predicted_runtime_s"] > 0 and whole["storage_advice"]
    # The replay's bound is tight: replaying fewer runs than the model does would change the forecast.
    with monkeypatch.context() as m:
        m.setattr(reads, "REPLAYED_RUNS", 2)
        fewer = _plan(store, project)
    assert fewer["predicted_runtime_s"] != whole["predicted_runtime_s"]


def test_the_replay_reaches_back_past_explained_and_agentless_runs(store: Store) -> None:
    project = _project_with_history(store, 40)
    runs = store.runs.history(int(project.id or 0))
    stages = reads.RunStages(store, runs)
    from server.plan.observe import observation

    history, at = [], []
    for i, run in enumerate(runs):
        obs = observation(run, stages.outlines[i], applied_recommendation=False)
        if obs is not None:
            history.append(obs)
            at.append(i)
    assert all(not o.stages for o in history)  # outlines carry no metrics
    known = {o.config_id for o in history}
    taken = reads.replayed(history, at, stages.outlines, known)
    sure = [i for i in taken if runs[i].outcome == "succeeded" and not runs[i].anomalies]
    assert len(sure) == reads.REPLAYED_RUNS
    assert min(taken) < len(runs) - 6  # the newest six are explained or agent-less
    assert not any(runs[i].application_ids == () for i in taken)  # nothing to replay without stages


@pytest.mark.parametrize("per_query", [1, 3, 500])
def test_batched_stage_and_driver_reads_match_one_application_at_a_time(any_store: Store, monkeypatch,
                                                                        per_query: int) -> None:
    monkeypatch.setattr(applications, "IDS_PER_QUERY", per_query)
    apps = []
    for n in range(5):
        app = f"app-{n}"
        stages = [_stage(app, i, n, code="s") for i in range(3)]
        stages.append(_stage(app, 1, n, code="s", attempt=1, failure="OutOfMemoryError"))
        beats = [DriverPeaks(app, {"JVMHeapMemory": k * GIB, "TotalGCTime": 10 * k}) for k in (3, 1, 2)]
        _ingest(any_store, app, stages if n != 2 else [], beats if n != 3 else [])
        apps.append(app)
    wanted = [*apps, apps[0], "never-sent"]
    whole = any_store.applications.stages_for(wanted)
    assert whole == {a: any_store.applications.stages(a) for a in apps if a != "app-2"}
    assert whole["app-0"][0].executor_peaks and whole["app-0"][0].metrics["input_bytes"] == 10**9
    outline = any_store.applications.stage_outlines(wanted)
    assert set(outline) == set(whole)
    for app, got in outline.items():
        assert got == [applications.StageOutline(s.application_id, s.stage_id, s.attempt_id, s.name, s.parent_ids,
                                                 s.failure_reason) for s in whole[app]]
    assert outline["app-0"][1].parent_ids == (0,) and outline["app-0"][2].failure_reason == "OutOfMemoryError"
    assert any_store.applications.driver_peaks_for(wanted) == \
        {a: any_store.applications.driver_peaks(a) for a in apps if a != "app-3"}
    assert any_store.applications.stages_for([]) == {} and any_store.applications.driver_peaks_for([]) == {}
