"""Projects as people see them: settings changes, detach, and per-project figures."""

from __future__ import annotations

import dataclasses
import difflib
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from server.actor import actor
from server.change_log import settings_change
from server.costing.catalog import PriceCatalog
from server.domain import MAX_SLA_SECONDS, ClusterConfig, Project, ProjectSettings, Recommendation, Run
from server.errors import InvalidArgument, NotFound
from server.plan.candidates import MAX_WORKERS, MIN_WORKERS
from server.plan.owner_on_demand import SPOT_OFF_BY_IMPORT_KEY
from server.plan.policy import kept_values
from server.plan.search_window import SearchWindow
from server.services.collection_state import CollectionProblem, collection_problem
from server.services.pending import ShownRecommendation, current_cost_per_run, on_job
from server.services.project_window import project_window
from server.services.savings import USER_EDIT
from server.spec import config_from_spec as spec_config
from server.spec import pool_ids, pools_seen
from server.store import Store
from server.timeline import SlaShare, run_sla_share, sla_share

log = logging.getLogger(__name__)

# The CLI takes whole seconds; a fraction of a second (5e-324) is no runtime a job could meet.
MIN_SLA_SECONDS = 1
# The most workers a project's bounds may name: `server.plan.candidates.MAX_WORKERS`, which caps the
# default maximum too. The planner tries the grid points inside the bounds plus the two bounds
# themselves (`server.plan.candidates.worker_counts`), so a wide range costs no more candidates.
# Designed learning runs per segment (`models.decide`): each is a real, possibly slower, job run,
# so more than a few dozen is never what a person meant.
MAX_LEARNING_BUDGET = 20


@dataclass(frozen=True)
class ProjectSummary:
    """A project with the figures its listing shows."""

    project: Project
    run_count: int = 0
    current_config: ClusterConfig | None = None
    latest_cost: float | None = None
    latest_runtime_s: float | None = None
    sla_met_fraction: float | None = None
    # The share against today's SLA apart (`server.timeline.SlaShare`); ``sla_met_fraction`` is its ``every``.
    sla_share: SlaShare = SlaShare()
    # Why auto-apply is paused though it is on (the owner edited the cluster outside Trimtab), "" when
    # it is not: `server.plan.planner.edit_hold`, the planner's own rule.
    auto_apply_hold: str = ""
    # `latest_outcome` of the latest run: "" when it succeeded.
    latest_outcome: str = ""
    # `get_project` only: the pending recommendation (None: none pending), whether the job already runs
    # it, and what a run of the current cluster costs (`server.services.pending`).
    pending: ShownRecommendation | None = None
    current_cost_per_run: float | None = None
    # `get_project` only: the working SLA the newest plan aimed at (`working_sla`), None when it aimed
    # at the SLA itself.
    working_sla_s: float | None = None
    # `get_project` only: why its runs are not being collected now (None: they are).
    collection: CollectionProblem | None = None
    # `get_project` only: the search window its plans keep within (`project_window`; None: unknown).
    window: SearchWindow | None = None


def latest_outcome(run: Run | None) -> str:
    """How ``run`` ended when it did not succeed, with the words it was marked with ("failed:
    launch_failed"); "" for a succeeded run or none. Beside a latest runtime and cost, which for a
    cluster that never started are 0s and $0.00."""
    if run is None or run.outcome == "succeeded":
        return ""
    return f"{run.outcome}: {', '.join(run.anomalies)}" if run.anomalies else run.outcome


def auto_apply_hold(project: Project, runs: Sequence[Run]) -> str:
    """`edit_hold` of the project: ``runs`` in `history`'s order, at least its newest run flagged
    ``user_edit`` (the only one the rule reads)."""
    from server.plan.planner import edit_hold  # the planner pulls in the Databricks gateway: imported here

    return edit_hold(project, runs)


def summarize(store: Store, project: Project, clouds: dict[str, str] | None = None,
              runs: Sequence[Run] | None = None) -> ProjectSummary:
    """The project's figures; ``runs``: its history when the caller has read it already."""
    assert project.id is not None
    runs = store.runs.history(project.id) if runs is None else runs
    latest = runs[-1] if runs else None
    cloud = (clouds if clouds is not None else workspace_clouds(store)).get(project.workspace, "")
    return ProjectSummary(
        project=project,
        run_count=len(runs),
        current_config=config_from_spec(project.current_spec, pools_seen(project.current_spec,
                                                                           [r.config for r in runs]), cloud=cloud,
                                        policy_values=kept_values(project.state, project.current_spec))
        or (latest.config if latest else None),
        latest_cost=latest.cost.total if latest and latest.cost else None,
        latest_runtime_s=latest.runtime_s if latest else None,
        sla_met_fraction=(share := run_sla_share(runs, project.settings.sla_seconds)).every,
        sla_share=share,
        auto_apply_hold=auto_apply_hold(project, runs),
        latest_outcome=latest_outcome(latest),
    )


def sla_met_fraction(runs: Sequence[Run], sla_seconds: float | None) -> float | None:
    """The share of the project's runs that met its SLA, among the runs judged (None: no SLA, no run
    yet, or none judged). Each run is judged against the SLA in force when it was collected
    (`server.timeline.sla_in_force`; ``sla_seconds``, the project's now, for a run collected without
    one): runs that met a 10m SLA are no misses once it is tightened to 7m30s. A failed or canceled
    run counts as not met (`server.timeline.met_sla`, the timeline's rule): counting succeeded runs
    only showed "SLA met 100%" beside the timeline's "27/28 met". A run known from its event log alone within the SLA is not judged (its runtime has no setup
    in it), so it is in neither count (`server.timeline.met_fraction`)."""
    return run_sla_share(runs, sla_seconds).every


def config_from_spec(spec: dict[str, Any], pools: dict[str, dict[str, Any]] | None = None, *,
                     cloud: str = "", policy_values: dict[str, Any] | None = None) -> ClusterConfig | None:
    """The named fields of a Databricks `new_cluster` spec (None for an empty spec); ``pools`` give
    a pool-backed spec its node types (`server.spec.pools_seen`), ``cloud`` (the workspace's) the
    availability an unset one runs with, ``policy_values`` what its cluster policy fills in (the copy the
    planner keeps on the project: `server.plan.policy.kept_values`).

    One reading of specs for the whole server (`server.spec`), so the project page
    and the planner never disagree (Azure availability names and the cloud's default included).
    """
    return spec_config(spec, pools, cloud=cloud, policy_values=policy_values) if spec else None


def workspace_clouds(store: Store) -> dict[str, str]:
    """Each connected workspace's cloud by name: what a project's spec is read on (`config_from_spec`).
    A project whose workspace is gone is read on the attributes block its spec has."""
    return {w.name: w.cloud for w in store.workspaces.list()}


def list_projects(store: Store, workspace: str = "") -> list[ProjectSummary]:
    """Every project, or those of ``workspace``: NotFound when no such workspace is known.

    A workspace is known when it is connected or still has projects (a project outlives its
    workspace's connection), so an empty list means "no projects", never "no such workspace"."""
    # A connected workspace is found in any case (`SB` is `sb`), as everywhere a workspace is named;
    # one no longer connected, by its projects' name as stored.
    workspace = workspace and (store.workspaces.stored_name(workspace) or workspace)
    projects = store.projects.list(workspace or None)
    if workspace and not projects:
        store.workspaces.get(workspace)  # NotFound: "workspace 'nope' not found"
    return summaries(store, projects)


def summaries(store: Store, projects: Sequence[Project]) -> list[ProjectSummary]:
    """`summarize` of each of ``projects``, without reading every run of every project: a year of 300
    nightly jobs (110,000 runs) took `trimtab project list` 10 s. Counts, the SLA-met share and the
    latest run's id come from one streamed read of four columns a run; the latest runs are read
    whole in one query. A pool-backed project is summarized from its whole history still: its node
    types are the ones its runs' configurations recorded (`pools_seen`)."""
    by_id = {int(p.id or 0): p for p in projects}
    # project id -> (runs, SLA-met shares, latest id, newest run flagged user_edit's id or 0)
    outline: dict[int, tuple[int, SlaShare, int, int]] = {}
    for pid, rows in store.runs.figures_by_project(list(by_id), store.runs.OUTLINE_COLUMNS):
        sla = by_id[pid].settings.sla_seconds
        met = sla_share(((outcome, runtime, then, bool(only))
                         for _id, _start, runtime, outcome, only, _flags, then in rows), sla)
        # The run `history` lists last: the latest start, then the highest id.
        latest = max(rows, key=lambda r: (r[1], r[0]))[0]
        # Only a project with auto-apply on can have it paused (`edit_hold`); the JSON is parsed only
        # where the flag's name is in it.
        edited = [r for r in rows if r[5] and USER_EDIT in r[5] and USER_EDIT in (json.loads(r[5]) or ())] \
            if by_id[pid].settings.auto_apply else []
        newest_edit = max(edited, key=lambda r: (r[1], r[0]))[0] if edited else 0
        outline[pid] = (len(rows), met, int(latest), int(newest_edit))
    latest_runs = {int(r.id or 0): r for r in store.runs.by_ids(
        [o[2] for o in outline.values()] + [o[3] for o in outline.values() if o[3]])}
    clouds = workspace_clouds(store)
    out = []
    for p in projects:
        if pool_ids(p.current_spec)[0]:
            out.append(summarize(store, p, clouds))
            continue
        runs, met, latest_id, edit_id = outline.get(int(p.id or 0), (0, SlaShare(), 0, 0))
        latest = latest_runs.get(latest_id)
        edited_run = latest_runs.get(edit_id)
        out.append(ProjectSummary(
            project=p,
            run_count=runs,
            current_config=config_from_spec(p.current_spec, cloud=clouds.get(p.workspace, ""),
                                            policy_values=kept_values(p.state, p.current_spec))
            or (latest.config if latest else None),
            latest_cost=latest.cost.total if latest and latest.cost else None,
            latest_runtime_s=latest.runtime_s if latest else None,
            sla_met_fraction=met.every,
            sla_share=met,
            auto_apply_hold=auto_apply_hold(p, [edited_run] if edited_run is not None else []),
            latest_outcome=latest_outcome(latest),
        ))
    return out


def get_project(store: Store, ref: str) -> ProjectSummary:
    """`summarize`, with the pending recommendation and the current cluster's cost per run, which
    `project show` weighs it with."""
    project = store.projects.find(_ref(ref))
    # One read of the history for the figures and the search window both.
    runs = store.runs.history(int(project.id or 0))
    return with_pending(store, summarize(store, project, runs=runs), runs=runs)


def with_pending(store: Store, summary: ProjectSummary, runs: Sequence[Run] | None = None) -> ProjectSummary:
    """``summary`` with the project's pending recommendation, whether the job already runs it
    (`server.services.pending.on_job`, the one rule every command says it by), and the current
    cluster's cost per run. ``runs``: the project's history when the caller has read it already."""
    project = summary.project
    assert project.id is not None
    rec = store.recommendations.pending(project.id)
    newest = store.recommendations.latest(project.id)
    cloud = workspace_clouds(store).get(project.workspace, "")
    return dataclasses.replace(
        summary, pending=ShownRecommendation(rec, already_on_job=on_job(store, project, rec)) if rec else None,
        current_cost_per_run=current_cost_per_run(store, project.id, summary.current_config),
        working_sla_s=working_sla(project, newest),
        collection=collection_problem(store, project),
        window=project_window(project, store.runs.history(project.id) if runs is None else runs, cloud, newest))


def working_sla(project: Project, newest: Recommendation | None) -> float | None:
    """What auto-apply aims at while the SLA is out of reach: the working SLA of the newest plan
    (whatever became of its recommendation, it is what the next plan starts from). None without an
    SLA, or when the SLA was raised to it or past it since (the next plan aims at the SLA itself)."""
    sla = project.settings.sla_seconds
    if newest is None or newest.working_sla_s is None or sla is None or newest.working_sla_s <= sla:
        return None
    return newest.working_sla_s


def update_settings(store: Store, ref: str, changes: dict[str, Any],
                    catalog: PriceCatalog | None = None) -> ProjectSummary:
    """Apply `changes` (setting name -> new value; ``sla_seconds: None`` clears the SLA, and
    ``min_workers`` / ``max_workers: None`` a worker bound, so the planner's default applies again).

    With `catalog` (the one the server plans with), a driver type or instance family it does not
    know for the workspace's cloud is refused before anything is saved (`check_catalog_names`).
    """
    return change_settings(store, ref, changes, catalog)[0]


def change_settings(store: Store, ref: str, changes: dict[str, Any],
                    catalog: PriceCatalog | None = None) -> tuple[ProjectSummary, bool]:
    """`update_settings`, and whether the settings differ from what was stored: settings sent again
    unchanged (a script that sets what it wants every time) are no reason to plan again, which
    superseded the pending recommendation on every call and, with auto-apply, wrote the job."""
    from server.apply import project_lock  # imports databricks-sdk: only where a lock is taken

    project = store.projects.find(_ref(ref))
    assert project.id is not None
    # Settings are stored whole (one JSON): read, merged and written under the project's lock (this
    # process's and other servers'), so two `project set` at once (--sla on one, --max-workers on
    # the other) each keep their change, and no apply reads the recommendation between the writes.
    with project_lock(project.id, store):
        before = store.projects.get(project.id).settings
        settings = apply_changes(before, changes)
        if catalog is not None and catalog_names_to_check(before, settings):
            # Looked up only when a name is to be checked, so other changes cost no extra read.
            try:
                cloud = store.workspaces.get(project.workspace).cloud
            except NotFound:
                # No connected workspace, so no cloud to check against; planning such a project
                # fails on the missing workspace itself (and keeps that on the project).
                cloud = ""
            if cloud:
                check_catalog_names(before, settings, catalog, cloud)
        if settings == before:
            return with_pending(store, summarize(store, store.projects.get(project.id))), False
        if settings.auto_apply != before.auto_apply:
            # The phase follows from auto-apply, and moving it is the planner's job (server/plan) once
            # it has planned; before that (a job that has not run since import) nothing else would.
            store.projects.set_phase_unless_planned(project.id, unplanned_phase(settings))
        updated = store.projects.update_settings(project.id, settings)
        if settings.spot_allowed != before.spot_allowed and SPOT_OFF_BY_IMPORT_KEY in updated.state:
            # Spot set by the person: their choice stands over the import's default from now on.
            state = {k: v for k, v in updated.state.items() if k != SPOT_OFF_BY_IMPORT_KEY}
            updated = store.projects.update(dataclasses.replace(updated, state=state))
        # One line per change to a project, as applies and reverts have: what changed, and who.
        log.info("project %s: settings changed (%s) by %s", updated.name, settings_change(before, settings),
                 actor() or "an unknown caller")
        if bounds_changed(before, settings):
            # Planned inside the old bounds, it may be what the new ones rule out (more workers than
            # the new max, spot after spot was turned off): never left pending to be applied. The
            # server plans again now (`Planner.replan`), else the next run does.
            pending = store.recommendations.pending(project.id)
            if pending is not None and pending.id is not None:
                store.recommendations.set_state(pending.id, "superseded")
    # With the pending recommendation as `get_project` has it: `project set` says whether it is one
    # to apply by the same rule as `project show` (`with_pending`).
    return with_pending(store, summarize(store, updated)), True


def unplanned_phase(settings: ProjectSettings) -> str:
    """A project's phase before anything is planned for it: it will learn once it runs when
    auto-apply is on; with it off it is watched only (monitoring), as the planner would say."""
    return "learning" if settings.auto_apply else "monitoring"


# The settings that bound what a recommendation may be (`server.plan.candidates.outside_bounds`).
BOUND_SETTINGS = ("min_workers", "max_workers", "allowed_families", "spot_allowed")


def bounds_changed(before: ProjectSettings, after: ProjectSettings) -> bool:
    """Whether ``after`` moves a bound of `BOUND_SETTINGS` (workers, families, spot); pure."""
    return any(getattr(before, name) != getattr(after, name) for name in BOUND_SETTINGS)


def _as_given(seconds: float) -> str:
    """A number of seconds as the request gave it: ``:g`` kept six digits, so 604800.5 was refused as
    "604800 is longer than ... (604800 s)". A whole number has no ".0"; anything else is repr's
    shortest form that reads back as the same float."""
    value = float(seconds)
    return str(int(value)) if value.is_integer() and abs(value) < 1e16 else repr(value)


def apply_changes(settings: ProjectSettings, changes: dict[str, Any]) -> ProjectSettings:
    """`settings` with `changes` applied and checked; pure."""
    names = {f.name for f in dataclasses.fields(ProjectSettings)}
    unknown = set(changes) - names
    if unknown:
        raise InvalidArgument(f"settings: unknown {', '.join(sorted(unknown))}")
    if "allowed_families" in changes:
        # A family named twice means it once (order kept: it is how the person listed them).
        changes = {**changes, "allowed_families": tuple(dict.fromkeys(changes["allowed_families"]))}
    new = dataclasses.replace(settings, **changes)
    # Only what this call changes is checked: a value saved under older, looser rules (a longer
    # learning budget, a bound since capped) must not block every other change to the project
    # (as for names: `catalog_names_to_check`).
    sla = new.sla_seconds if "sla_seconds" in changes else None
    # `not sla > 0` also catches NaN, which compares false with everything and would make every
    # run "miss" its SLA; infinity is caught by the upper bound.
    if sla is not None and (not math.isfinite(sla) or not sla > 0):
        raise InvalidArgument(f"settings.sla_seconds: must be a finite positive number of seconds, not {sla}")
    if sla is not None and sla < MIN_SLA_SECONDS:
        raise InvalidArgument(f"settings.sla_seconds: {_as_given(sla)} is below {MIN_SLA_SECONDS} s, the shortest SLA "
                              "(runtimes are shown in whole seconds)")
    if sla is not None and sla > MAX_SLA_SECONDS:
        raise InvalidArgument(f"settings.sla_seconds: {_as_given(sla)} is longer than the {MAX_SLA_SECONDS // 86400}d "
                              f"({MAX_SLA_SECONDS} s) allowed")
    if sla is not None and sla != int(sla):
        # As the CLI ("a duration is whole seconds"): 90.5 was kept and shown as 1m31s everywhere.
        raise InvalidArgument(f"settings.sla_seconds: {_as_given(sla)} is not whole seconds; an SLA is whole seconds")
    if {"min_workers", "max_workers"} & set(changes):
        check_worker_bounds(new, frozenset({"min_workers", "max_workers"} & set(changes)))
    if {"keep_autoscaling", "min_workers", "max_workers"} & set(changes):
        check_autoscale_range(new, frozenset({"keep_autoscaling", "min_workers", "max_workers"} & set(changes)))
    if "learning_budget" in changes and new.learning_budget < 0:
        raise InvalidArgument("settings.learning_budget: must not be negative")
    if "learning_budget" in changes and new.learning_budget > MAX_LEARNING_BUDGET:
        raise InvalidArgument(f"settings.learning_budget: {new.learning_budget} is above {MAX_LEARNING_BUDGET}, "
                              "the most designed learning runs allowed")
    families = new.allowed_families if "allowed_families" in changes else ()
    bad = [f for f in families if not f or not f.replace("-", "").replace("_", "").isalnum()]
    if bad:
        raise InvalidArgument(f"settings.allowed_families: not an instance family: {bad[0]!r}")
    return new


def check_worker_bounds(settings: ProjectSettings,
                        changed: frozenset[str] = frozenset({"min_workers", "max_workers"})) -> None:
    """`InvalidArgument` naming the option unless the worker bounds hold a worker count the planner
    can choose: ``MIN_WORKERS <= min_workers <= max_workers``, an unset minimum being ``MIN_WORKERS``
    (as `server.plan.candidates` reads it). ``changed`` is the bounds this change sets: a conflict
    with the other, saved, bound names the option the user gave and the saved value it meets, never
    the option they did not give. The one place the bounds are checked; pure."""
    low, high = settings.min_workers, settings.max_workers
    for name, value in (("min_workers", low), ("max_workers", high)):
        if value is not None and value > MAX_WORKERS:
            raise InvalidArgument(f"settings.{name} ({_flag(name)}): {value} is above {MAX_WORKERS}, "
                                  "the most workers Trimtab sizes a cluster to")
    if low is not None and low < MIN_WORKERS:
        raise InvalidArgument(f"settings.min_workers (--min-workers): {low} is below {MIN_WORKERS}; a job "
                              "cluster Trimtab sizes has at least one worker")
    if high is not None and high < (low if low is not None else MIN_WORKERS):
        if low is None:
            raise InvalidArgument(f"settings.max_workers (--max-workers): {high} is below {MIN_WORKERS}, the "
                                  "fewest workers Trimtab recommends (min_workers unset)")
        if "max_workers" not in changed:
            # Only the minimum was given: it is what conflicts with the maximum saved before.
            raise InvalidArgument(f"settings.min_workers (--min-workers): {low} is above max_workers {high}, "
                                  f"set earlier; give --max-workers too (at least {low}) "
                                  "to raise it")
        if "min_workers" not in changed:
            raise InvalidArgument(f"settings.max_workers (--max-workers): {high} is below min_workers {low}, "
                                  f"set earlier; give --min-workers too (at most {high}) "
                                  "to lower it")
        raise InvalidArgument(f"settings.max_workers (--max-workers): {high} is below min_workers "
                              f"(--min-workers) {low}")


def check_autoscale_range(settings: ProjectSettings,
                          changed: frozenset[str] = frozenset({"keep_autoscaling"})) -> None:
    """`InvalidArgument` when keep_autoscaling is on and the worker bounds leave no autoscale range
    (``max_workers`` not above the minimum, an unset one being `MIN_WORKERS`): Databricks needs
    max_workers above min_workers, so planning refused it at the next run instead of here. An unset
    maximum is the planner's default, always above the minimum. Names the option ``changed`` gave
    (the first of keep_autoscaling, max, min); pure."""
    high = settings.max_workers
    low = settings.min_workers if settings.min_workers is not None else MIN_WORKERS
    if not settings.keep_autoscaling or high is None or high > low:
        return
    name = next(n for n in ("keep_autoscaling", "max_workers", "min_workers") if n in changed)
    given = f"{_flag(name)} on" if name == "keep_autoscaling" else _flag(name)
    raise InvalidArgument(
        f"settings.{name} ({given}): keep_autoscaling is on, but min_workers {low} and max_workers {high} "
        "leave no autoscale range (Databricks needs max_workers above min_workers): raise --max-workers, "
        f"lower --min-workers, or turn --keep-autoscaling off to size a fixed cluster of {low} workers")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def catalog_names_to_check(before: ProjectSettings, after: ProjectSettings) -> dict[str, tuple[str, ...]]:
    """Setting -> the names in it the price catalog must know: the driver type and families this
    change brings in. A name already saved is not checked again, because a catalog that dropped it
    since must not block every other change to the project (the planner keeps that failure on the
    project instead); an empty setting means "let Trimtab choose" and names nothing."""
    names: dict[str, tuple[str, ...]] = {}
    if after.driver_node_type_id and after.driver_node_type_id != before.driver_node_type_id:
        names["driver_node_type_id"] = (after.driver_node_type_id,)
    added = tuple(f for f in dict.fromkeys(after.allowed_families) if f not in before.allowed_families)
    if added:
        names["allowed_families"] = added
    return names


def check_catalog_names(before: ProjectSettings, after: ProjectSettings, catalog: PriceCatalog,
                        cloud: str) -> None:
    """`InvalidArgument` when the change from `before` to `after` sets a driver node type or an
    instance family that `catalog` does not price on `cloud`, naming the setting, the value and a
    few close known names so a typo can be fixed at once; pure."""
    wanted = catalog_names_to_check(before, after)
    if not wanted:
        return
    known = {
        "driver_node_type_id": ("node type", catalog.node_types(cloud)),
        # The families the planner can choose from: those of the node types the catalog prices
        # (as `server.plan.candidates.default_families` counts them).
        "allowed_families": ("instance family",
                             sorted({catalog.node_type(cloud, t).family for t in catalog.node_types(cloud)})),
    }
    for name, values in wanted.items():
        what, names = known[name]
        known_names = set(names)
        bad = [v for v in values if v not in known_names]
        if bad:
            raise InvalidArgument(f"settings.{name}: " + "; ".join(
                f"{v!r} is not {_article(cloud)} {cloud} {what} in the price catalog ({_close(v, names, cloud)})"
                for v in bad))


def _close(value: str, names: list[str], cloud: str) -> str:
    """A few known names like `value` (case aside: Databricks names are case-sensitive, people's
    typing is not), else where to see them all."""
    by_lower = {n.lower(): n for n in names}
    # 0.4, not difflib's 0.6: a made-up size such as "m5.mega" still finds m5.xlarge.
    close = difflib.get_close_matches(value.lower(), list(by_lower), n=3, cutoff=0.4)
    if close:
        return "close: " + ", ".join(by_lower[c] for c in close)
    return f"none close; `trimtab prices show --cloud {cloud}` lists the node types it prices"


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def detach_project(store: Store, ref: str) -> ProjectSummary:
    """Stop managing the project. Trimtab no longer changes its cluster; putting the
    original spec back in the job is `server/apply`'s part (it reads `original_spec`)."""
    from server.apply import project_lock  # imports databricks-sdk: only where a lock is taken

    project = store.projects.find(_ref(ref))
    # Rows are written whole: re-read under the lock (this process's and other servers'), so a
    # collector or an apply writing meanwhile keeps its change.
    with project_lock(int(project.id or 0), store):
        fresh = store.projects.get(int(project.id or 0))
        return summarize(store, store.projects.update(dataclasses.replace(fresh, detached=True)))


def _ref(ref: str) -> str:
    return required(ref, "project")


def required(text: str, field: str) -> str:
    """`text` unchanged, or `InvalidArgument` ``<field>: must not be empty`` when it is empty or
    blank (showing a blank value as sent, so spaces are not mistaken for nothing at all). The one
    check of a request's reference for every service and servicer path."""
    if not text.strip():
        raise InvalidArgument(f"{field}: must not be empty" + (f" (got {text!r})" if text else ""))
    return text
