"""Applications from backfilled logs → runs of the project.

Each application (or the applications of one Databricks run, when their logs
name the same ``spark.databricks.job.runId``) becomes one `Run`, built by the
collector's own `build_run` from a run piece made of what the log knows:
runtime from the application's start and end, outcome from its jobs, the
configuration from the Spark conf's ``clusterUsageTags`` over the project's
current spec, input bytes from its stages. There are no cluster events in a
log, so node-level anomalies come from the executors alone (spot loss), and
when a price catalog is given the run is priced as the collector prices one
without a bill: the configuration's nodes over the application's span (the
cluster's start-up before the application is not in the log, so this is a
slight under-estimate), an autoscaling cluster's workers following its
executors (`executor_events`).

An application whose log was cut short (an incomplete copy) makes no run; one whose log ends
cleanly without the application's end (the driver died) is a failed run (see `make_runs`).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from server.collect.build import GROWTH_WINDOW, AgentData, Expected, build_run
from server.collect.run_parse import ClusterRun
from server.collect.usage import ClusterTimeline, cluster_timeline, cluster_usage
from server.costing.billing import price_run
from server.costing.catalog import PriceCatalog
from server.costing.errors import TrimtabCostError
from server.domain import Application, CostBreakdown, Executor, Project, Run
from server.errors import AlreadyExists
from server.store import Store

TAGS = "spark.databricks.clusterUsageTags."
STATE_MESSAGE = "backfilled from event logs"


@dataclass
class RunsOutcome:
    created: list[Run] = dataclasses.field(default_factory=list)
    already_tied: int = 0  # applications some run already had
    tied_to_existing: int = 0  # applications added to a run stored before (same Databricks run)
    other_job: int = 0  # applications whose log names another job: not this project's
    unpriced: int = 0  # runs stored without a cost (no catalog, or a node type it lacks)
    # applications left without a run: their log (or another application's of their Databricks run)
    # was cut short
    incomplete: list[str] = dataclasses.field(default_factory=list)


@dataclass(frozen=True)
class Pricing:
    """How the project's workspace is billed (see `server.collect.collector`)."""

    catalog: PriceCatalog
    cloud: str
    region: str
    plan: str


def databricks_run_id(app: Application) -> int:
    """The run id the log names, else a stable negative id (real run ids are positive)."""
    if app.databricks_run_id.isdigit():
        return int(app.databricks_run_id)
    digest = hashlib.sha256(app.application_id.encode()).hexdigest()
    return -int(digest[:13], 16)


def spec_from_conf(conf: dict[str, str], base: dict[str, Any]) -> dict[str, Any]:
    """The project's spec with what the cluster's usage tags say it really was."""
    spec = copy.deepcopy(base)
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
    return spec


def _outcome(store: Store, apps: Sequence[Application]) -> tuple[str, str]:
    """The outcome, and the state message: a failed backfilled run's message is shown to users as
    the reason it failed, so it says what the event log shows rather than only where it came from.
    It avoids the words build.driver_died looks for: the log alone does not prove the driver died.
    An application without its end here has an intact log (`make_runs` leaves cut ones out)."""
    if not all(a.ended for a in apps):
        return "failed", f"{STATE_MESSAGE}: the event log ends without the application's end"
    jobs = [j for a in apps for j in store.applications.jobs(a.application_id)]
    if all(j.succeeded for j in jobs):
        return "succeeded", STATE_MESSAGE
    return "failed", f"{STATE_MESSAGE}: a Spark job failed"


def _piece(store: Store, project: Project, run_id: int, apps: Sequence[Application],
           agent: AgentData) -> ClusterRun:
    start = min(a.start_time_ms for a in apps)
    ends = [a.end_time_ms for a in apps if a.end_time_ms]
    ends += [s.completion_time_ms for s in agent.stages if s.completion_time_ms]
    first = apps[0]
    outcome, message = _outcome(store, apps)
    return ClusterRun(
        run_id=run_id, job_id=project.job_id, cluster_key=project.cluster_key, cluster_id=first.cluster_id,
        spark_context_id=first.spark_context_id, spec=spec_from_conf(first.conf, project.current_spec),
        task_keys=(), start_ms=start, end_ms=max(ends, default=start),
        outcome=outcome, state_message=message)


def executor_events(spec: dict[str, Any], executors: Sequence[Executor], start_ms: int,
                    end_ms: int) -> list[dict[str, Any]]:
    """Cluster events standing in for the ones a log lacks, for an autoscaling cluster: its worker
    count over ``start_ms..end_ms`` as the executors show it; none for a fixed-size one.

    Databricks runs one executor per worker node, so the workers up at a time are the distinct
    hosts with an executor then (the driver's own is not one), kept within the spec's
    ``min_workers..max_workers``: the first workers are up, and billed, before their executors
    register. A node's instance is up a little before its executor registers and after it is
    removed, so this still slightly under-counts an upsize.
    """
    autoscale = spec.get("autoscale") or {}
    if not autoscale or not executors:
        return []
    low = int(autoscale.get("min_workers") or 0)
    high = int(autoscale.get("max_workers") or low)
    workers = [e for e in executors if e.executor_id != "driver"]
    times = sorted({t for e in workers for t in (e.added_ms, e.removed_ms) if start_ms < t < end_ms})

    def count(at: int) -> int:
        hosts = {e.host or e.executor_id for e in workers
                 if e.added_ms <= at and not (e.removed_ms and e.removed_ms <= at)}
        return min(high, max(low, len(hosts)))

    events: list[dict[str, Any]] = [
        {"type": "CREATING", "timestamp": start_ms, "details": {}},
        {"type": "RUNNING", "timestamp": start_ms, "details": {"current_num_workers": count(start_ms)}}]
    current = count(start_ms)
    for at in times:
        now = count(at)
        if now != current:
            events.append({"type": "RESIZING", "timestamp": at,
                           "details": {"current_num_workers": current, "target_num_workers": now}})
            current = now
    events.append({"type": "TERMINATING", "timestamp": end_ms, "details": {}})
    return events


def _cost(pricing: Pricing | None, piece: ClusterRun, input_bytes: int | None,
          executors: Sequence[Executor] = ()) -> CostBreakdown | None:
    if pricing is None:
        return None
    # No cluster events in a log: an autoscaling cluster's size comes from its executors (was
    # min_workers for the whole run), a fixed one's from its spec.
    events = executor_events(piece.spec, executors, piece.start_ms, piece.end_ms)
    timeline = cluster_timeline(piece.spec, events, fallback_start_ms=piece.start_ms,
                                fallback_end_ms=piece.end_ms)
    usage = cluster_usage(timeline, piece.spec, cloud=pricing.cloud, region=pricing.region, plan=pricing.plan,
                          input_bytes=input_bytes)
    try:
        return price_run(usage, pricing.catalog, cluster_id=piece.cluster_id, start_ms=piece.start_ms,
                         end_ms=piece.end_ms, bill_source=None)
    except TrimtabCostError:  # e.g. a node type the catalog lacks: stored unpriced
        return None


def make_runs(store: Store, project: Project, application_ids: Sequence[str],
              pricing: Pricing | None = None, cut: Collection[str] = ()) -> RunsOutcome:
    """Store one run per Databricks run among ``application_ids`` not tied to a run yet, except
    those with an application in ``cut`` (whose log without the application's end was cut short)."""
    outcome = RunsOutcome()
    groups: dict[int, list[Application]] = {}
    for app_id in dict.fromkeys(application_ids):
        if store.runs.for_application(app_id) is not None:
            outcome.already_tied += 1
            continue
        app = store.applications.get(app_id)
        if app.job_id and app.job_id != str(project.job_id):
            outcome.other_job += 1
            continue
        groups.setdefault(databricks_run_id(app), []).append(app)
    project_id = int(project.id or 0)
    # A log without the application's end is one of two things. Cut short (its last segment ends
    # inside a line or frame: a copy that stopped, a file lost): it cannot tell how the run ended
    # or how long it took, so a run made from it would be a guessed "failed" with a wrong runtime.
    # Its events stay stored and no run is made now; its applications stay untied, so a later
    # backfill of the complete log makes the run. Ending cleanly: the driver died (OOM, JVM crash,
    # node lost) and no complete log will ever exist; leaving it out would hide exactly the
    # configurations that crash from the planner, so it is the failed run it was (see _outcome).
    # A Databricks run is left out whole when one of its applications was cut, so a run is never
    # shorter than it was or "succeeded" with a driver that died.
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
        piece = _piece(store, project, run_id, apps, agent)
        history = [r for r in store.runs.history(project_id) if r.start_ms < piece.start_ms][-GROWTH_WINDOW:]
        timeline = ClusterTimeline(piece.start_ms, piece.end_ms, (), 0, 0)
        # No expected spec: a backfilled run is history, never a user edit to rebase on.
        run, _ = build_run(project, piece, cluster=None, timeline=timeline, agent=agent, history=history,
                           expected=Expected({}, None))
        run = dataclasses.replace(run, cost=_cost(pricing, piece, run.input_bytes, agent.executors))
        outcome.unpriced += int(run.cost is None)
        try:
            outcome.created.append(store.runs.add(run))
        except AlreadyExists:
            existing = store.runs.get_by_databricks_run(project_id, run_id)
            if existing is None:  # pragma: no cover - deleted between the two calls
                raise
            ids = tuple(dict.fromkeys((*existing.application_ids, *run.application_ids)))
            store.runs.update(dataclasses.replace(existing, application_ids=ids))
            outcome.tied_to_existing += len(apps)
    return outcome
