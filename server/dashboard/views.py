"""What each dashboard page shows, read from the store (no HTML here).

Read-only: nothing on these paths writes to the store or calls Databricks.
The recommendation diff is against the spec Trimtab last wrote or saw
(`Project.current_spec`, rebased by the collector when a user edits the job),
which is the live spec as far as the server knows without calling out.
"""

from __future__ import annotations

import json
import threading
import weakref
from dataclasses import dataclass
from typing import Any

from server.apply import project_cloud, proposed_spec
from server.domain import Application, Executor, Project, Recommendation, Run, Stage, Workspace
from server.errors import NotFound
from server.onboard import spec_diff
from server.plan.driver import DriverUse, driver_use
from server.services.projects import auto_apply_hold, sla_met_fraction
from server.services.savings import (
    USER_EDIT,
    ProjectSavings,
    stored_changes,
    stored_project_savings,
    workspace_dbu_rate,
)
from server.services.workspace_lifecycle import watched
from server.store import Store
from server.timeline import (
    CODE_CHANGE,
    ProjectTimeline,
    build_timeline,
    met_fraction,
    met_sla,
    points_from_runs,
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
    # Share of the runs judged that met the SLA (a failed run did not; a runtime without setup within it
    # is not judged: `server.timeline.met_sla`, `met_fraction`).
    sla_met: float | None
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
                      sla_met=sla_met_fraction(runs, project.settings.sla_seconds),
                      savings=stored_project_savings(store, project, runs),
                      auto_apply_hold=auto_apply_hold(project, runs))


def project_rows(store: Store, stop: threading.Event | None = None) -> list[ProjectRow]:
    """Every project's row, as `_row` makes it from the project's whole history, without reading
    every run of every project each time: a year of 300 nightly jobs (110,000 runs) took 16 s.

    The run count, the SLA-met share and the latest run come from one streamed read of the columns
    they need (`RunRepository.figures_by_project`). The savings are `stored_project_savings`'s own,
    kept per project and reused while nothing they are made of changed (`_savings_key`: the project,
    its runs' figures, its change points and its workspace's $/DBU now), so the page and `trimtab
    savings` still agree to the cent; a project whose workload changed its code is computed afresh
    every time (its savings read its runs' Spark stages too).

    ``stop``: once set, the rows made so far are returned (the dashboard's warm-up ending early)."""
    projects = store.projects.list()
    by_id = {int(p.id or 0): p for p in projects}
    seen: dict[int, _RunFigures] = {}
    for pid, rows in store.runs.figures_by_project(list(by_id)):
        seen[pid] = _RunFigures.of(rows, by_id[pid].settings.sla_seconds)
    latest = {int(r.id or 0): r for r in store.runs.by_ids(
        [f.latest_id for f in seen.values()]
        + [f.edit_id for pid, f in seen.items() if f.edit_id and by_id[pid].settings.auto_apply])}
    rates: dict[str, _Rates] = {}  # by workspace: read once a page, not once a project
    out = []
    for p in projects:
        if stop is not None and stop.is_set():
            break
        pid = int(p.id or 0)
        figures = seen.get(pid, _NO_RUNS)
        edited = latest.get(figures.edit_id)
        out.append(ProjectRow(project=p, runs=figures.runs, latest=latest.get(figures.latest_id),
                              sla_met=figures.sla_met,
                              savings=_kept_savings(store, p, figures.digest, rates) if figures.comparable
                              else None,
                              auto_apply_hold=auto_apply_hold(p, [edited] if edited is not None else [])))
    return out


@dataclass(frozen=True)
class _RunFigures:
    """What the projects page needs of one project's runs, from `RunRepository.figures_by_project`."""

    runs: int
    sla_met: float | None  # `ProjectRow.sla_met`; None without an SLA
    latest_id: int  # the run `history` lists last (the latest start, then the highest id); 0: no run
    # A hash of every figure of every run: the same while no run was added, changed or removed; any
    # change alters it (but for a 1 in 2**64 collision of Python's tuple hash), so it is never stale.
    digest: int
    # Whether a costed succeeded run without a recommendation and one with a recommendation exist:
    # without both, `project_savings` is None whatever else holds (no baseline or no Trimtab run).
    comparable: bool = False
    # The newest run flagged user_edit (an edit outside Trimtab, which can pause auto-apply); 0: none.
    edit_id: int = 0

    @staticmethod
    def of(rows: list[tuple], sla_seconds: float | None) -> _RunFigures:
        # Columns: id, databricks_run_id, start_ms, runtime_s, outcome, config, input_bytes, anomalies,
        # recommendation_id, setup_s, the cost's run_id (None: no cost), ..., execution_only (FIGURE_COLUMNS).
        met = met_fraction(met_sla(r[4], r[3], sla_seconds, execution_only=bool(r[-1])) for r in rows)
        latest = max(rows, key=lambda r: (r[2], r[0]))[0] if rows else 0
        tagged = {r[8] is not None for r in rows if r[10] is not None and r[4] == "succeeded"}
        # The JSON is parsed only where the flag's name is in it.
        edited = [r for r in rows if r[7] and USER_EDIT in r[7] and USER_EDIT in (json.loads(r[7]) or ())]
        return _RunFigures(runs=len(rows), sla_met=met, latest_id=int(latest), digest=hash(tuple(rows)),
                           comparable=tagged == {True, False},
                           edit_id=int(max(edited, key=lambda r: (r[2], r[0]))[0]) if edited else 0)


_NO_RUNS = _RunFigures(runs=0, sla_met=None, latest_id=0, digest=hash(()))

# Per store, per project: (the `_savings_key` the savings were computed under, the savings). Weak, so
# a closed store's entries go with it; the lock guards the dicts (the dashboard serves from threads).
_SAVED: weakref.WeakKeyDictionary[Store, dict[int, tuple[tuple[Any, ...], ProjectSavings | None]]] = \
    weakref.WeakKeyDictionary()
_SAVED_LOCK = threading.Lock()


_Rates = tuple[float | None, float | None] | None  # a workspace's $/DBU now for jobs and jobs_photon


def _dbu_rates(store: Store, project: Project) -> _Rates:
    rate = workspace_dbu_rate(store, project)
    return None if rate is None else (rate("jobs"), rate("jobs_photon"))


def _savings_key(store: Store, project: Project, digest: int,
                 rates: dict[str, _Rates] | None = None) -> tuple[Any, ...] | None:
    """Everything `stored_project_savings` of ``project`` reads, as a value to compare (None: not
    kept, because its savings read its runs' Spark stages, which arrive after the runs): the
    project (its settings, schedule, apply state...), its runs' figures, its change points and the
    $/DBU its workspace's plan gives each SKU now."""
    changes = stored_changes(store, project)
    if any(c.kind == CODE_CHANGE for c in changes):
        return None
    if rates is None:
        return (project, digest, tuple(changes), _dbu_rates(store, project))
    if project.workspace not in rates:
        rates[project.workspace] = _dbu_rates(store, project)
    return (project, digest, tuple(changes), rates[project.workspace])


def _kept_savings(store: Store, project: Project, digest: int,
                  rates: dict[str, _Rates] | None = None) -> ProjectSavings | None:
    pid = int(project.id or 0)
    key = _savings_key(store, project, digest, rates)
    if key is not None:
        with _SAVED_LOCK:
            kept = _SAVED.get(store, {}).get(pid)
        if kept is not None and kept[0] == key:
            return kept[1]
    savings = stored_project_savings(store, project)
    if key is None:
        return savings
    # Kept only when nothing changed while they were computed (a run stored meanwhile would be in
    # them but not in the key): the project and its runs' figures are read again.
    again = next((_RunFigures.of(rows, None).digest for _, rows in store.runs.figures_by_project([pid])),
                 _NO_RUNS.digest)
    try:
        now = store.projects.get(pid)
    except NotFound:  # deleted meanwhile: nothing to keep
        return savings
    if _savings_key(store, now, again) == key:
        with _SAVED_LOCK:
            _SAVED.setdefault(store, {})[pid] = (key, savings)
    return savings


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
