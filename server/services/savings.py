"""Savings: what a project cost before Trimtab changed its cluster, against since.

The exact definition is in docs/savings.md; in short:

- *user-configured runs*: runs flagged ``user_edit`` (the cluster was edited outside
  Trimtab) and the runs after one until Trimtab applies another recommendation (same
  recommendation tag or none: still the user's configuration). They are neither the
  cluster as found nor Trimtab's configuration: they enter nothing and are counted apart.
- *baseline runs*: succeeded, costed runs made with the cluster as found
  (no recommendation attributed, not user-configured, and on the configuration of the project's
  ``original_spec``: `as_found`); *Trimtab runs*: costed runs made with a recommendation (learning
  trials included, whatever their outcome).
- *other-cluster runs*: runs with no recommendation on another configuration than the one found at
  import (a backfill's months-old runs on a cluster the owner has since resized): neither the cluster
  as found nor Trimtab's, they enter nothing and are counted apart (``other_config_runs``). Taken as
  baseline, 10 old runs on m5.2xlarge x8 made an unchanged m5.xlarge x2 read as a 43 % saving.
- *cost basis*: ``billed`` when every baseline and Trimtab run is billed, else
  ``estimate``: the catalog estimate on both sides (a billed run keeps its estimate beside
  the bill), since a bill holds charges and discounts the estimate does not.
- *basis*: ``per_input_gb`` when every succeeded costed run knows its input and either input size
  drives runtime (the input varied by more than 10 %, and three or more baseline runs with distinct
  inputs show their runtime rising with it) or the Trimtab runs' input (all, or the last three) moved
  more than 10 % from the baseline's (`input_moved`: per run the data's shrink read as a saving;
  unproven, so preliminary, ``input_moved_from_gb``), else ``per_run``.
- *workload changes*: the model's change points (`stored_changes`, as the planner stored them on the
  recommendations). After an input shift the basis is per GB when every compared run knows
  its input, even without the baseline's evidence (then preliminary). A code change or a runtime
  regression (or a shift without input sizes) cuts the runs into segments, each compared with its own
  baseline runs (or an earlier segment's with the same stage signature); the latest with none is
  ``not_comparable``: no saving now nor projection, saved to date over the comparable segments.
- *baseline cost of a run*: per run, the mean baseline cost. Per GB, only the execution scales with
  input: each baseline run's cost splits by its runtime into the cluster's setup (``setup_s``: minutes
  that do not depend on the data) and the execution; a run at G GB would have cost the mean setup part
  + G x (the execution parts / their input GB). A baseline run without a setup figure takes the
  project's mean reported setup; with none reported anywhere the whole cost scales (``setup_known``
  False, said so). Scaling the whole cost read minutes of setup as data work: x4 input put the cluster
  as found at $1.30 a run where it cost $0.54, and the saving at 78 % where it was ~48 %.
- *extrapolated*: per GB with today's input more than 1.5x from every baseline run's
  (``extrapolated_from_gb``): the baseline is a projection, so the saving and saved to date are
  preliminary.
- *saved to date*: sum over Trimtab runs of (the baseline cost of a run of its input - the run's
  cost). A failed Trimtab run therefore counts as its whole cost lost.
- *current unit cost*: over the succeeded runs of the recommendation applied now, within the SLA
  or not (``current_source = "applied"``; ``current_over_sla_runs`` of them missed it: the job paid
  for them, and keeping only the runs within it kept the cheap ones); until there is one, over the
  last three succeeded Trimtab runs, learning trials included (``"recent"``), and said so; when every
  succeeded run of the recommendation applied now missed the SLA (planned against a working SLA
  while the owner's is out of reach), the same runs, said apart (``"applied_over_sla"``). After a
  revert to the cluster as found nothing Trimtab chose is on the job: the current unit cost
  is the baseline's (``"original"``), so the saving now and the projection are 0. Likewise while the
  job runs a cluster its owner set outside Trimtab (the newest runs are user-configured, no apply or
  revert since; or a revert of an apply made over the owner's edit put it back): the current cost is
  what the owner's runs since the edit cost (``"user_edit"``), for information only; the saving now
  and the projection are 0, saved to date stays.
- *one price list*: every run's DBUs are priced at the workspace's plan *now* (the stored
  DBUs do not depend on the plan; the stored $ do), so a change of plan moves both sides
  alike instead of showing as a saving won or lost. Compute and storage stay as stored: the
  store keeps neither the region a run was priced in nor its node-hours by node type, so a
  change of region cannot be re-priced (docs/savings.md says so).
- *preliminary*: a saving resting on fewer than three runs on either side (baseline, now), or per
  GB for an input shift alone; setup time alone varies by minutes between two runs of one cluster.
- *projected annual*: (the cost of a run of today's input as found - now) x runs a year; per GB
  the cost now splits as the baseline's (setup held, execution per GB). Runs a year come
  from the job's own schedule when it has an unpaused Quartz schedule Trimtab can
  count (``cadence_basis = "schedule"``: its fire times in the 365 days from the
  latest run; no more than can start: ``max_concurrent_runs`` x a year / the typical
  run's span, and 10 s apart, said in ``cadence_note``), else from the observed cadence
  (``"observed"``: one year / the median gap between run starts). Observed gaps are distorted by manual re-runs,
  repairs, backfills and accelerated demos; the schedule is what the job will do.

`project_savings` is pure; `get_savings` reads the store (`savings_from_history` the plain way). The
module is split by job, every name still importable from here: which runs are compared and at which
price (`server.services.savings_runs`), the report's types (`server.services.savings_types`), the
figures (`server.services.savings_figures`, pure); here, the entry points that read the store.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from server.cadence import YEAR_MS, Cadence, cadence, runs_per_year  # noqa: F401 - savings' names too
from server.costing.catalog import PriceCatalog
from server.costing.errors import TrimtabCostError
from server.domain import Project, Run
from server.errors import NotFound
from server.services.savings_figures import (
    EXTRAPOLATION_LIMIT,
    MIN_EXECUTION_SHARE,
    RECENT_RUNS,
    no_savings_yet,
    project_savings,
    savings_report,
)
from server.services.savings_runs import (
    MIN_CORRELATION,
    MIN_INPUT_SPREAD,
    REPRICE_TOLERANCE,
    USER_EDIT,
    DbuRate,
    PlanRate,
    applied_recommendation,
    as_found,
    estimate_total,
    input_drives_runtime,
    met_sla,
    of_applied,
    on_user_config,
    other_config,
    rate_cloud,
    repriced,
    run_sku,
    same_config_as,
    user_configured,
)
from server.services.savings_types import (
    FIRM_RUNS,
    NOT_COMPARABLE,
    NoSavingsYet,
    ProjectSavings,
    SavingsReport,
)
from server.store import Store
from server.timeline import CODE_CHANGE, REBASE_LABELS, ChangePoint

log = logging.getLogger(__name__)

# What moved out keeps its name here: callers import the savings' names from this module.
__all__ = [
    "EXTRAPOLATION_LIMIT", "FIRM_RUNS", "MIN_CORRELATION", "MIN_EXECUTION_SHARE", "MIN_INPUT_SPREAD",
    "NOT_COMPARABLE", "RECENT_RUNS", "REPRICE_TOLERANCE", "USER_EDIT", "YEAR_MS",
    "Cadence", "DbuRate", "NoSavingsYet", "PlanRate", "ProjectSavings", "SavingsReport",
    "applied_recommendation", "as_found", "cadence", "estimate_total", "get_savings", "input_drives_runtime",
    "met_sla", "no_savings_yet", "of_applied", "on_user_config", "other_config", "project_savings",
    "rate_cloud", "repriced", "run_signatures", "run_sku", "runs_per_year", "same_config_as",
    "savings_from_history", "savings_report", "stored_changes", "stored_project_savings",
    "stored_signatures", "user_configured", "workspace_dbu_rate",
]


def workspace_dbu_rate(store: Store, project: Project, catalog: PriceCatalog | None = None) -> PlanRate | None:
    """$/DBU by SKU under the plan the project's workspace has now (None: no such workspace)."""
    try:
        workspace = store.workspaces.get(project.workspace)
    except NotFound:
        return None
    if catalog is None:
        from server.services.workspaces import pricing_catalog  # the catalog the server prices runs with

        catalog = pricing_catalog()
    rates: dict[str, float | None] = {}

    def rate(sku: str) -> float | None:
        if sku not in rates:
            try:
                rates[sku] = catalog.dbu_rate(workspace.cloud, workspace.plan, sku)
            except TrimtabCostError as exc:  # a plan or SKU the catalog lacks: the stored price stands
                log.warning("savings: %s; DBUs compared as stored", exc)
                rates[sku] = None
        return rates[sku]

    return PlanRate(workspace.plan, rate, workspace.cloud)


def stored_changes(store: Store, project: Project) -> list[ChangePoint]:
    """The project's change points, oldest first, as the planner stored them on its recommendations
    (a kind this code does not know, from a newer server, is left out rather than mislabelled)."""
    return [ChangePoint(run_id, kind) for run_id, kind in store.recommendations.change_points(int(project.id or 0))
            if kind in REBASE_LABELS]


def stored_signatures(store: Store, runs: Sequence[Run], changes: Sequence[ChangePoint]) -> dict[int, str | None]:
    """The stage signature of the runs `project_savings` compares code by: the code changes' runs and
    the runs on the cluster as found (none read without a code change)."""
    wanted = {c.run_id for c in changes if c.kind == CODE_CHANGE}
    if not wanted:
        return {}
    wanted |= {int(r.id) for r in runs if r.id is not None and r.recommendation_id is None}
    return run_signatures(store, [int(r.id) for r in runs if r.id is not None and int(r.id) in wanted])


def run_signatures(store: Store, run_ids: Sequence[int]) -> dict[int, str | None]:
    """The stage signature of each of these stored runs (the planner's fingerprint of a job's code, over
    its Spark applications' stages), in a few queries however many runs: one read per run's
    application (`ApplicationRepository.stages`) made the projects page 1,221 queries for one
    project of 2,000 runs. What `stored_signatures` and `trimtab savings` (`savings_kept`) both read."""
    from server.plan.observe import stage_signature  # the planner's fingerprint of a job's code

    apps = store.runs.application_ids_by_run(run_ids)
    stages = store.applications.stage_outlines(a for ids in apps.values() for a in ids)
    return {i: stage_signature([s for app in apps.get(i, ()) for s in stages.get(app, ())]) for i in run_ids}


def stored_project_savings(store: Store, project: Project, runs: Sequence[Run] | None = None) -> ProjectSavings | None:
    """`project_savings` of a stored project, its runs' DBUs at its workspace's plan now."""
    history = store.runs.history(int(project.id or 0)) if runs is None else runs
    changes = stored_changes(store, project)
    return project_savings(project, history, workspace_dbu_rate(store, project), changes,
                           stored_signatures(store, history, changes))


def savings_from_history(store: Store, project_ref: str = "") -> SavingsReport:
    """`get_savings` the slow, plain way: every run of every project read whole (`RunRepository.history`)
    and priced, one project at a time. The reference the fast path is tested and benchmarked against."""
    projects = [store.projects.find(project_ref)] if project_ref else store.projects.list()
    histories = [store.runs.history(int(p.id or 0)) for p in projects]
    changes = [stored_changes(store, p) for p in projects]
    return savings_report(list(zip(projects, histories, strict=True)), [workspace_dbu_rate(store, p) for p in projects],
                          changes, [stored_signatures(store, h, c) for h, c in zip(histories, changes, strict=True)])


def get_savings(store: Store, project_ref: str = "", stop: threading.Event | None = None) -> SavingsReport:
    """Every project's savings (or one's, by reference), as `savings_from_history` gives them: read in
    one pass and kept per project while nothing they are made of changes (`server.services.savings_kept`).
    ``stop``: set when the caller's call ends; the computing stops (`server.errors.Cancelled`)."""
    from server.services import savings_kept  # it builds on this module

    return savings_kept.get_savings(store, project_ref, stop)
