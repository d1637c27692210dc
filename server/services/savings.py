"""Savings: what a project cost per run before Trimtab changed it, against now.

Baseline: the mean cost of the runs made with the cluster as found (no
recommendation applied yet). Current: the mean of the last three runs made
with a recommendation. Saved to date: the sum, over runs made with a
recommendation, of (baseline - their cost). Projected annual: the per-run
saving times the runs a year at the project's observed cadence. When every
run knows its input size, all of this is per input GB instead, scaled back
by each run's size, so growing data does not read as lost savings.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from server.domain import Project, Run
from server.store import Store

YEAR_MS = 365 * 24 * 3600 * 1000


@dataclass(frozen=True)
class ProjectSavings:
    project_id: int
    project_name: str
    baseline_cost_per_run: float
    current_cost_per_run: float
    saved_to_date: float
    projected_annual: float
    basis: str  # per_run | per_input_gb
    runs: int


@dataclass(frozen=True)
class SavingsReport:
    projects: tuple[ProjectSavings, ...]
    total_saved_to_date: float
    total_projected_annual: float
    currency: str


def project_savings(project: Project, runs: list[Run]) -> ProjectSavings | None:
    """Pure. None until there is both a baseline run and a run with a recommendation."""
    costed = [r for r in runs if r.cost is not None and r.outcome == "succeeded"]
    before = [r for r in costed if r.recommendation_id is None]
    after = [r for r in costed if r.recommendation_id is not None]
    if not before or not after:
        return None
    per_gb = all(r.input_bytes for r in costed)

    def unit(r: Run) -> float:
        assert r.cost is not None
        return r.cost.total / (r.input_bytes / 1e9) if per_gb and r.input_bytes else r.cost.total

    def scale(r: Run) -> float:
        return (r.input_bytes or 0) / 1e9 if per_gb else 1.0

    baseline = statistics.fmean(unit(r) for r in before)
    current = statistics.fmean(unit(r) for r in after[-3:])
    saved = sum((baseline - unit(r)) * scale(r) for r in after)
    starts = sorted(r.start_ms for r in costed)
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False) if b > a]
    runs_per_year = YEAR_MS / statistics.median(gaps) if gaps else 0.0
    typical_scale = statistics.fmean(scale(r) for r in after[-3:])
    assert project.id is not None
    return ProjectSavings(
        project_id=project.id, project_name=project.name,
        baseline_cost_per_run=baseline * typical_scale, current_cost_per_run=current * typical_scale,
        saved_to_date=saved, projected_annual=(baseline - current) * typical_scale * runs_per_year,
        basis="per_input_gb" if per_gb else "per_run", runs=len(costed),
    )


def get_savings(store: Store, project_ref: str = "") -> SavingsReport:
    projects = [store.projects.find(project_ref)] if project_ref else store.projects.list()
    found: list[ProjectSavings] = []
    currency = "USD"
    for project in projects:
        assert project.id is not None
        runs = store.runs.history(project.id)
        currency = next((r.cost.currency for r in runs if r.cost), currency)
        item = project_savings(project, runs)
        if item is not None:
            found.append(item)
    return SavingsReport(projects=tuple(found), total_saved_to_date=sum(p.saved_to_date for p in found),
                         total_projected_annual=sum(p.projected_annual for p in found), currency=currency)
