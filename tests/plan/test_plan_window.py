"""A plan reads the current segment and some runs before it, at most `PLAN_RUNS` (`server.plan.reads.plan_window`):
over a history longer than that it decides as it does reading every run, finds the same change point, and
reads the stage outlines of the runs it reads only."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from server.costing.catalog import load_catalog
from server.domain import AgentInfo, IngestBatch, IngestEvent, Project, ProjectSettings, Run, Stage
from server.plan import planner, reads
from server.plan.planner import plan_project
from server.spec import config_from_spec
from server.store import Store
from server.store.repos import applications

SHAPES = [("m5.xlarge", 8), ("m5.xlarge", 4), ("m5.2xlarge", 4), ("m5.xlarge", 16), ("m5.2xlarge", 8)]


def _spec(node: str, workers: int) -> dict[str, Any]:
    return {"spark_version": "15.4.x-scala2.12", "node_type_id": node, "num_workers": workers,
            "aws_attributes": {"availability": "ON_DEMAND", "first_on_demand": 1, "ebs_volume_type":
                               "GENERAL_PURPOSE_SSD", "ebs_volume_count": 1, "ebs_volume_size": 100}}


def _project(store: Store, runs: int, change_at: int) -> Project:
    """A nightly job that tried a few clusters, then kept one, its code changed at run ``change_at`` (new
    stage names, 30% slower), after which it tried a few again and kept one; a lost spot node and a
    failure now and then."""
    spec = _spec("m5.xlarge", 8)
    project = store.projects.add(Project(workspace="ws", job_id=7, cluster_key="main", current_spec=spec,
                                         original_spec=spec, settings=ProjectSettings(sla_seconds=1500.0)))
    for n in range(runs):
        in_segment = n - change_at if n >= change_at else n
        node, workers = SHAPES[in_segment % len(SHAPES)] if in_segment < 2 * len(SHAPES) else SHAPES[0]
        cores = workers * (4 if node == "m5.xlarge" else 8)
        failed = n % 29 == 11
        code = "b" if n >= change_at else "a"
        app = f"app-{n}"
        stages = tuple(Stage(application_id=app, stage_id=i, name=f"{code}{i}", num_tasks=64,
                             parent_ids=(i - 1,) if i else (), tasks_succeeded=64) for i in range(4))
        store.ingest.write([IngestBatch(batch_id=f"b-{app}", agent=AgentInfo(agent_id="a", version="0", cluster_id="c"),
                                        events=tuple(IngestEvent(application_id=app, key=f"stage/{s.stage_id}/0",
                                                                 kind="Stage", body=s, payload=f"{app}/{s.stage_id}".encode())
                                                     for s in stages))])
        t0 = 1_700_000_000_000 + n * 86_400_000
        runtime = 1800.0 * (cores / 32) ** -0.7 * (1.3 if n >= change_at else 1.0) * \
            (1.0 + 0.04 * ((n * 7919) % 11 - 5) / 5)
        store.runs.add(Run(project_id=int(project.id or 0), databricks_run_id=1000 + n, start_ms=t0,
                           end_ms=t0 + int(runtime * 1000), outcome="failed" if failed else "succeeded",
                           runtime_s=runtime, input_bytes=50 * 10**9, setup_s=240.0 + n % 30,
                           anomalies=("failure",) if failed else ("spot_loss",) if n % 31 == 17 else (),
                           config=config_from_spec(_spec(node, workers)), application_ids=(app,)))
    return project


def _plan(store: Store, project: Project) -> dict[str, Any]:
    """The recommendation's content, planned from ``project`` as it is (its phase put back first)."""
    store.projects.update(project)
    rec = plan_project(store, int(project.id or 0), load_catalog())
    assert rec is not None
    return {k: v for k, v in dataclasses.asdict(rec).items() if k not in ("id", "created_at_ms")}


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[int]]:
    """What the plan read: the applications of each stage outline read, the seed of each decision."""
    out: dict[str, list[int]] = {"outlined": [], "seeds": []}
    real_outlines, real_decide = applications.ApplicationRepository.stage_outlines, planner.decide

    def outlines(self, ids):  # noqa: ANN001, ANN202 - the real read, counted
        ids = list(ids)
        out["outlined"].append(len(ids))
        return real_outlines(self, ids)

    def decide(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202 - the real decision, its seed noted
        out["seeds"].append(kwargs["seed"])
        return real_decide(*args, **kwargs)

    monkeypatch.setattr(applications.ApplicationRepository, "stage_outlines", outlines)
    monkeypatch.setattr(planner, "decide", decide)
    return out


def _cap(monkeypatch: pytest.MonkeyPatch, runs: int, before: int, head: int | None = None) -> None:
    """The window's bounds (set as names a planner without them ignores: it reads every run)."""
    monkeypatch.setattr(reads, "PLAN_RUNS", runs, raising=False)
    monkeypatch.setattr(reads, "RUNS_BEFORE_SEGMENT", before, raising=False)
    if head is not None:
        monkeypatch.setattr(reads, "SEGMENT_HEAD", head, raising=False)


def test_a_history_longer_than_the_cap_is_planned_as_reading_every_run(store: Store, monkeypatch,
                                                                      seen: dict[str, list[int]]) -> None:
    project = _project(store, 150, change_at=100)
    with monkeypatch.context() as m:
        _cap(m, 10**6, 10**6)
        first = _plan(store, project)  # the first plan finds the change point, and keeps it
        whole = _plan(store, project)
    assert first["change_run_id"] is not None and first["change_kind"] == "code_change"
    assert seen["outlined"] == [150, 150]
    _cap(monkeypatch, 80, 20)
    capped = _plan(store, project)
    # Only the runs from 20 before the change point on: their outlines alone, the same decision word for
    # word (the change point, its reason, the figures), on the same seed (the runs left out count).
    assert seen["outlined"][-1] == 70
    assert capped == whole
    assert seen["seeds"][-1] == seen["seeds"][-2]
    assert capped["change_run_id"] == first["change_run_id"]
    change = store.runs.get(int(capped["change_run_id"]))
    assert change.databricks_run_id == 1100


def test_a_segment_longer_than_the_cap_keeps_its_first_runs_and_its_change_point(
        store: Store, monkeypatch, seen: dict[str, list[int]]) -> None:
    project = _project(store, 160, change_at=40)
    with monkeypatch.context() as m:
        _cap(m, 10**6, 10**6)
        first = _plan(store, project)
        whole = _plan(store, project)
    assert first["change_kind"] == "code_change"
    _cap(monkeypatch, 60, 10, 20)
    capped = _plan(store, project)
    # 60 runs: 10 before the change point, the segment's first 20 (its learning runs), its newest 30.
    assert seen["outlined"][-1] == 60
    assert (capped["change_run_id"], capped["change_kind"]) == (whole["change_run_id"], whole["change_kind"])
    assert capped["config"] == whole["config"] and capped["phase"] == whole["phase"]
    assert seen["seeds"][-1] == seen["seeds"][-2]
