"""A project's timeline from the store (the drawing itself is pure: `server.timeline`)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from server.services.projects import ProjectSummary, get_project
from server.services.savings import stored_changes
from server.store import Store
from server.timeline import ProjectTimeline, TimelinePoint, reverted_ids, timeline_of_runs


@dataclass(frozen=True)
class Timeline:
    """A project with its timeline; ``points`` and ``sla_seconds`` are what the API sends."""

    project: ProjectSummary
    chart: ProjectTimeline

    @property
    def points(self) -> tuple[TimelinePoint, ...]:
        return self.chart.points

    @property
    def sla_seconds(self) -> float | None:
        return self.chart.sla_seconds


def get_timeline(store: Store, project_ref: str) -> Timeline:
    summary = get_project(store, project_ref)
    project = summary.project
    runs = store.runs.history(int(project.id or 0))
    title = f"{project.job_name} ({project.name})" if project.job_name else project.name
    reverted = reverted_ids(store.recommendations.list(int(project.id or 0)), runs)
    chart = timeline_of_runs(runs, project.settings.sla_seconds, title, stored_changes(store, project), reverted)
    return Timeline(project=summary, chart=replace(chart, working_sla_seconds=summary.working_sla_s))
