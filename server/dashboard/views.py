"""What each dashboard page shows, read from the store (no HTML here).

Read-only: nothing on these paths writes to the store or calls Databricks.
The recommendation diff is against the spec Trimtab last wrote or saw
(`Project.current_spec`, rebased by the collector when a user edits the job),
which is the live spec as far as the server knows without calling out.
"""

from __future__ import annotations

from dataclasses import dataclass

from server.apply import project_cloud
from server.domain import Application, Executor, Project, Recommendation, Run, Stage
from server.errors import NotFound
from server.onboard import spec_diff
from server.plan.driver import DriverUse, driver_use
from server.services.projects import sla_met_fraction
from server.services.savings import ProjectSavings, stored_changes, stored_project_savings
from server.spec import recommended_spec
from server.store import Store
from server.timeline import ProjectTimeline, build_timeline, points_from_runs

# The runs table shows this many runs a page, newest first (``?page=2`` the next older ones): a
# project with 20,000 runs was one 14 MB page.
RUNS_PER_PAGE = 200
# The timeline draws at most this many runs, the newest (the page says so; `trimtab timeline --out`
# draws every run): 20,000 runs were an 8.8 MB inline SVG.
TIMELINE_RUNS = 500


@dataclass(frozen=True)
class ProjectRow:
    project: Project
    runs: int
    latest: Run | None
    sla_met: float | None  # share of runs that met the SLA (a failed run did not: `server.timeline.met_sla`)
    savings: ProjectSavings | None


@dataclass(frozen=True)
class ProjectPage:
    row: ProjectRow
    timeline: ProjectTimeline
    runs: tuple[Run, ...]  # one page of the project's runs, newest first
    recommendation: Recommendation | None
    diff: str
    page: int = 1  # which page of `RUNS_PER_PAGE` runs ``runs`` is, 1 the newest
    pages: int = 1

    @property
    def first_run_number(self) -> int:
        """The place of the page's first run among the project's runs, newest first, from 1."""
        return (self.page - 1) * RUNS_PER_PAGE + 1


@dataclass(frozen=True)
class RunPage:
    run: Run
    project: Project
    applications: tuple[Application, ...]
    stages: tuple[Stage, ...]
    executors: tuple[Executor, ...]
    driver: DriverUse | None = None  # what the run's driver used (None: no agent data on it)


def _title(project: Project) -> str:
    return f"{project.job_name} ({project.name})" if project.job_name else project.name


def _row(store: Store, project: Project, runs: list[Run]) -> ProjectRow:
    # Savings as `trimtab savings` reads them (every run's DBUs at the workspace's plan now), so the
    # page and the CLI agree after a change of plan.
    return ProjectRow(project=project, runs=len(runs), latest=runs[-1] if runs else None,
                      sla_met=sla_met_fraction(runs, project.settings.sla_seconds),
                      savings=stored_project_savings(store, project, runs))


def project_rows(store: Store) -> list[ProjectRow]:
    return [_row(store, p, store.runs.history(int(p.id or 0))) for p in store.projects.list()]


def recommendation_diff(project: Project, rec: Recommendation, cloud: str) -> str:
    """The change ``rec`` makes to the project's spec, on the workspace's ``cloud`` (as apply writes it)."""
    live = project.current_spec or project.original_spec
    proposed = recommended_spec(live, rec.config, cloud=cloud)
    return spec_diff(live, proposed, f"job {project.job_id} / {project.cluster_key}") or \
        "(the same as the live cluster: nothing to apply)"


def project_timeline(store: Store, project: Project, runs: list[Run]) -> ProjectTimeline:
    """The timeline of the newest `TIMELINE_RUNS` of ``runs`` (every run of ``project``, oldest first).
    The points are made from every run and then cut, so the first one drawn is marked as an apply only
    when its recommendation took over there, not because the runs before it are left out."""
    points = points_from_runs(runs, stored_changes(store, project))
    currency = next((r.cost.currency for r in runs if r.cost), "USD")
    return build_timeline(points[-TIMELINE_RUNS:], project.settings.sla_seconds, _title(project), currency)


def page_count(runs: int) -> int:
    """How many pages of `RUNS_PER_PAGE` runs ``runs`` runs make (one, empty, for none)."""
    return max(1, -(-runs // RUNS_PER_PAGE))


def project_page(store: Store, project_id: int, page: int = 1) -> ProjectPage:
    """The project's page with its ``page``-th `RUNS_PER_PAGE` runs, newest first; `NotFound` past
    the last page."""
    project = store.projects.get(project_id)
    runs = store.runs.history(project_id)
    pages = page_count(len(runs))
    if not 1 <= page <= pages:
        raise NotFound(f"project {project_id} has {pages} page{'' if pages == 1 else 's'} of runs "
                       f"({RUNS_PER_PAGE} a page): no page {page}")
    newest_first = runs[::-1]
    shown = newest_first[(page - 1) * RUNS_PER_PAGE:page * RUNS_PER_PAGE]
    rec = store.recommendations.pending(project_id) or store.recommendations.latest(project_id)
    return ProjectPage(row=_row(store, project, runs), timeline=project_timeline(store, project, runs),
                       runs=tuple(shown), recommendation=rec,
                       diff=recommendation_diff(project, rec, project_cloud(store, project))
                       if rec is not None else "", page=page, pages=pages)


def run_page(store: Store, run_id: int) -> RunPage:
    run = store.runs.get(run_id)
    apps = tuple(store.applications.for_run(run_id))
    if not apps:
        # The collector ties applications to the run; older rows may only list their ids.
        found = []
        for app_id in run.application_ids:
            try:
                found.append(store.applications.get(app_id))
            except NotFound:  # an id whose application never arrived is simply absent
                continue
        apps = tuple(found)
    stages = tuple(s for a in apps for s in store.applications.stages(a.application_id))
    executors = tuple(e for a in apps for e in store.applications.executors(a.application_id))
    beats = [b for a in apps for b in store.applications.driver_peaks(a.application_id)]
    return RunPage(run=run, project=store.projects.get(run.project_id), applications=apps,
                   stages=stages, executors=executors, driver=driver_use(stages, beats))
