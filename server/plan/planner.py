"""After every collected run: decide the project's next configuration and, with auto-apply, apply it.

`plan_project` is the whole decision for one project (read the store, call the
pure `models.decide`, store the recommendation and the phase). `Planner` is the
collector's ``on_run_collected`` callback: it plans, then applies through
`server.apply` when the project has auto-apply on. Before planning it fetches the cluster
policy the project's spec names (kept `POLICY_TTL_S` per workspace and policy, in memory
only, and read again at once after Databricks refuses a run or an apply under it), so that only
configurations Databricks accepts are recommended, and the instance pools
it names (kept as long), whose node types a pool-backed cluster runs on. It never raises into the
collector: a project that cannot be planned is logged and left as it was, and
the failure is kept on the project (`PlanProblem` in its state) so its owner
sees it in `trimtab project show` until a later plan, or apply, succeeds.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from models.decide import Decision, Settings, decide
from models.prior import Prior
from models.space import Candidate
from server.already_runs import already_on_job
from server.clock import Clock, SystemClock
from server.costing.catalog import PriceCatalog
from server.databricks import DatabricksGateway
from server.domain import (
    BACK_TO_USER_EDIT,
    PROBLEM_KEY,
    ClusterConfig,
    PlanProblem,
    Project,
    Recommendation,
    Run,
    Workspace,
)
from server.errors import FailedPrecondition, TrimtabError
from server.log_context import log_context
from server.onboard import standard_access_blocker
from server.plan.apply_retry import APPLY_RETRY_KEY, ApplyRetry, RetriedApplies
from server.plan.candidates import (
    by_id,
    config_id_of,
    dbu_rates,
    driver_of,
    families_for,
    leaving_note,
    on_pool,
    pool_backing,
    pricing_for,
    project_anchor,
    project_candidates,
    project_config,
    same_hardware,
)
from server.plan.driver import driver_run, plan_drivers, turned_down_drivers
from server.plan.families import cluster_kinds, kind_of
from server.plan.not_learned import changed, reasons_by_run, summary
from server.plan.observe import observation
from server.plan.policy import POLICY_FILLS_KEY, ClusterPolicy, as_created, kept_fills
from server.plan.prior import ProjectPriors
from server.plan.problems import PROBLEM_MESSAGE_CHARS as PROBLEM_MESSAGE_CHARS
from server.plan.problems import problem_message as problem_message
from server.plan.project_cluster import no_autoscaling_to_keep
from server.plan.range_use import range_use
from server.plan.reads import RunStages, disk_runs, driver_runs, plan_window, replayed
from server.plan.search_window import plan_edge_note
from server.plan.storage import advise, disk_use, held_note, held_volumes, runs_per_month
from server.spec import config_label, pool_fields, pool_ids, single_node
from server.store import Store

log = logging.getLogger(__name__)

GatewayFor = Callable[[Workspace], DatabricksGateway]

# How long a fetched cluster policy is used before it is fetched again (on the planner's clock):
# an admin's edit reaches the plans within minutes, and a collector poll that finishes many runs
# of one workspace asks for the policy once. Databricks' refusal under the policy ends the copy at
# once (`Planner._forget_policy`): the plan after it must not use the policy as it was before.
POLICY_TTL_S = 300.0


def plan_project(store: Store, project_id: int, catalog: PriceCatalog, *, prior: Prior | None = None,
                 policy: dict[str, Any] | None = None,
                 pools: dict[str, dict[str, Any]] | None = None) -> Recommendation | None:
    """Decide and store the project's next recommendation; None when the project is not planned.

    Detached and orphaned projects are not planned. The project's phase follows
    the decision (learning, optimizing, or monitoring when auto-apply is off).
    ``policy`` is the cluster's cluster policy as ``policies/clusters/get`` returns it (`Planner`
    fetches it): only configurations inside it are recommended. When it allows none but the
    current one, the current one is planned and the reason says why: the job runs on it today,
    so keeping it is safe, and the owner sees that the policy, not Trimtab, holds the job where
    it is (a failure instead would flag a healthy job as a problem on every run). When it refuses
    the current one (an admin tightened it: Databricks validates the policy again as each run's
    cluster starts, so every run would fail at start), the plan moves inside it and the reason
    names the rules; the runs on refused configurations still teach the model (observed-only
    candidates). When it allows no configuration at all, planning fails (FailedPrecondition) with
    what to change: the policy, the project's bounds, or detaching.
    ``pools`` are the instance pools the spec names, as ``instance-pools/get`` returns them by id
    (`Planner` fetches them): a pool-backed cluster is planned on the pool's node types, and only
    its worker count or autoscale range is chosen (`server.plan.candidates.PoolBacking`).
    """
    project = store.projects.get(project_id)
    if project.detached or project.orphaned or not project.current_spec:
        return None
    _check_pools(project, pools)
    cluster_policy = ClusterPolicy.from_api(policy) if policy else None
    # The cluster as Databricks creates it: what its policy fixes (or fills in as a default the spec asks
    # for) makes it single node, standard access, or Photon as much as what the spec sets.
    created = as_created(cluster_policy, project.current_spec)
    if single_node(created):
        # Import skips single-node clusters; this one became one since (a user edit, or its policy's):
        # workers added to it would idle. Kept on the project as its problem by `Planner`.
        raise FailedPrecondition(
            f"project {project.name}: the cluster is now a single-node cluster (Spark runs on the driver "
            "alone), which is not sized yet (detach the project, or give the cluster workers)")
    workspace = store.workspaces.get(project.workspace)
    # A GPU node type runs DATA_SECURITY_MODE_AUTO dedicated: the catalog says which are, as for the planner.
    blocker = standard_access_blocker(created, lambda t: catalog.entry("node_types", workspace.cloud, t))
    if blocker is not None:
        # Import would have skipped this cluster; it became so since (a user edit, or its policy's). Its
        # runs fail or send nothing, and a recommendation would only be written beside the fault: say so.
        raise FailedPrecondition(f"project {project.name}: the cluster {blocker}. Change the cluster back, or "
                                 "detach the project (which puts back the cluster entry as it was at import)")
    # Priced under the SKU the cluster is billed at: a policy fixing runtime_engine PHOTON bills Photon.
    pricing = pricing_for(workspace, project.current_spec, cluster_policy)
    if cluster_policy is not None:
        # The policy's dbus_per_hour rule is judged at the DBU rates the cluster is billed at.
        cluster_policy = dataclasses.replace(cluster_policy, dbu_rate=dbu_rates(catalog, pricing))
    # The cluster as it runs: what the spec leaves unset is what its policy fills in, else the cloud's
    # default (a policy fixing ON_DEMAND must not price the job as spot, nor keep it on a spot it refuses).
    current = project_config(project, pools, cloud=workspace.cloud, policy=cluster_policy)
    anchor = project_anchor(project, pools, cloud=workspace.cloud, policy=cluster_policy)
    if not current.node_type_id and not pool_fields(project.current_spec):
        raise FailedPrecondition(_no_node_type(project, cluster_policy))
    # Where the current segment started at the last plan: a burst before it does not hold a range's max,
    # and the runs read start a little before it (`server.plan.reads.plan_window`).
    latest = store.recommendations.latest(project_id)
    segment_from = latest.change_run_id if latest is not None else None
    window = plan_window(store, project_id, segment_from)
    # A pool-backed run records the pool, not its node type: it is read on the pool's type.
    runs = [r if r.config is None else dataclasses.replace(r, config=on_pool(r.config, current))
            for r in window.runs]
    # Each run's stage outline (change points), the metrics of the newest runs only (`server.plan.reads`).
    stages = RunStages(store, runs)
    history, labels, run_ids, at = [], [], [], []
    for i, run in enumerate(runs):
        obs = observation(run, stages.outlines[i], applied_recommendation=run.recommendation_id is not None)
        if obs is not None:
            history.append(obs)
            labels.append(run_label(run))
            run_ids.append(int(run.id or 0))
            at.append(i)
    on_disk, on_driver = disk_runs(runs, stages.outlines), driver_runs(runs)
    full = stages.full(on_disk + on_driver)
    disk = [use for i in on_disk if (use := disk_use(runs[i], full[i])) is not None]
    beats = stages.driver_peaks(on_driver)
    drivers = [d for i in on_driver
               if (d := driver_run(runs[i], full[i], catalog, pricing.cloud, beats[i])) is not None]
    # A driver is offered only if some worker configuration of the project's space is inside the
    # policy with it (a dbus_per_hour cap counts the driver): the space before the policy, each
    # configuration judged with the driver in question.
    space = [cfg for _, cfg in project_candidates(project, workspace, catalog, runs, pools=pools,
                                                  runs_under=cluster_policy, segment_from=segment_from)] \
        if cluster_policy is not None else []
    # The driver first: it does not change the workers' runtime, and every candidate is priced with it.
    # Of the families the workers may use, re-anchored (`families_for`), one for each kind of hardware
    # they may be of (`cluster_kinds`): a cluster's driver is of its workers' kind.
    chosen = plan_drivers(project.settings, current, drivers, catalog, pricing.cloud,
                          families_for(anchor or current, project.settings, catalog, pricing.cloud, live=current),
                          cluster_kinds(current, project.settings, catalog, pricing.cloud), region=pricing.region,
                          plan=pricing.plan, sku=pricing.sku, policy=cluster_policy, space=space,
                          spec=project.current_spec, currency=catalog.currency,
                          turned_down=turned_down_drivers(project.state, config_id_of(current)))
    driver_choice = chosen.get(kind_of(catalog, pricing.cloud, driver_of(current)))
    driver = driver_choice.option.node_type if driver_choice else None
    by_kind = {kind: choice.option.node_type for kind, choice in chosen.items()}
    # Databricks' word that the policy now refuses the configuration the job runs on.
    refused_at_start = _refused_at_start(runs, current) if cluster_policy is not None else ""
    # Each candidate priced as it would run: with the storage advice over the recent disk use.
    pairs = by_id(project_candidates(project, workspace, catalog, runs, driver=driver, drivers=by_kind,
                                     policy=cluster_policy,
                                     pools=pools, current_refused=bool(refused_at_start), disk_uses=disk[-10:],
                                     segment_from=segment_from))
    current_refused = (cluster_policy.refusals(project.current_spec, node_types=(
        current.node_type_id, current.driver_node_type_id)) or {"": refused_at_start}) \
        if cluster_policy is not None and refused_at_start else {}
    # The project's space before the policy, on the chosen driver: the rules a reason names are
    # those that keep some of it out.
    bounded = space if driver is None or all(c.driver_node_type_id == driver for c in space) else \
        [cfg for _, cfg in project_candidates(project, workspace, catalog, runs, driver=driver, drivers=by_kind,
                                              pools=pools, runs_under=cluster_policy, segment_from=segment_from)]
    if not any(c.allowed for c, _ in pairs.values()):
        unpriced = _unpriced(project.name, workspace, catalog)
        if unpriced:
            raise FailedPrecondition(unpriced)
        raise FailedPrecondition(_no_room(project.name, cluster_policy, current_refused, bounded,
                                          project.current_spec, azure=pricing.cloud == "azure",
                                          spot_allowed=project.settings.spot_allowed))
    # The stage metrics the model replays, read now that the candidates are known.
    replay = set(replayed(history, at, stages.outlines, {c.config_id for c, _ in pairs.values()}))
    full = stages.full(replay)
    for k, i in enumerate(at):
        if i in replay and (obs := observation(runs[i], full[i],
                                               applied_recommendation=runs[i].recommendation_id is not None)):
            history[k] = obs
    s = project.settings
    settings = Settings(sla_s=s.sla_seconds, learning_budget=s.learning_budget, auto_apply=s.auto_apply,
                        sla_per_run=s.sla_every_run, currency=catalog.currency, working_sla=s.working_sla)
    # Seeded by project and history length (the runs left out of the window count): the same history gives
    # the same decision, however much of it is read.
    decision = decide([c for c, _ in pairs.values()], history, settings, prior,
                      seed=project_id * 7919 + window.configured_left_out + len(history),
                      run_labels=labels, previous_phase=project.phase)
    config = dataclasses.replace(pairs[decision.candidate.config_id][1], spec={})
    runtime = decision.predicted_runtime_s if decision.predicted_runtime_s == decision.predicted_runtime_s else 0.0
    advised, advice = advise(config, disk[-10:], runtime, catalog, cloud=pricing.cloud, region=pricing.region,
                             live_attrs=project.current_spec.get("aws_attributes"),
                             runs_per_month=runs_per_month(project, runs),  # the job's cadence, not 30
                             use=range_use([(r, r.config) for r in runs if r.config is not None], catalog,
                                           pricing.cloud, pricing.sku))
    held = held_volumes(project.state, current).get(config_id_of(config))
    turned_down = ""
    if pool_fields(project.current_spec):
        advice = None  # a pool's instances come with the pool's disks: no volume change reaches them
    elif held is not None and advice is not None and advice.changed:
        # The user turned down these workers' volume change (`TURNED_DOWN_VOLUMES_KEY`): the volumes they
        # run on are kept, as the candidates were priced (`build_candidates`' ``volumes_held``).
        advice, turned_down = None, held_note(held, config_label(config))
    elif cluster_policy is not None and advice is not None and advice.changed and not \
            cluster_policy.allows_config(advised, project.current_spec, azure=pricing.cloud == "azure"):
        advice = None  # volumes the policy refuses are not advised; the candidate's own are kept
    else:
        config = advised
    rec = _recommendation(project, config, decision,
                          run_ids[decision.change_at] if decision.change_at is not None else None)
    # Why each run was not learned, kept with the run (`trimtab run show`); with no usable run yet, the
    # reason counts them: "measuring X first" alone read as if the runs so far had never happened.
    not_learned = reasons_by_run(decision.explained, history, run_ids)
    if "no usable run yet" in decision.reason and (counted := summary(list(not_learned.values()))):
        rec = dataclasses.replace(rec, reason=f"{rec.reason}; not learned so far: {counted} "
                                              f"(`trimtab run list {project.name}` says why of each)")
    # Why it leaves the running configuration, when the candidates made it (outside new bounds,
    # turned down, spot nodes lost): otherwise the move reads as the model's whim.
    best = pairs[decision.best.config_id][1] if decision.best is not None and decision.best.config_id in pairs \
        else None
    leaving = leaving_note(project, catalog, pricing.cloud, runs, config, pools, best=best, policy=cluster_policy,
                           segment_from=segment_from)
    if leaving:
        rec = dataclasses.replace(rec, reason=f"{leaving}. {rec.reason}")
    edit = edit_hold(project, edited_runs(store, project_id))
    if edit:
        rec = dataclasses.replace(rec, reason=f"{edit}. {rec.reason}")
    if cluster_policy is not None:
        rec = dataclasses.replace(rec, reason=_policy_reason(
            rec.reason, cluster_policy, pairs.values(), current, project.current_spec, azure=pricing.cloud == "azure",
            space=bounded, current_refused=current_refused, spot_allowed=project.settings.spot_allowed))
    dropped = autoscale_dropped(project, current, config) or no_autoscaling_to_keep(project, anchor, current, config)
    if dropped:
        rec = dataclasses.replace(rec, reason=f"{rec.reason}; {dropped}")
    # The driver of the workers' kind (`plan_drivers`), named only if it is the one they get.
    for_workers = chosen.get(kind_of(catalog, pricing.cloud, config.node_type_id))
    if for_workers is not None and for_workers.option.node_type == driver_of(config) and \
            (for_workers.changed or for_workers.blocked or for_workers.noted):
        rec = dataclasses.replace(rec, reason=f"{rec.reason}; {for_workers.reason}")
    if turned_down:
        rec = dataclasses.replace(rec, reason=f"{rec.reason}; {turned_down}")
    # A pick at the edge of the cores searched may be capped by the window, not by the job: say so.
    edge = plan_edge_note(project.settings, anchor or current, current, runs, config, catalog, pricing.cloud,
                          segment_from=segment_from, pool=pool_backing(project.current_spec, pools),
                          policy=cluster_policy)
    if edge:
        rec = dataclasses.replace(rec, reason=f"{rec.reason}; {edge}")
    if advice is not None and advice.changed:
        rec = dataclasses.replace(rec, storage_advice=advice.reason,
                                  projected_monthly_saving=advice.projected_monthly_saving)
    rec = store.recommendations.add(rec, withdrawn_shifts={run_ids[i] for i in decision.one_offs})
    store.runs.set_not_learned(changed(not_learned, runs))
    fills = _fills_kept(project.state, cluster_policy)
    if project.phase != decision.phase or fills is not None:
        from server.apply import project_lock  # imports databricks-sdk; see Planner.after_run

        with project_lock(project_id, store):  # rows are written whole: re-read under the lock
            fresh = store.projects.get(project_id)
            state = dict(fresh.state)
            if fills:
                state[POLICY_FILLS_KEY] = fills
            elif fills is not None:
                state.pop(POLICY_FILLS_KEY, None)
            store.projects.update(dataclasses.replace(fresh, phase=decision.phase, state=state))
    log.info("project %s: %s -> %s (%s)", project.name, config_id_of(current), decision.candidate.config_id,
             decision.phase)
    return rec


def _fills_kept(state: dict[str, Any], policy: ClusterPolicy | None) -> dict[str, Any] | None:
    """What the project keeps of ``policy`` (`server.plan.policy.kept_fills`: the availability it fills
    into a spec) when that differs from what it keeps now; {} to drop a kept copy the policy no longer
    fills anything of; None to leave the state as it is (no policy read: the spec names none, or a
    caller planned without it). The savings baseline and a revert read the spec through the copy."""
    if policy is None:
        return None
    fills = kept_fills(policy)
    if not fills["fixed"] and not fills["defaults"]:
        fills = {}
    return None if state.get(POLICY_FILLS_KEY, {}) == fills else fills


# Where `server.apply.rebase` keeps the spec paths of the user's latest edit outside Trimtab, and
# the job's newest run collected when it found the edit.
USER_EDIT_PATHS_KEY = "user_edit_paths"
USER_EDIT_AFTER_KEY = "user_edit_after_run_id"
USER_EDIT = "user_edit"  # the run anomaly the collector sets on the first run after such an edit


def edit_hold(project: Project, runs: Sequence[Run]) -> str:
    """Why auto-apply is paused for the project, "" when it is not.

    A user who edits the job cluster outside Trimtab (the Databricks UI, the API) means it: the
    edit is kept (the project rebases on it) and auto-apply does not write over it. It stays
    paused until the owner applies a recommendation by hand, which is the only apply that can
    follow (auto-apply is what is paused). Nothing is stored for it: the newest run flagged
    ``user_edit`` is the edit, and an apply recorded after that run (``pending_apply``'s
    ``applied_after_run_id``, the job's newest Databricks run when it was applied; `server.apply.rebase`
    clears ``pending_apply`` for an edit of what Trimtab owns, and keeps it, applied before the edit,
    for an edit of anything else) is the owner's answer. An edit an apply found first (`server.apply.rebase`
    rebased on it before any run showed it) is marked in the state instead, with the newest run
    collected then: the runs after it match the adopted spec, so none is flagged. With auto-apply
    off there is nothing to pause."""
    if not project.settings.auto_apply:
        return ""
    edited = next((r for r in reversed(runs) if USER_EDIT in r.anomalies), None)
    found_at = project.state.get(USER_EDIT_AFTER_KEY)
    if edited is None and found_at is None:
        return ""
    # The newer of the two marks the edit; before a run or after the last one collected.
    after = max(edited.databricks_run_id if edited is not None else -1, int(found_at) if found_at is not None else -1)
    pending = project.pending_apply or {}
    # A revert of the owner's answer (an apply over their edit) puts their cluster back, and the pause
    # with it: auto-apply replaced the restored cluster at the next run (review revG F2).
    if pending and int(pending.get("applied_after_run_id") or 0) >= after and not pending.get(BACK_TO_USER_EDIT):
        return ""
    paths = [str(p) for p in project.state.get(USER_EDIT_PATHS_KEY) or []]
    what = f" ({', '.join(paths)})" if paths else ""
    when = f"before {run_label(edited)}" if edited is not None and edited.databricks_run_id >= after \
        else "(found by an apply or an import before any run used it)"
    return (f"you edited the cluster{what} {when}: "
            f"auto-apply is paused so the edit stays; `trimtab recommendation apply {project.name}` "
            "applies this recommendation and resumes it")


def edited_runs(store: Store, project_id: int) -> list[Run]:
    """What `edit_hold` reads of the project's runs: its newest run flagged `USER_EDIT`, if any (one
    query; the whole history was read for it after every run)."""
    edited = store.runs.newest_flagged(project_id, USER_EDIT)
    return [edited] if edited is not None else []


def autoscale_dropped(project: Project, current: ClusterConfig, config: ClusterConfig) -> str:
    """What a recommendation of a fixed size says when the cluster autoscales today, "" otherwise.

    Candidates keep autoscaling only with the ``keep_autoscaling`` setting (off by default), so the
    first recommendation for an autoscaling cluster replaces it with a fixed size: a change its
    owner must see, with the setting that keeps it."""
    if current.autoscale_max <= 0 or config.autoscale_max > 0:
        return ""
    return (f"autoscaling ({current.autoscale_min}-{current.autoscale_max} workers today) becomes a fixed "
            f"{config.num_workers} worker{'s' if config.num_workers != 1 else ''}, as the project does not keep "
            f"autoscaling (`trimtab project set {project.name} --keep-autoscaling on` keeps it)")


def _utc(ms: int) -> str:
    """A run's start as `trimtab run list` shows it."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def run_label(run: Run) -> str:
    """A run as a reason names it: its id and start, the columns `trimtab run list` shows."""
    return f"run {run.id} of {_utc(run.start_ms)}"


def _no_node_type(project: Project, policy: ClusterPolicy | None) -> str:
    """Why the cluster of ``project`` has no node type to plan on: its spec names neither a node type
    nor a pool, and its policy (if any) fills in a pool, or no node type."""
    spec = project.current_spec
    said = f"project {project.name}: the job cluster's spec names no node_type_id and no instance pool"
    if policy is None:
        return f"{said}, and names no cluster policy that fills one in: Trimtab cannot tell what it runs on"
    pool = policy.filled_pool(spec)
    if pool:
        return (f"{said}: its {policy.label} puts it on instance pool {pool}, and Trimtab sizes a pool-backed "
                "cluster only on a pool its spec names (name the pool in the job cluster's instance_pool_id, "
                "or detach the project)")
    rule = policy.rules.get("node_type_id")
    if rule is not None and rule.has_default and spec.get("apply_policy_default_values") is not True:
        return (f"{said}, and its {policy.label} fills its default node type in only for a spec that asks for "
                "defaults (apply_policy_default_values: true): name the node type, or ask for the defaults")
    return f"{said}, and its {policy.label} fills none in: name the node type in the job cluster's spec"


def _check_pools(project: Project, pools: dict[str, dict[str, Any]] | None) -> None:
    """Refuse to plan a pool-backed cluster whose pools are not known (FailedPrecondition)."""
    pooled = pool_fields(project.current_spec)
    if not pooled:
        return
    worker, driver = pool_ids(project.current_spec)
    if not worker:
        # Databricks refuses a driver pool without a worker pool: the spec cannot be run as it is.
        raise FailedPrecondition(
            f"project {project.name}: the cluster names a driver instance pool (driver_instance_pool_id) "
            "without a worker pool (instance_pool_id), which Databricks refuses; it is not sized")
    missing = [p for p in dict.fromkeys((worker, driver)) if p not in (pools or {})]
    if missing:
        raise FailedPrecondition(
            f"project {project.name}: the cluster draws its nodes from instance pool(s) "
            f"{', '.join(missing)}, which were not read (the pool's node type is the cluster's)")


def _policy_reason(reason: str, policy: ClusterPolicy, pairs: Iterable[tuple[Candidate, ClusterConfig]],
                   current: ClusterConfig, spec: dict[str, Any], *, azure: bool, space: list[ClusterConfig],
                   current_refused: dict[str, str] | None = None, spot_allowed: bool = True) -> str:
    """The recommendation's reason with the policy's part: the rules that kept configurations of the
    project's ``space`` (its candidates before the policy) out, by name ("caps dbus_per_hour at 12"),
    and whether the current one is all that is left; or, when the policy refuses the live
    configuration (``current_refused``, `ClusterPolicy.refusals` of the live spec), that the plan
    moves inside it and why."""
    if current_refused:
        return (f"{reason}; the {policy.label} now refuses the current configuration "
                f"({'; '.join(current_refused.values())}), so its runs would fail at start; moving inside it")
    rules = policy.narrowing(space, spec, azure=azure)
    named = f" ({'; '.join(rules)})" if rules else ""
    if _only_current(pairs, current, policy, spec, azure=azure):
        spot_only = _spot_only(policy, spot_allowed, azure=azure)
        return (f"{reason}; the {policy.label} allows no other configuration within the project's bounds{named}, "
                f"so the current one is kept{': ' + spot_only if spot_only else ''}")
    return f"{reason}; kept inside the {policy.label}: it {', '.join(rules)}" if rules else reason


# How Databricks words a job cluster its policy refuses when the run creates it.
VALIDATION_FAILED = "Cluster validation error"


def policy_refused(message: str) -> bool:
    """Whether Databricks' message (a run's, or a refused ``jobs/update``'s) is its refusal of a
    cluster spec under the spec's cluster policy."""
    return VALIDATION_FAILED.lower() in message.lower()


def _refused_at_start(runs: list[Run], current: ClusterConfig) -> str:
    """Databricks' message when the project's latest run failed its policy's validation at start on
    the configuration the job runs on; "" otherwise (then that configuration stays a candidate)."""
    last = runs[-1] if runs else None
    if last is None or last.outcome != "failed" or VALIDATION_FAILED not in last.message or last.config is None:
        return ""
    return last.message if config_id_of(last.config) == config_id_of(current) else ""


def _unpriced(name: str, workspace: Workspace, catalog: PriceCatalog) -> str:
    """Why nothing could be priced when the workspace's region is one the catalog lacks, else "".

    Then no configuration is allowed whatever the bounds or policy: saying so sends the owner to
    the workspace's region (a typo, or a catalog that has dropped it since), not to the bounds."""
    cloud, region = workspace.cloud, workspace.pricing_region
    known = catalog.regions(cloud)
    if region in known:
        return ""
    return (f"project {name}: nothing could be priced: unknown region {region!r} on {cloud} (catalog "
            f"{catalog.version} has {', '.join(known) or 'none'}); set one: trimtab workspace set "
            f"{workspace.name} --region R, or add it: trimtab prices update --cloud {cloud} --region {region}, then restart the server")


def _spot_only(policy: ClusterPolicy, spot_allowed: bool, *, azure: bool) -> str:
    """Why a policy leaves a project without spot no configuration, when its availability rule does:
    it refuses on demand; "" otherwise."""
    availability = f"{'azure' if azure else 'aws'}_attributes.availability"
    if spot_allowed or policy.allows_value(availability, "ON_DEMAND_AZURE" if azure else "ON_DEMAND"):
        return ""
    return (f"its {availability} rule allows spot only, and the project does not allow spot "
            "(trimtab project set --spot on)")


def _no_room(name: str, policy: ClusterPolicy | None, current_refused: dict[str, str],
             space: list[ClusterConfig], spec: dict[str, Any], *, azure: bool, spot_allowed: bool = True) -> str:
    """Why no configuration can be planned (every candidate is observed only), and what to change.

    What to change comes before the rules, in few words: a kept problem is cut at
    `PROBLEM_MESSAGE_CHARS`."""
    fix = ("change the policy, widen the bounds (trimtab project set --min-workers/--max-workers/"
           "--allowed-families) or detach the project")
    if policy is None:  # only a policy marks candidates not allowed; a clear message all the same
        return f"project {name}: no configuration within its bounds can be run; {fix}"
    refused = ", which now refuses the current one" if current_refused else ""
    if spot_only := _spot_only(policy, spot_allowed, azure=azure):
        fix = f"{spot_only}; or {fix}"
    out = f"project {name}: no configuration within its bounds is inside the {policy.label}{refused}; {fix}"
    if current_refused:
        out += (f". The current configuration's runs would fail at start: "
                f"{'; '.join(current_refused.values())}")
    rules = policy.narrowing(space, spec, azure=azure)
    return out + (f". The policy {'; '.join(rules)}" if rules else "")


def _only_current(pairs: Iterable[tuple[Candidate, ClusterConfig]], current: ClusterConfig, policy: ClusterPolicy,
                  spec: dict[str, Any], *, azure: bool) -> bool:
    """Whether every candidate the policy allows is the current configuration (or there is none)."""
    return all(same_hardware(cfg, current) or not policy.allows_config(cfg, spec, azure=azure) for _, cfg in pairs)


def _recommendation(project: Project, config, decision: Decision, change_run_id: int | None) -> Recommendation:
    def finite(x: float) -> float:
        return float(x) if x == x and abs(x) != float("inf") else 0.0

    return Recommendation(
        project_id=int(project.id or 0), config=config,
        predicted_runtime_s=finite(decision.predicted_runtime_s),
        runtime_interval_s=(finite(decision.runtime_interval_s[0]), finite(decision.runtime_interval_s[1])),
        predicted_cost=finite(decision.predicted_cost),
        cost_interval=(finite(decision.cost_interval[0]), finite(decision.cost_interval[1])),
        p_meet_sla=decision.p_meet_sla, reason=decision.reason, phase=decision.phase, state="pending",
        change_run_id=change_run_id, change_kind=decision.change_kind if change_run_id is not None else None,
        working_sla_s=decision.working_sla_s,
    )


class Planner(RetriedApplies):
    """The collector's callback: plan the run's project, then auto-apply when it is on.

    Each project starts from the prior of what similar jobs did (`server.plan.prior`), unless a
    fixed ``prior`` is given (tests and tools that want one). A failure is kept on the project
    (`PlanProblem`, stamped by ``clock``) and cleared by the next success."""

    def __init__(self, store: Store, catalog: PriceCatalog, gateway_for: GatewayFor, *,
                 prior: Prior | None = None, clock: Clock | None = None) -> None:
        self._store = store
        self._catalog = catalog
        self._gateway_for = gateway_for
        self._prior = prior
        self._priors = ProjectPriors(store, catalog)
        self._clock: Clock = clock or SystemClock()
        # (kind, workspace, id) -> (fetched at, monotonic s; the answer): cluster policies and
        # instance pools, each kept POLICY_TTL_S.
        self._fetched: dict[tuple[str, str, str], tuple[float, dict[str, Any]]] = {}

    def __call__(self, run: Run) -> None:
        with log_context(project_id=run.project_id, run_id=run.databricks_run_id):
            try:
                self.after_run(run)
            except Exception:  # the collector must keep collecting whatever one project does
                log.exception("planning or auto-apply after run %s of project %s failed", run.id, run.project_id)

    def after_run(self, run: Run) -> Recommendation | None:
        """Plan, then auto-apply; a failure is recorded on the project (a plan failure is re-raised).

        A run Databricks refused under the cluster policy at start is planned on the policy read
        again, however young the planner's copy: the refusal is Databricks' word that the policy
        changed since it was read, and a plan on the old copy would move the job to a configuration
        the policy now refuses too (auto-apply refused, the next run refused again)."""
        if run.outcome == "failed" and policy_refused(run.message):
            self._forget_policy(self._store.projects.get(run.project_id))
        return self._plan_and_apply(run, retry_refused=True)

    def _plan_and_apply(self, run: Run, *, retry_refused: bool) -> Recommendation | None:
        """`after_run`'s plan and auto-apply. ``retry_refused``: an apply Databricks refuses under the
        cluster policy is planned and applied once more, on the policy read again."""
        from server import apply  # imports databricks-sdk; only needed once a run arrives

        try:
            prior = self._prior or self._priors.for_project(run.project_id)
            project = self._store.projects.get(run.project_id)
            policy = self._policy_of(project)
            pools = self._pools_of(project)
            rec = plan_project(self._store, run.project_id, self._catalog, prior=prior, policy=policy,
                               pools=pools or None)
            project = self._store.projects.get(run.project_id)
        except Exception as err:
            self._record(run, "plan", err)
            raise
        if rec is None or not project.settings.auto_apply or \
                already_on_job(project, rec.config, cloud=apply.project_cloud(self._store, project)) or \
                edit_hold(project, edited_runs(self._store, run.project_id)):
            # Planned, and nothing to apply (not planned at all, auto-apply off or paused by the
            # user's own edit of the cluster, or the job already runs the recommendation):
            # whatever failed before no longer holds it back.
            self._clear(run, project, ("plan", "apply"))
            return rec
        try:
            workspace = self._store.workspaces.get(project.workspace)
            result = apply.apply_recommendation(self._store, self._gateway_for(workspace), run.project_id)
        except FailedPrecondition as err:
            # Normal (an apply waiting for its run, a user edit adopted): not a problem, and it
            # says nothing about an earlier failed apply, which stays until an apply succeeds.
            log.info("project %s: not applied now: %s", project.name, err)
            self._clear(run, project, ("plan",))
            return rec
        except TrimtabError as err:
            if retry_refused and policy_refused(str(err)):
                # jobs/update judges the spec on the policy as it stands; the plan used a copy read
                # up to POLICY_TTL_S before, which an admin may have tightened since.
                log.info("project %s: Databricks refused the apply under the cluster policy; planning "
                         "again on the policy read again: %s", project.name, err)
                self._forget_policy(project)
                return self._plan_and_apply(run, retry_refused=False)
            log.warning("project %s: auto-apply failed: %s", project.name, err)
            self._apply_failed(project, int(run.id or 0), err, rec, after_run_id=run.databricks_run_id)
            return rec
        except Exception as err:
            self._record(run, "apply", err)
            raise
        self._clear(run, project, ("plan", "apply"))
        return result.recommendation

    def replan(self, project_id: int) -> Recommendation | None:
        """Plan the project again now, after its settings changed (`trimtab project set`).

        The pending recommendation was planned under the old settings: shown until the next run,
        it would still say it "meets the 480s SLA" after the SLA became 300 s, or stay outside
        new bounds. With auto-apply on, the new one is applied at once (`_apply_replanned`): left
        for the next run's `after_run`, the next run itself ran on the cluster applied under the old
        settings, a spot or family the owner had just banned among them. A project with runs and no
        recommendation yet (its history backfilled: a backfill stores runs without planning) is
        planned too; one with no run yet stays unplanned. Never raises: a failure is kept on the project as its plan (or apply)
        problem, as after a run, and a success clears one."""
        from server.apply import project_lock  # see after_run

        # The collector plans under this lock after a run: a settings change at that moment must
        # not plan beside it (two pending recommendations).
        try:
            with project_lock(project_id, self._store), log_context(project_id=project_id):
                return self._apply_replanned(project_id, self._replan(project_id), retry_refused=True)
        except Exception as err:  # the lock (another server held it too long) or reading the project
            # The settings are saved already: the caller must not hear that they failed.
            log.warning("project %s: not planned again after its settings changed (%s); the next run plans "
                        "under them", project_id, err)
            return None

    def _replan(self, project_id: int) -> Recommendation | None:
        project = self._store.projects.get(project_id)
        if project.detached or project.orphaned:
            return None
        if self._store.recommendations.latest(project_id) is None and not self._store.runs.list(project_id, limit=1):
            return None  # nothing to plan from: the first run's plan is the first
        try:
            prior = self._prior or self._priors.for_project(project_id)
            pools = self._pools_of(project)
            rec = plan_project(self._store, project_id, self._catalog, prior=prior, policy=self._policy_of(project),
                               pools=pools or None)
        except Exception as err:
            log.warning("project %s: planning after its settings changed failed: %s", project.name, err)
            newest = self._store.runs.list(project_id, limit=1)  # what "planning after run N" names
            self._record_problem(project_id, int(newest[0].id or 0) if newest else 0, "plan", err)
            return None
        self._clear_problem(project_id, self._store.projects.get(project_id), ("plan",))
        return rec

    def _apply_replanned(self, project_id: int, rec: Recommendation | None, *,
                         retry_refused: bool) -> Recommendation | None:
        """With auto-apply on, put the recommendation planned under new settings on the job now,
        over an apply no run has used yet (planned under the old settings: it has nothing left to
        teach, and the owner's change is what the next run should run under). Under the project lock.
        ``retry_refused``: as `_plan_and_apply`'s, an apply refused under the cluster policy is
        planned and applied once more on the policy read again."""
        from server import apply  # see after_run

        project = self._store.projects.get(project_id)
        if rec is None or rec.state != "pending" or not project.settings.auto_apply or project.detached \
                or project.orphaned:
            return rec
        if already_on_job(project, rec.config, cloud=apply.project_cloud(self._store, project)) or \
                edit_hold(project, edited_runs(self._store, project_id)):
            return rec
        newest = self._store.runs.list(project_id, limit=1)
        try:
            workspace = self._store.workspaces.get(project.workspace)
            result = apply.apply_recommendation(self._store, self._gateway_for(workspace), project_id,
                                                catalog=self._catalog, over_unconfirmed=True)
        except FailedPrecondition as err:  # normal (a user edit adopted): the next run's plan applies
            log.info("project %s: not applied after its settings changed: %s", project.name, err)
            return rec
        except TrimtabError as err:
            if retry_refused and policy_refused(str(err)):
                log.info("project %s: Databricks refused the apply under the cluster policy; planning "
                         "again on the policy read again: %s", project.name, err)
                self._forget_policy(project)
                return self._apply_replanned(project_id, self._replan(project_id), retry_refused=False)
            log.warning("project %s: auto-apply after its settings changed failed: %s", project.name, err)
            self._apply_failed(project, int(newest[0].id or 0) if newest else 0, err, rec,
                               after_run_id=int(project.last_seen_run_id or 0), over_unconfirmed=True)
            return rec
        self._clear_problem(project_id, self._store.projects.get(project_id), ("apply",))
        return result.recommendation

    def _policy_of(self, project: Project) -> dict[str, Any] | None:
        """The cluster policy the project's current spec names, fetched at most every POLICY_TTL_S
        per workspace and policy; None without one. A failed fetch raises (a planning failure):
        planning without the policy could recommend what Databricks refuses."""
        policy_id = str((project.current_spec or {}).get("policy_id") or "")
        if not policy_id or project.detached or project.orphaned:
            return None
        return self._fetch("policy", project.workspace, policy_id,
                           lambda gateway: gateway.get_cluster_policy(policy_id))

    def _forget_policy(self, project: Project) -> None:
        """Drop the planner's copy of the policy the project's spec names (for every project on it),
        so the next plan reads it again from the workspace."""
        policy_id = str((project.current_spec or {}).get("policy_id") or "")
        if policy_id:
            self._fetched.pop(("policy", project.workspace, policy_id), None)

    def _pools_of(self, project: Project) -> dict[str, dict[str, Any]]:
        """The instance pools the project's current spec names, by id, each fetched at most every
        POLICY_TTL_S per workspace and pool (a pool's node type never changes, its max_capacity
        may); empty off a pool. A failed fetch raises (a planning failure): without the pool the
        cluster's node type is unknown."""
        if project.detached or project.orphaned:
            return {}
        wanted = [p for p in dict.fromkeys(pool_ids(project.current_spec or {})) if p]
        return {pool_id: self._fetch("pool", project.workspace, pool_id,
                                     lambda gateway, pool_id=pool_id: gateway.get_instance_pool(pool_id))
                for pool_id in wanted}

    def _fetch(self, kind: str, workspace: str, object_id: str,
               call: Callable[[DatabricksGateway], dict[str, Any]]) -> dict[str, Any]:
        """One workspace object (a policy, a pool), asked again only after POLICY_TTL_S on the clock."""
        key = (kind, workspace, object_id)
        now = self._clock.monotonic()
        cached = self._fetched.get(key)
        if cached is None or now - cached[0] >= POLICY_TTL_S:
            cached = self._fetched[key] = (now, call(self._gateway_for(self._store.workspaces.get(workspace))))
        return cached[1]

    def _held(self, project: Project) -> str:
        """Why auto-apply may not write the project now, "" when it may (a failed apply's retry asks):
        paused by the owner's edit of the cluster (`edit_hold`)."""
        return edit_hold(project, edited_runs(self._store, int(project.id or 0)))

    def _record(self, run: Run, step: str, err: BaseException) -> None:
        self._record_problem(run.project_id, int(run.id or 0), step, err)

    def _record_problem(self, project_id: int, run_id: int, step: str, err: BaseException, *,
                        message: str | None = None, retry: ApplyRetry | None = None,
                        at_ms: int | None = None) -> None:
        """Keep the failure on the project (``message``: said so, else `problem_message`; ``at_ms``: when
        it failed, else now), with the auto-apply's next try or none (`server.plan.apply_retry`); never
        raises (the store may be what failed)."""
        problem = PlanProblem(step=step, run_id=run_id, at_ms=at_ms if at_ms is not None else self._clock.now_ms(),
                              message=message if message is not None else problem_message(err))

        def kept(state: dict[str, Any]) -> dict[str, Any]:
            out = {k: v for k, v in state.items() if k != APPLY_RETRY_KEY}
            return {**out, PROBLEM_KEY: problem.to_json(), **({APPLY_RETRY_KEY: retry.to_json()} if retry else {})}

        try:
            self._update_state(project_id, kept)
        except Exception as store_err:  # the caller's error is the one that matters; it is logged there
            log.warning("project %s: could not record the %s failure after run %s: %s",
                        project_id, step, run_id, store_err)

    def _clear(self, run: Run, project: Project, steps: tuple[str, ...]) -> None:
        self._clear_problem(run.project_id, project, steps)

    def _clear_problem(self, project_id: int, project: Project, steps: tuple[str, ...]) -> None:
        """Drop a kept problem of one of ``steps``; never raises (a success is not worth a failure).

        ``project`` as read after planning: only this planner writes a problem, so one it does
        not show is not there, and the common case costs no lock and no write."""
        if PROBLEM_KEY not in project.state:
            return

        def cleared(state: dict[str, Any]) -> dict[str, Any] | None:
            problem = PlanProblem.from_json(state.get(PROBLEM_KEY))
            if PROBLEM_KEY not in state or (problem is not None and problem.step not in steps):
                return None
            # An auto-apply's pending retry goes with its problem (`server.plan.apply_retry`).
            return {k: v for k, v in state.items() if k not in (PROBLEM_KEY, APPLY_RETRY_KEY)}

        try:
            self._update_state(project_id, cleared)
        except Exception as store_err:  # the plan itself went through
            log.warning("project %s: could not clear its problem: %s", project_id, store_err)

    def _update_state(self, project_id: int,
                      change: Callable[[dict[str, Any]], dict[str, Any] | None]) -> None:
        """Read-modify-write of the project's state under its lock (rows are written whole, so an
        apply or the collector writing meanwhile would otherwise lose its change or ours).
        ``change`` returns the new state, or None for no write."""
        from server.apply import project_lock  # see after_run

        with project_lock(project_id, self._store):  # other servers on the database too
            project = self._store.projects.get(project_id)
            state = change(dict(project.state))
            if state is not None:
                self._store.projects.update(dataclasses.replace(project, state=state))

