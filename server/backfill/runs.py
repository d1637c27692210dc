"""Applications from backfilled logs → runs of the project.

Each application (or the applications of one Databricks run, when their logs
name the same ``spark.databricks.job.runId``) becomes one `Run`, built by the
collector's own `build_run`. Only applications of the project's own job
(``spark.databricks.job.id``) and of its own cluster key are taken: the key comes from the
Jobs API run (``runs/get``: the task whose ``cluster_instance`` is the application's cluster)
when the workspace answers for it, else from the ``trimtab:project-id`` tag the log's
``clusterAllTags`` carry; an application whose key is unknown or another project's is left out
and counted in the report.

With the run from ``runs/get`` (Databricks keeps runs about 60 days) the run's start, end, cluster
setup, outcome and spec are the run's own, exactly as the collector stores them. Without it
(no workspace connection, or a run Databricks no longer holds) only the log is left: runtime
from the application's start and end (the cluster's setup before it is not in the log, minutes
on a job cluster), outcome from its jobs, the spec from the project's spec as found at import
with what the log's ``clusterUsageTags`` say it really was. Such a run says so in its message
and is stored unpriced: its runtime covers the application only, so a price over it would be a
fraction of what the run cost (and, as a baseline, would make every later run look dearer). It is
marked ``execution_only`` (its setup is unknown, not zero): the tuner learns its runtime as the
execution it is, where a run without a setup figure is otherwise taken to have had the mean setup,
and the SLA figures judge it missed when its runtime alone is over the SLA, else unknown
(`server.timeline.met_sla`).
A run from ``runs/get`` is sized, judged (spot loss, a lost driver, a launch the cloud failed) and
priced from its cluster's events as the collector does it while the workspace still holds the
cluster; after that from its log's executors, and its cost note says so (`server.backfill.usage`).

A past run is credited to a recommendation only when its own cluster tags (from the run's spec,
or the log's ``clusterAllTags``) name one of this project's; its phase is that recommendation's,
else the phase of a project nothing was planned for yet (the run is as found).

An application whose log was cut short (an incomplete copy) makes no run; one whose log ends
cleanly without the application's end (the driver died) is a failed run (see `make_runs`).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from server.backfill.usage import ClusterLookup, Pricing, Usage, run_cost_why, usage_of
from server.collect.build import (
    GROWTH_WINDOW,
    AgentData,
    Expected,
    build_run,
    policy_fallback,
    with_agent_data,
)
from server.collect.collector import unpriced_note, with_unpriced_note
from server.collect.run_parse import ClusterRun, cluster_runs, task_key_of
from server.collect.usage import ClusterTimeline
from server.domain import Application, Project, Run
from server.errors import AlreadyExists, NotFound
from server.ids import MAX_DATABRICKS_ID, parse_id
from server.onboard import PROJECT_TAG, TRIMTAB_TAGS
from server.store import Store

TAGS = "spark.databricks.clusterUsageTags."
ALL_TAGS = TAGS + "clusterAllTags"
# A run made from the log alone: the cluster's setup before the application is not in it.
SETUP_UNKNOWN = "backfilled from the event log: setup time unknown"
SETUP_UNKNOWN_NOTE = ("runtime spans the Spark application only (the workspace's run was not available), "
                      "so the run is stored unpriced")
# Tags Databricks puts on every cluster (and a job's or a pool's); not the user's custom_tags.
DEFAULT_TAGS = frozenset({"Vendor", "Creator", "ClusterName", "ClusterId", "JobId", "RunName",
                          "DatabricksInstancePoolId", "DatabricksInstancePoolCreatorId",
                          "DatabricksInstanceGroupId"})
# Spark's words for a job stopped because its job group was cancelled (a notebook's cell cancelled,
# a timeout): the run did not fail for it.
_CANCELLED = "cancelled"

# runs/get for a Databricks run id; None when the workspace does not hold it (or cannot be asked).
RunLookup = Callable[[int], Mapping[str, Any] | None]


@dataclass
class RunsOutcome:
    created: list[Run] = dataclasses.field(default_factory=list)
    already_tied: int = 0  # applications some run already had
    tied_to_existing: int = 0  # applications added to a run stored before (same Databricks run)
    other_job: int = 0  # applications whose log names another job: not this project's
    unpriced: int = 0  # runs stored without a cost (no catalog, a node type it lacks, setup unknown)
    # applications left without a run: their log (or another application's of their Databricks run)
    # was cut short
    incomplete: list[str] = dataclasses.field(default_factory=list)
    no_job: list[str] = dataclasses.field(default_factory=list)  # the log names no job (all-purpose cluster)
    other_cluster: list[str] = dataclasses.field(default_factory=list)  # another cluster key's / project's
    unknown_cluster: list[str] = dataclasses.field(default_factory=list)  # cluster key could not be worked out
    setup_unknown: int = 0  # runs made from the log alone (no runs/get): setup time unknown


def databricks_run_id(app: Application) -> int:
    """The run id the log names, else a stable negative id (real run ids are positive)."""
    run_id = parse_id(app.databricks_run_id, MAX_DATABRICKS_ID)
    if run_id is not None:
        return run_id
    digest = hashlib.sha256(app.application_id.encode()).hexdigest()
    return -int(digest[:13], 16)


def log_tags(conf: Mapping[str, str]) -> dict[str, str] | None:
    """The cluster's tags as the log's ``clusterAllTags`` show them (a JSON list of ``{key, value}``);
    None when the log does not carry them (or they cannot be read)."""
    raw = conf.get(ALL_TAGS)
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    if isinstance(value, list):
        return {str(t["key"]): str(t.get("value", "")) for t in value if isinstance(t, dict) and "key" in t}
    return None


def spec_from_conf(conf: Mapping[str, str], base: Mapping[str, Any]) -> dict[str, Any]:
    """The spec a past run used as far as its log shows: ``base`` (the project's spec as found at
    import) with what the cluster's usage tags say it really was. Its custom tags are the log's
    (Databricks' default tags aside) when the log carries them, else ``base``'s own; a Trimtab tag
    the log does not show is never kept (today's recommendation tag would credit a past run to it)."""
    spec = copy.deepcopy(dict(base))
    for tag, key in (("clusterNodeType", "node_type_id"), ("driverNodeType", "driver_node_type_id"),
                     ("sparkVersion", "spark_version")):
        if conf.get(TAGS + tag):
            spec[key] = conf[TAGS + tag]
    lo, hi = conf.get(TAGS + "clusterMinWorkers", ""), conf.get(TAGS + "clusterMaxWorkers", "")
    workers = conf.get(TAGS + "clusterTargetWorkers") or conf.get(TAGS + "clusterWorkers") or ""
    if lo.isdigit() and hi.isdigit() and int(hi) > int(lo):
        spec.pop("num_workers", None)
        spec["autoscale"] = {"min_workers": int(lo), "max_workers": int(hi)}
    elif workers.isdigit():
        spec.pop("autoscale", None)
        spec["num_workers"] = int(workers)
    found = log_tags(conf)
    own = spec.get("custom_tags") if isinstance(spec.get("custom_tags"), Mapping) else {}
    tags = ({k: v for k, v in found.items() if k not in DEFAULT_TAGS} if found is not None
            else {k: v for k, v in own.items() if k not in TRIMTAB_TAGS})
    if tags:
        spec["custom_tags"] = tags
    else:
        spec.pop("custom_tags", None)
    return spec


@dataclass(frozen=True)
class _Placed:
    """Whose an application is: ``key`` its cluster key (None: unknown); ``piece`` the project's
    part of its Databricks run from ``runs/get`` (None: the run was not available)."""

    key: str | None
    piece: ClusterRun | None = None


def _place(app: Application, project: Project, runs_get: RunLookup | None) -> _Placed:
    """The cluster key an application ran on: the ``runs/get`` task whose cluster instance is the
    application's cluster, else the ``trimtab:project-id`` tag in the log."""
    run_id = parse_id(app.databricks_run_id, MAX_DATABRICKS_ID)
    detail = runs_get(run_id) if runs_get and run_id is not None else None
    if detail is not None and app.cluster_id:
        keys = {task_key_of(t) for t in detail.get("tasks") or []
                if str((t.get("cluster_instance") or {}).get("cluster_id") or "") == app.cluster_id}
        keys.discard(None)
        if project.cluster_key in keys:
            piece = next((p for p in cluster_runs(detail) if p.cluster_key == project.cluster_key), None)
            return _Placed(project.cluster_key, piece)
        if keys:
            return _Placed(sorted(k for k in keys if k)[0])
    owner = (log_tags(app.conf) or {}).get(PROJECT_TAG, "").strip()
    if owner:
        return _Placed(project.cluster_key if owner == str(project.id) else f"project {owner}")
    return _Placed(None)


def _cancelled(store: Store, app_id: str, stage_ids: Sequence[int]) -> bool:
    """A failed Spark job whose failed stages were all cancelled with its job group (Spark's
    "Job N cancelled part of cancelled job group ..."): stopped, not failed."""
    failed = [s for s in store.applications.stages(app_id) if s.stage_id in set(stage_ids) and s.failure_reason]
    return bool(failed) and all(_CANCELLED in s.failure_reason.lower() for s in failed)


def _outcome(store: Store, apps: Sequence[Application]) -> tuple[str, str]:
    """The outcome from the log alone, and the state message: a failed backfilled run's message is
    shown to users as the reason it failed, so it says what the event log shows rather than only where
    it came from. It avoids the words build.driver_died looks for: the log alone does not prove the
    driver died. An application without its end here has an intact log (`make_runs` leaves cut ones
    out). A Spark job cancelled with its job group is not a failure of the run (a cancelled cell)."""
    if not all(a.ended for a in apps):
        return "failed", f"{SETUP_UNKNOWN}; the event log ends without the application's end"
    failed = [(a.application_id, j) for a in apps for j in store.applications.jobs(a.application_id)
              if not j.succeeded]
    if all(_cancelled(store, app_id, j.stage_ids) for app_id, j in failed):
        return "succeeded", SETUP_UNKNOWN
    return "failed", f"{SETUP_UNKNOWN}; a Spark job failed"


def _log_piece(store: Store, project: Project, run_id: int, apps: Sequence[Application],
               agent: AgentData) -> ClusterRun:
    """The run as the log alone shows it (no ``runs/get``): the applications' span, no setup."""
    start = min(a.start_time_ms for a in apps)
    ends = [a.end_time_ms for a in apps if a.end_time_ms]
    ends += [s.completion_time_ms for s in agent.stages if s.completion_time_ms]
    first = apps[0]
    outcome, message = _outcome(store, apps)
    return ClusterRun(
        run_id=run_id, job_id=project.job_id, cluster_key=project.cluster_key, cluster_id=first.cluster_id,
        spark_context_id=first.spark_context_id, spec=spec_from_conf(first.conf, project.original_spec),
        task_keys=(), start_ms=start, end_ms=max(ends, default=start),
        outcome=outcome, state_message=message)


def _phase_and_recommendation(store: Store, project: Project, run: Run) -> tuple[str, int | None]:
    """A past run's phase: the one of the recommendation its cluster's tag credits it to (one of this
    project's), else a project's before anything is planned (as found), never today's."""
    from server.services.projects import unplanned_phase  # services import the store's users: late

    if run.recommendation_id is not None:
        try:
            rec = store.recommendations.get(run.recommendation_id)
        except NotFound:
            rec = None
        if rec is not None and rec.project_id == project.id:
            return rec.phase, run.recommendation_id
    return unplanned_phase(project.settings), None


def make_runs(store: Store, project: Project, application_ids: Sequence[str],
              pricing: Pricing | None = None, cut: Collection[str] = (),
              runs_get: RunLookup | None = None, clusters: ClusterLookup | None = None) -> RunsOutcome:
    """Store one run per Databricks run among ``application_ids`` not tied to a run yet, except
    those with an application in ``cut`` (whose log without the application's end was cut short).
    ``runs_get``: the workspace's ``runs/get`` (None: no workspace connection): it places each
    application on its cluster key and gives the run's own bounds, setup, outcome and spec.
    ``clusters``: the workspace's ``clusters/get`` and ``clusters/events`` for the cluster ``runs/get``
    names (None: not asked), which size and price the run as the collector does."""
    outcome = RunsOutcome()
    groups: dict[int, list[Application]] = {}
    pieces: dict[int, ClusterRun] = {}
    for app_id in dict.fromkeys(application_ids):
        if store.runs.for_application(app_id) is not None:
            outcome.already_tied += 1
            continue
        app = store.applications.get(app_id)
        if not app.job_id:
            # No job in the log: an all-purpose cluster's or a notebook's application, not a job run.
            outcome.no_job.append(app_id)
            continue
        if app.job_id != str(project.job_id):
            outcome.other_job += 1
            continue
        placed = _place(app, project, runs_get)
        if placed.key is None:
            outcome.unknown_cluster.append(app_id)
            continue
        if placed.key != project.cluster_key:
            outcome.other_cluster.append(app_id)
            continue
        run_id = databricks_run_id(app)
        groups.setdefault(run_id, []).append(app)
        if placed.piece is not None:
            pieces[run_id] = placed.piece
    project_id = int(project.id or 0)
    # A log without the application's end is one of two things. Cut short (its last segment ends
    # inside a line or frame: a copy that stopped, a file lost): it cannot tell how the run ended
    # or how long it took, so a run made from it would be a guessed "failed" with a wrong runtime.
    # Its events stay stored and no run is made now; its applications stay untied, so a later
    # backfill of the complete log makes the run. Ending cleanly: the driver died (OOM, JVM crash,
    # node lost) and no complete log will ever exist; leaving it out would hide exactly the
    # configurations that crash from the planner, so it is the failed run it was (see _outcome).
    # A Databricks run is left out whole when one of its applications was cut, so a run is never
    # shorter than it was or "succeeded" with a driver that died. (With runs/get the run's own
    # state is known, but its stages and input are still the log's, cut short.)
    cut_ids = set(cut)
    for run_id in [r for r, apps in groups.items()
                   if any(not a.ended and a.application_id in cut_ids for a in apps)]:
        outcome.incomplete.extend(a.application_id for a in groups.pop(run_id))
    # Oldest first, so each run's history (for data growth) holds the runs before it.
    for run_id, apps in sorted(groups.items(), key=lambda kv: min(a.start_time_ms for a in kv[1])):
        apps.sort(key=lambda a: (a.start_time_ms, a.application_id))
        agent = AgentData(tuple(apps),
                          tuple(s for a in apps for s in store.applications.stages(a.application_id)),
                          tuple(e for a in apps for e in store.applications.executors(a.application_id)))
        existing = store.runs.get_by_databricks_run(project_id, run_id)
        if existing is not None:
            _tie(store, existing, apps)
            outcome.tied_to_existing += len(apps)
            continue
        from_api = pieces.get(run_id)
        piece = from_api if from_api is not None and from_api.spec else _log_piece(store, project, run_id, apps,
                                                                                   agent)
        history = [r for r in store.runs.history(project_id) if r.start_ms < piece.start_ms][-GROWTH_WINDOW:]
        usage: Usage | None = None
        timeline = ClusterTimeline(piece.start_ms, piece.end_ms, (), 0, 0)
        if piece is from_api:
            # runs/get named the cluster: the workspace may still hold it and its events. Then the run is
            # judged on them (spot loss, a lost driver, a launch the cloud failed) as the collector judges
            # it; else on the log alone (an executors' timeline has no losses: they are the agent data's).
            record = clusters(piece.cluster_id) if clusters is not None and piece.cluster_id else None
            # A spec whose cluster policy fills the node types in names none: once the record that names
            # them is gone, the project's kept policy copy does, as for the collector (`policy_fallback`).
            usage = usage_of(piece, record, agent.executors, cloud=pricing.cloud if pricing is not None else "",
                             policy_values=policy_fallback(project, piece.spec, None))
            timeline = usage.timeline
        # No expected spec: a backfilled run is history, never a user edit to rebase on.
        run, _ = build_run(project, piece, cluster=usage.cluster if usage else None, timeline=timeline,
                           agent=agent, history=history, expected=Expected({}, None),
                           cloud=pricing.cloud if pricing is not None else "")
        phase, rec_id = _phase_and_recommendation(store, project, run)
        unpriced = ""  # why the run could not be priced, said in its message as the collector says it
        if usage is not None:
            cost, unpriced = run_cost_why(pricing, piece, run.input_bytes, usage)
        else:
            # The log's span leaves out the cluster's setup (minutes on a job cluster): priced over it,
            # the run would cost a fraction of what it did. Stored unpriced, so no savings figure
            # compares with it; its message says why.
            cost = None
            outcome.setup_unknown += 1
        message = run.message
        if unpriced and pricing is not None:
            message = with_unpriced_note(message, unpriced_note(pricing.catalog.version, unpriced))
        if piece is not from_api:
            message = _joined(run.message or SETUP_UNKNOWN, SETUP_UNKNOWN_NOTE)
            if pricing is not None:
                # The collector's re-pricing skips a run this catalog could not price; it would price
                # this one over the application's span again (when the cluster is gone).
                message = with_unpriced_note(message, unpriced_note(pricing.catalog.version, "setup time unknown"))
        # From the log alone the runtime is the execution (the application's span): setup_s stays
        # None (not known) and execution_only says no setup is in the runtime, so the tuner takes
        # none out of it (it would take the project's mean setup: minutes) and learns no setup from it.
        run = dataclasses.replace(run, cost=cost, phase=phase, recommendation_id=rec_id, message=message,
                                  setup_s=None if piece is not from_api else run.setup_s,
                                  execution_only=piece is not from_api)
        outcome.unpriced += int(run.cost is None)
        try:
            outcome.created.append(store.runs.add(run))
        except AlreadyExists:
            existing = store.runs.get_by_databricks_run(project_id, run_id)
            if existing is None:  # pragma: no cover - deleted between the two calls
                raise
            _tie(store, existing, apps)
            outcome.tied_to_existing += len(apps)
    return outcome


def _joined(first: str, second: str) -> str:
    return f"{first}; {second}" if first and second else first or second


def _tie(store: Store, existing: Run, apps: Sequence[Application]) -> Run:
    """Tie ``apps`` to a run stored before (the collector's, or an earlier backfill's), with what
    their data decides recomputed as the collector does for agent data that lands late."""
    ids = tuple(dict.fromkeys((*existing.application_ids, *(a.application_id for a in apps))))
    tied = []
    for app_id in ids:
        try:
            tied.append(store.applications.get(app_id))
        except NotFound:  # pruned: the run keeps what the others say
            continue
    agent = AgentData(tuple(tied), tuple(s for a in tied for s in store.applications.stages(a.application_id)),
                      tuple(e for a in tied for e in store.applications.executors(a.application_id)))
    history = list(reversed(store.runs.list(existing.project_id, limit=GROWTH_WINDOW,
                                            before_id=int(existing.id or 0))))
    return store.runs.update(with_agent_data(dataclasses.replace(existing, application_ids=ids), agent, history))
