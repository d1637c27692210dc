"""Runs and Spark applications, as the CLI reads them."""

from __future__ import annotations

from dataclasses import dataclass

from server.domain import Application, DriverPeaks, Executor, Run, Stage
from server.errors import InvalidArgument, NotFound, shown
from server.ids import parse_id, plain_number
from server.plan.driver import DriverUse, driver_use
from server.services.projects import required
from server.store import Store
from server.timeline import run_met_sla, sla_in_force

# ListRuns' page_size: 0 asks for DEFAULT_PAGE, more than MAX_PAGE gets MAX_PAGE (admin.proto says so).
DEFAULT_PAGE = 50
MAX_PAGE = 500


@dataclass(frozen=True)
class RunSla:
    """The SLA a run is judged against (``judged_s``: the project's when it was collected, else its
    SLA now, `sla_in_force`), the run's verdict against it (`run_met_sla`: None without an SLA or
    when unknown) and the project's SLA now (``current_s``), so whoever shows the run can tell an SLA
    since changed from today's."""

    judged_s: float | None = None
    met: bool | None = None
    current_s: float | None = None


def run_sla(run: Run, current_sla: float | None) -> RunSla:
    return RunSla(judged_s=sla_in_force(run.sla_s, current_sla), met=run_met_sla(run, current_sla),
                  current_s=current_sla)


@dataclass(frozen=True)
class RunDetail:
    """A run with the stages and executors of its Spark applications, what its driver used, the SLA it
    is judged against, and when `trimtab db prune` deleted its applications' per-executor detail
    (None: never; its executors and driver use are then gone, its stages are not)."""

    run: Run
    stages: tuple[Stage, ...] = ()
    executors: tuple[Executor, ...] = ()
    driver: DriverUse | None = None
    sla: RunSla = RunSla()
    detail_pruned_at_ms: int | None = None


@dataclass(frozen=True)
class RunPage:
    """A page of a project's runs and the token of the next one ("" at the end), with the project's SLA
    now, which judges the runs collected while it had none (`sla_of`)."""

    runs: list[Run]
    next_page_token: str
    current_sla: float | None = None

    def sla_of(self, run: Run) -> RunSla:
        return run_sla(run, self.current_sla)


def list_runs(store: Store, project_ref: str, page_size: int = 50, page_token: str = "") -> RunPage:
    """A page of a project's runs, latest start first, and the token of the next page ("" at the
    end). The token is the id of the page's last run; the next page starts after that run's
    (start_ms, id), so a token names a run of this project or it was never issued."""
    project = store.projects.find(required(project_ref, "project"))
    assert project.id is not None
    sla = project.settings.sla_seconds
    if page_size < 0:
        raise InvalidArgument("page_size: must not be negative")
    size = min(page_size or DEFAULT_PAGE, MAX_PAGE)
    after = None
    if page_token:
        after = _position(store, project.id, page_token)
    runs = store.runs.newest_first(project.id, limit=size + 1, after=after)
    if len(runs) > size:
        runs = runs[:size]
        return RunPage(runs, str(runs[-1].id), sla)
    return RunPage(runs, "", sla)


def _position(store: Store, project_id: int, page_token: str) -> tuple[int, int]:
    """Where the page after `page_token` starts: its run's (start_ms, id). A token that is no run of
    this project (another project's page, a made-up number) is refused rather than answered with
    a page from nowhere in particular."""
    never = InvalidArgument("page_token: not a token this server issued")
    run_id = parse_id(page_token, minimum=1)
    if run_id is None:
        raise never
    try:
        run = store.runs.get(run_id)
    except NotFound:
        raise never from None
    if run.project_id != project_id or run.id is None:
        raise never
    return run.start_ms, run.id


def get_run(store: Store, run_id: str) -> RunDetail:
    run = store.runs.get(run_id_of(run_id, "run_id"))
    stages: list[Stage] = []
    executors: list[Executor] = []
    beats: list[DriverPeaks] = []
    for app_id in run.application_ids:
        stages.extend(store.applications.stages(app_id))
        executors.extend(store.applications.executors(app_id))
        beats.extend(store.applications.driver_peaks(app_id))
    sla = run_sla(run, store.projects.get(run.project_id).settings.sla_seconds)
    return RunDetail(run=run, stages=tuple(stages), executors=tuple(executors),
                     driver=driver_use(stages, beats), sla=sla,
                     detail_pruned_at_ms=store.retention.detail_pruned_at(run.application_ids))


def get_application(store: Store, application_id: str) -> Application:
    """The application by Trimtab's id (what `app list` shows), else by the Spark application id
    (``app-2026...``, what Spark's UI and logs show). A Spark id several applications share is
    refused with their Trimtab ids, so the one shown is never a guess."""
    if not application_id:
        raise InvalidArgument("application_id: must not be empty")
    try:
        return store.applications.get(application_id)
    except NotFound:
        found = store.applications.with_spark_app_id(application_id)
        if not found:
            raise
    if len(found) == 1:
        return found[0]
    ids = ", ".join(a.application_id for a in found[:10]) + (", ..." if len(found) > 10 else "")
    raise InvalidArgument(f"Spark application id {shown(application_id)} names {len(found)} applications here "
                          f"(clusters that started theirs in the same second): give Trimtab's application id, "
                          f"one of {ids}")


def run_id_of(text: str, field: str) -> int:
    """The row id ``text`` (a request's ``field``) names: InvalidArgument for no number, NotFound for
    one more than a row id holds (no run has it); whether the run exists is the caller's read."""
    number = text.strip()
    if not plain_number(number):
        raise InvalidArgument(f"{field}: {shown(text)} is not a run id")
    run_id = parse_id(number)
    if run_id is None:  # more than a row id holds: no run has it
        raise NotFound(f"run {number} not found")
    return run_id
