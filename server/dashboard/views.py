"""What each dashboard page shows, read from the store (no HTML here).

Read-only: nothing on these paths writes to the store or calls Databricks.
The recommendation diff is against the spec Trimtab last wrote or saw
(`Project.current_spec`, rebased by the collector when a user edits the job),
which is the live spec as far as the server knows without calling out.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass

from server.apply import project_cloud, proposed_spec
from server.domain import Application, Executor, Project, Recommendation, Run, Stage, Workspace
from server.errors import NotFound
from server.onboard import spec_diff
from server.plan.driver import DriverUse, driver_use
from server.services import savings_kept
from server.services.projects import auto_apply_hold
from server.services.savings import (
    USER_EDIT,
    ProjectSavings,
    stored_changes,
    stored_project_savings,
)
from server.services.workspace_lifecycle import watched
from server.store import Store
from server.timeline import (
    ProjectTimeline,
    SlaShare,
    build_timeline,
    points_from_runs,
    reverted_ids,
    run_sla_share,
    sla_share,
)

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
    # Shares of the runs judged that met the SLA, against today's SLA and every run against its day's
    # (a failed run did not; a runtime without setup within it is not judged: `server.timeline.SlaShare`).
    sla_met: SlaShare
    savings: ProjectSavings | None
    # Why auto-apply is paused though it is on (an edit outside Trimtab), "" when it is not
    # (`server.services.projects.auto_apply_hold`, as `trimtab project show` says it).
    auto_apply_hold: str = ""


@dataclass(frozen=True)
class WorkspaceState:
    """A workspace as `trimtab workspace list` shows it: whether the collector gets anything from it
    (``status``, ``last_error``) and whether it polls it at all (``watched``). Without it a page of
    data weeks old read as current."""

    workspace: Workspace
    watched: bool

    @property
    def collecting(self) -> bool:
        return self.workspace.status == "ok"


def workspace_state(store: Store, name: str) -> WorkspaceState | None:
    """The project's workspace (None: not connected any more, as a removed workspace's projects)."""
    try:
        workspace = store.workspaces.get(name)
    except NotFound:
        return None
    return WorkspaceState(workspace, watched(store, workspace))


def troubled_workspaces(store: Store) -> list[WorkspaceState]:
    """The workspaces with projects (detached ones too) the collector is not collecting from, or not
    polling (the banner on `/`: "runs may be missing"). One without projects has no figures to be
    stale: a workspace just added with auto-import off read as an alarm for good (review rev15h);
    `trimtab workspace list` still says its status."""
    used = {p.workspace for p in store.projects.list()}
    states = [WorkspaceState(w, watched(store, w)) for w in store.workspaces.list() if w.name in used]
    return [s for s in states if not s.collecting or not s.watched]


@dataclass(frozen=True)
class ProjectPage:
    row: ProjectRow
    timeline: ProjectTimeline
    runs: tuple[Run, ...]  # one page of the project's runs, newest first
    recommendation: Recommendation | None
    diff: str
    page: int = 1  # which page of `RUNS_PER_PAGE` runs ``runs`` is, 1 the newest
    pages: int = 1
    workspace: WorkspaceState | None = None  # None: its workspace is not connected

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
                      sla_met=run_sla_share(runs, project.settings.sla_seconds),
                      savings=stored_project_savings(store, project, runs),
                      auto_apply_hold=auto_apply_hold(project, runs))


def project_rows(store: Store, stop: threading.Event | None = None) -> list[ProjectRow]:
    """Every project's row, as `_row` makes it from the project's whole history, without reading
    every run of every project each time: a year of 300 nightly jobs (110,000 runs) took 16 s.

    The rows' figures (run count, SLA-met share, latest run) and savings are kept per project with
    `trimtab savings`' own (`savings_kept.kept_savings`: the same batched reads, the same key), so the
    page and the CLI agree to the cent and a page reads the runs of the projects whose runs changed
    alone (on SQLite every run's figures, in one query): a project whose code changed read its
    runs' Spark stages one application at a time, 1,221 queries a page for 2,000 runs.

    ``stop``: once set, the rows made so far are returned (the dashboard's warm-up ending early)."""
    projects = store.projects.list()
    kept = {int(p.id or 0): k for p, k in zip(projects, savings_kept.kept_savings(
        store, projects, every=True, outline=_outline, stop=stop), strict=False)}
    seen: dict[int, _RunFigures] = {pid: k.outline for pid, k in kept.items()}
    auto = {int(p.id or 0) for p in projects if p.settings.auto_apply}
    latest = {int(r.id or 0): r for r in store.runs.by_ids(
        [f.latest_id for f in seen.values() if f.latest_id]
        + [f.edit_id for pid, f in seen.items() if f.edit_id and pid in auto])}
    out = []
    for p in projects:
        pid = int(p.id or 0)
        if pid not in kept:  # stopped before it
            break
        figures = seen[pid]
        edited = latest.get(figures.edit_id)
        out.append(ProjectRow(project=p, runs=figures.runs, latest=latest.get(figures.latest_id),
                              sla_met=figures.sla_met, savings=kept[pid].savings,
                              auto_apply_hold=auto_apply_hold(p, [edited] if edited is not None else [])))
    return out


@dataclass(frozen=True)
class _RunFigures:
    """What the projects page needs of one project's runs, from `RunRepository.FIGURE_COLUMNS` rows."""

    runs: int
    sla_met: SlaShare  # `ProjectRow.sla_met`
    latest_id: int  # the run `history` lists last (the latest start, then the highest id); 0: no run
    # The newest run flagged user_edit (an edit outside Trimtab, which can pause auto-apply); 0: none.
    edit_id: int = 0

    @staticmethod
    def of(rows: list[tuple], sla_seconds: float | None) -> _RunFigures:
        # Columns: id, databricks_run_id, start_ms, runtime_s, outcome, config, input_bytes, anomalies,
        # recommendation_id, ..., execution_only, sla_s (FIGURE_COLUMNS). Each run against the SLA in
        # force when it was collected, as `project list` judges it (`server.timeline.sla_in_force`).
        met = sla_share(((r[4], r[3], r[-1], bool(r[-2])) for r in rows), sla_seconds)
        latest = max(rows, key=lambda r: (r[2], r[0]))[0] if rows else 0
        # The JSON is parsed only where the flag's name is in it.
        edited = [r for r in rows if r[7] and USER_EDIT in r[7] and USER_EDIT in (json.loads(r[7]) or ())]
        return _RunFigures(runs=len(rows), sla_met=met, latest_id=int(latest),
                           edit_id=int(max(edited, key=lambda r: (r[2], r[0]))[0]) if edited else 0)


def _outline(project: Project, rows: list[tuple]) -> _RunFigures:
    """The row's figures of a project's runs (kept with its savings: the project, its SLA, is in their key)."""
    return _RunFigures.of(rows, project.settings.sla_seconds)


def recommendation_diff(project: Project, rec: Recommendation, cloud: str) -> str:
    """The change ``rec`` makes to the project's spec, on the workspace's ``cloud``: what apply writes
    (`server.apply.proposed_spec`), the recommendation tag included."""
    live = project.current_spec or project.original_spec
    proposed = proposed_spec(live, rec, cloud=cloud)
    return spec_diff(live, proposed, f"job {project.job_id} / {project.cluster_key}") or \
        "(the same as the live cluster: nothing to apply)"


def project_timeline(store: Store, project: Project, runs: list[Run]) -> ProjectTimeline:
    """The timeline of the newest `TIMELINE_RUNS` of ``runs`` (every run of ``project``, oldest first).
    The points are made from every run and then cut, so the first one drawn is marked as an apply only
    when its recommendation took over there, not because the runs before it are left out."""
    # The reverted recommendations as the CLI's timeline reads them (`server.services.timeline`), so a
    # return to the cluster as found is drawn as a revert on both.
    reverted = reverted_ids(store.recommendations.list(int(project.id or 0)), runs)
    points = points_from_runs(runs, stored_changes(store, project), reverted)
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
                       if rec is not None else "", page=page, pages=pages,
                       workspace=workspace_state(store, project.workspace))


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
