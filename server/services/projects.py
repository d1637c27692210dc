"""Projects as people see them: settings changes, detach, and per-project figures."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from server.domain import ClusterConfig, Project, ProjectSettings, Run
from server.errors import InvalidArgument
from server.spec import config_from_spec as spec_config
from server.store import Store


@dataclass(frozen=True)
class ProjectSummary:
    """A project with the figures its listing shows."""

    project: Project
    run_count: int = 0
    current_config: ClusterConfig | None = None
    latest_cost: float | None = None
    latest_runtime_s: float | None = None
    sla_met_fraction: float | None = None


def summarize(store: Store, project: Project) -> ProjectSummary:
    assert project.id is not None
    runs = store.runs.history(project.id)
    latest = runs[-1] if runs else None
    return ProjectSummary(
        project=project,
        run_count=len(runs),
        current_config=config_from_spec(project.current_spec) or (latest.config if latest else None),
        latest_cost=latest.cost.total if latest and latest.cost else None,
        latest_runtime_s=latest.runtime_s if latest else None,
        sla_met_fraction=sla_met_fraction(runs, project.settings.sla_seconds),
    )


def sla_met_fraction(runs: list[Run], sla_seconds: float | None) -> float | None:
    finished = [r for r in runs if r.outcome == "succeeded"]
    if sla_seconds is None or not finished:
        return None
    return sum(1 for r in finished if r.runtime_s <= sla_seconds) / len(finished)


def config_from_spec(spec: dict[str, Any]) -> ClusterConfig | None:
    """The named fields of a Databricks `new_cluster` spec (None for an empty spec).

    One reading of specs for the whole server (`server.spec`), so the project page
    and the planner never disagree (Azure availability names included).
    """
    return spec_config(spec) if spec else None


def list_projects(store: Store, workspace: str = "") -> list[ProjectSummary]:
    return [summarize(store, p) for p in store.projects.list(workspace or None)]


def get_project(store: Store, ref: str) -> ProjectSummary:
    return summarize(store, store.projects.find(_ref(ref)))


def update_settings(store: Store, ref: str, changes: dict[str, Any]) -> ProjectSummary:
    """Apply `changes` (setting name -> new value; ``sla_seconds: None`` clears the SLA)."""
    project = store.projects.find(_ref(ref))
    settings = apply_changes(project.settings, changes)
    assert project.id is not None
    # The phase follows from auto-apply, but moving it is the planner's job (server/plan).
    return summarize(store, store.projects.update_settings(project.id, settings))


def apply_changes(settings: ProjectSettings, changes: dict[str, Any]) -> ProjectSettings:
    """`settings` with `changes` applied and checked; pure."""
    names = {f.name for f in dataclasses.fields(ProjectSettings)}
    unknown = set(changes) - names
    if unknown:
        raise InvalidArgument(f"settings: unknown {', '.join(sorted(unknown))}")
    new = dataclasses.replace(settings, **changes)
    if new.sla_seconds is not None and new.sla_seconds <= 0:
        raise InvalidArgument("settings.sla_seconds: must be positive")
    for name in ("min_workers", "max_workers"):
        value = getattr(new, name)
        if value is not None and value < 0:
            raise InvalidArgument(f"settings.{name}: must not be negative")
    if new.min_workers is not None and new.max_workers is not None and new.min_workers > new.max_workers:
        raise InvalidArgument(f"settings.min_workers: {new.min_workers} is above max_workers {new.max_workers}")
    if new.learning_budget < 0:
        raise InvalidArgument("settings.learning_budget: must not be negative")
    bad = [f for f in new.allowed_families if not f or not f.replace("-", "").replace("_", "").isalnum()]
    if bad:
        raise InvalidArgument(f"settings.allowed_families: not an instance family: {bad[0]!r}")
    return new


def detach_project(store: Store, ref: str) -> ProjectSummary:
    """Stop managing the project. Trimtab no longer changes its cluster; putting the
    original spec back in the job is `server/apply`'s part (it reads `original_spec`)."""
    project = store.projects.find(_ref(ref))
    return summarize(store, store.projects.update(dataclasses.replace(project, detached=True)))


def _ref(ref: str) -> str:
    if not ref.strip():
        raise InvalidArgument("project: must not be empty")
    return ref
