"""A project's runs over time: runtime, cost, phase and what was unusual."""

from __future__ import annotations

from dataclasses import dataclass

from server.domain import Run
from server.services.projects import ProjectSummary, get_project
from server.store import Store


@dataclass(frozen=True)
class TimelinePoint:
    run_id: int
    start_time_ms: int
    runtime_s: float
    cost: float
    phase: str
    outcome: str
    anomalies: tuple[str, ...]
    # Set on the first run made with a newly applied recommendation.
    applied_recommendation_id: int | None
    input_gb: float | None


@dataclass(frozen=True)
class Timeline:
    project: ProjectSummary
    points: tuple[TimelinePoint, ...]
    sla_seconds: float | None


def points_of(runs: list[Run]) -> list[TimelinePoint]:
    """Pure: one point per run, oldest first, marking where a recommendation took over."""
    points = []
    previous_rec: int | None = None
    for run in runs:
        assert run.id is not None
        changed = run.recommendation_id is not None and run.recommendation_id != previous_rec
        previous_rec = run.recommendation_id
        points.append(TimelinePoint(
            run_id=run.id, start_time_ms=run.start_ms, runtime_s=run.runtime_s,
            cost=run.cost.total if run.cost else 0.0, phase=run.phase, outcome=run.outcome,
            anomalies=run.anomalies, applied_recommendation_id=run.recommendation_id if changed else None,
            input_gb=run.input_bytes / 1e9 if run.input_bytes is not None else None,
        ))
    return points


def get_timeline(store: Store, project_ref: str) -> Timeline:
    summary = get_project(store, project_ref)
    assert summary.project.id is not None
    runs = store.runs.history(summary.project.id)
    return Timeline(project=summary, points=tuple(points_of(runs)),
                    sla_seconds=summary.project.settings.sla_seconds)
